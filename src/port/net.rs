//! Network transports: `socket://host:port` (raw TCP) and `rfc2217://host:port` (Telnet
//! COM-PORT-OPTION, driven by the sans-IO [`super::rfc2217::Client`]).
//!
//! A dropped link must be noticed, never waited on forever: a closed connection reads as
//! end of file (the engine then reports a port loss), TCP keepalive probes find a peer
//! host that vanished without closing, `TCP_USER_TIMEOUT` (Linux) fails a connection whose
//! sent data stays unacknowledged, and every write has a timeout.
//!
//! URL options (after `?`, joined by `&`, as pyserial spells them):
//! - `timeout=SECONDS`: how long connecting (and, for rfc2217, the option negotiation and
//!   the acknowledgement of the line settings) may take; default 5 s;
//! - `ign_set_control` (rfc2217 only): accepted for pyserial compatibility; this client
//!   never waits for SET-CONTROL acknowledgements anyway (ser2net on a pty sends none).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use socket2::{SockRef, TcpKeepalive};

use super::rfc2217::{Client, ComPort, LineSettings};
use super::{OpenedPort, READ_POLL};
use crate::error::{Error, Result};

/// Default for `?timeout=`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `?timeout=` accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one write may block (the peer not reading) before the port is declared lost.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keepalive: first probe after this much silence, then every `KEEPALIVE_INTERVAL`,
/// giving up after `KEEPALIVE_RETRIES` unanswered probes.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
#[cfg(any(target_os = "linux", target_os = "android"))]
const KEEPALIVE_RETRIES: u32 = 3;
/// Linux: unacknowledged data older than this fails the connection.
#[cfg(any(target_os = "linux", target_os = "android"))]
const USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Options read from a `socket://` or `rfc2217://` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetOptions {
    pub timeout: Duration,
    pub ign_set_control: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            timeout: DEFAULT_TIMEOUT,
            ign_set_control: false,
        }
    }
}

impl NetOptions {
    /// Parses the query part of `url` (without the `?`); `rfc2217` allows its own options.
    pub fn parse(query: &str, rfc2217: bool, url: &str) -> Result<NetOptions> {
        let mut opts = NetOptions::default();
        for item in query.split('&').filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            match (key, value) {
                ("timeout", Some(v)) => {
                    let secs: f64 = v.parse().map_err(|_| {
                        Error::invalid(format!(
                            "port: {url:?}: timeout={v:?} is not a number of seconds"
                        ))
                    })?;
                    if !secs.is_finite() || secs <= 0.0 || secs > MAX_TIMEOUT.as_secs_f64() {
                        return Err(Error::invalid(format!(
                            "port: {url:?}: timeout must be above 0 and at most {} s, got {v}",
                            MAX_TIMEOUT.as_secs()
                        )));
                    }
                    opts.timeout = Duration::from_secs_f64(secs);
                }
                ("ign_set_control", None) if rfc2217 => opts.ign_set_control = true,
                _ => {
                    let allowed = if rfc2217 {
                        "timeout=SECONDS, ign_set_control"
                    } else {
                        "timeout=SECONDS"
                    };
                    return Err(Error::invalid(format!(
                        "port: {url:?}: unknown option {item:?} (allowed: {allowed})"
                    )));
                }
            }
        }
        Ok(opts)
    }
}

fn connect(host: &str, port: u16, url: &str, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::Port(format!("{url}: cannot resolve {host}: {e}")))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                configure(&stream).map_err(|e| Error::Port(format!("{url}: {e}")))?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Port(format!(
        "cannot connect to {url}: {}",
        last.map(|e| e.to_string())
            .unwrap_or_else(|| "no address".into())
    )))
}

fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(READ_POLL))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let sock = SockRef::from(stream);
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let keepalive = keepalive.with_retries(KEEPALIVE_RETRIES);
    sock.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    sock.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    Ok(())
}

/// `socket://host:port`: the bytes go through untouched.
pub fn open_socket(host: &str, port: u16, url: &str, opts: NetOptions) -> Result<OpenedPort> {
    let stream = connect(host, port, url, opts.timeout)?;
    let reader = stream
        .try_clone()
        .map_err(|e| Error::Port(format!("{url}: {e}")))?;
    Ok(OpenedPort {
        waker: None,
        reader: Box::new(reader),
        writer: Box::new(stream),
        name: url.to_string(),
        guard: None,
    })
}

/// State shared by the reader and writer halves of an RFC 2217 connection.
struct Telnet {
    client: Mutex<Client>,
    /// Signalled when the server resumes the flow (FLOWCONTROL-RESUME) or the link fails.
    flow: Condvar,
    /// The socket's writing side; replies from the reader and data from the writer take
    /// turns here, each a whole unit.
    out: Mutex<TcpStream>,
    url: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Telnet {
    /// Sends what the client queued (negotiation answers, settings).
    fn flush_client(&self) -> io::Result<()> {
        let bytes = lock(&self.client).take_transmit();
        if bytes.is_empty() {
            return Ok(());
        }
        let mut out = lock(&self.out);
        out.write_all(&bytes)?;
        out.flush()
    }
}

/// The reading half: yields serial data only.
struct TelnetReader {
    stream: TcpStream,
    telnet: Arc<Telnet>,
    raw: Vec<u8>,
    /// Decoded data not yet handed to the caller.
    pending: Vec<u8>,
    pos: usize,
}

impl TelnetReader {
    /// Reads once from the socket and decodes; `Ok(false)` on end of file.
    fn fill(&mut self) -> io::Result<bool> {
        let n = self.stream.read(&mut self.raw)?;
        if n == 0 {
            return Ok(false);
        }
        if self.pos >= self.pending.len() {
            self.pending.clear();
            self.pos = 0;
        }
        let was_suspended;
        let now_suspended;
        {
            let mut client = lock(&self.telnet.client);
            was_suspended = client.is_suspended();
            client.handle_input(&self.raw[..n], &mut self.pending);
            now_suspended = client.is_suspended();
        }
        if was_suspended && !now_suspended {
            self.telnet.flow.notify_all();
        }
        self.telnet.flush_client()?;
        Ok(true)
    }
}

impl Read for TelnetReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A read that brought only Telnet commands must not look like end of file: read
        // again (each read still ends with the socket's read timeout when idle).
        while self.pos >= self.pending.len() {
            if !self.fill()? {
                self.telnet.flow.notify_all();
                return Ok(0);
            }
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The writing half: escapes data, holds it back while the server suspended the flow.
struct TelnetWriter {
    telnet: Arc<Telnet>,
    buf: Vec<u8>,
}

impl Write for TelnetWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.clear();
        {
            let deadline = Instant::now() + WRITE_TIMEOUT;
            let mut client = lock(&self.telnet.client);
            while client.is_suspended() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{}: the server suspended the data flow for more than {:?}",
                            self.telnet.url, WRITE_TIMEOUT
                        ),
                    ));
                }
                client = self
                    .telnet
                    .flow
                    .wait_timeout(client, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            // Answers the reader queued go first, in the same write.
            self.buf = client.take_transmit();
            client.encode_data(data, &mut self.buf);
        }
        let mut out = lock(&self.telnet.out);
        out.write_all(&self.buf)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        lock(&self.telnet.out).flush()
    }
}

/// `rfc2217://host:port`: negotiates COM-PORT-OPTION and the line settings before
/// returning, within `opts.timeout`.
pub fn open_rfc2217(
    host: &str,
    port: u16,
    url: &str,
    baudrate: u32,
    opts: NetOptions,
) -> Result<OpenedPort> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let stream = connect(host, port, url, opts.timeout)?;
    let port_err = |e: io::Error| Error::Port(format!("{url}: {e}"));
    let settings = LineSettings {
        baudrate,
        ..LineSettings::default()
    };
    let out = stream.try_clone().map_err(port_err)?;
    let telnet = Arc::new(Telnet {
        client: Mutex::new(Client::new(settings)),
        flow: Condvar::new(),
        out: Mutex::new(out),
        url: url.to_string(),
    });
    let mut reader = TelnetReader {
        stream,
        telnet: Arc::clone(&telnet),
        raw: vec![0u8; 16 * 1024],
        pending: Vec::new(),
        pos: 0,
    };
    telnet.flush_client().map_err(port_err)?;
    loop {
        {
            let client = lock(&telnet.client);
            match client.com_port() {
                ComPort::Refused => {
                    return Err(Error::Port(format!(
                        "{url}: the server refused the RFC 2217 COM-PORT option \
                         (for a raw TCP port use socket://{host}:{port})"
                    )))
                }
                ComPort::Active if client.line_settings_acknowledged() => break,
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            let client = lock(&telnet.client);
            let what = if client.com_port() == ComPort::Pending {
                "no answer to the RFC 2217 COM-PORT option request (is it a telnet/rfc2217 \
                 server? for a raw TCP port use socket://)"
                    .to_string()
            } else {
                let missing: Vec<&str> = client
                    .pending()
                    .iter()
                    .filter(|s| s.is_line_setting())
                    .map(|s| s.name())
                    .collect();
                format!("the server did not acknowledge {}", missing.join(", "))
            };
            return Err(Error::Port(format!(
                "{url}: {what} within {:.1} s (set ?timeout=SECONDS to wait longer)",
                opts.timeout.as_secs_f64()
            )));
        }
        match reader.fill() {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::Port(format!(
                    "{url}: the server closed the connection during RFC 2217 negotiation"
                )))
            }
            Err(e) if super::is_idle_error(&e) => {}
            Err(e) => return Err(port_err(e)),
        }
    }
    {
        let client = lock(&telnet.client);
        let server = client.server();
        if server.baudrate.is_some_and(|b| b != baudrate) {
            log::warn!(
                "{url}: asked for {baudrate} baud, the server set {:?}",
                server.baudrate
            );
        }
        if !client.pending().is_empty() {
            // Expected from ser2net on a pty (no DTR/RTS there); later answers are still
            // recorded when they come.
            log::debug!(
                "{url}: not acknowledged (yet): {:?}{}",
                client.pending(),
                if opts.ign_set_control {
                    " (ign_set_control)"
                } else {
                    ""
                }
            );
        }
        log::debug!(
            "{url}: RFC 2217 ready in {:?}: binary in {} out {}, server {:?}",
            started.elapsed(),
            client.binary_in(),
            client.binary_out(),
            server
        );
    }
    Ok(OpenedPort {
        waker: None,
        reader: Box::new(reader),
        writer: Box::new(TelnetWriter {
            telnet,
            buf: Vec::new(),
        }),
        name: url.to_string(),
        guard: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::rfc2217::{self as t, IAC};
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn options_parse() {
        let u = "rfc2217://h:1";
        assert_eq!(
            NetOptions::parse("", true, u).unwrap(),
            NetOptions::default()
        );
        let o = NetOptions::parse("ign_set_control&timeout=2.5", true, u).unwrap();
        assert!(o.ign_set_control);
        assert_eq!(o.timeout, Duration::from_millis(2500));
        assert!(NetOptions::parse("ign_set_control", false, u).is_err());
        assert!(NetOptions::parse("timeout=0", true, u).is_err());
        assert!(NetOptions::parse("timeout=abc", true, u).is_err());
        assert!(NetOptions::parse("timeout=1000", true, u).is_err());
        let e = NetOptions::parse("logging=debug", true, u).unwrap_err();
        assert!(e.to_string().contains("logging=debug"), "{e}");
    }

    /// A minimal RFC 2217 server: agrees to everything, acknowledges the line settings
    /// (not SET-CONTROL, like ser2net on a pty), then echoes data back escaped.
    fn serve_one(listener: TcpListener, ack_lines: bool) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the opening requests (15 bytes), answer them.
            while seen.len() < 15 {
                let n = s.read(&mut buf).unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            s.write_all(&[
                IAC,
                t::DO,
                t::OPT_COM_PORT,
                IAC,
                t::DO,
                t::OPT_BINARY,
                IAC,
                t::WILL,
                t::OPT_BINARY,
            ])
            .unwrap();
            if ack_lines {
                for (code, v) in [
                    (101u8, &115_200u32.to_be_bytes()[..]),
                    (102, &[8u8][..]),
                    (103, &[1u8][..]),
                    (104, &[1u8][..]),
                ] {
                    let mut m = vec![IAC, t::SB, t::OPT_COM_PORT, code];
                    m.extend_from_slice(v);
                    m.extend_from_slice(&[IAC, t::SE]);
                    s.write_all(&m).unwrap();
                }
            }
            // Echo the payload part of whatever comes next, until the client closes.
            let mut data = Vec::new();
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        data.extend_from_slice(&buf[..n]);
                        if data.ends_with(b"END") {
                            // Echo the bytes as received (still escaped) plus a notification.
                            let mut echo = vec![IAC, t::SB, t::OPT_COM_PORT, 107, 0x30, IAC, t::SE];
                            echo.extend_from_slice(&data);
                            s.write_all(&echo).unwrap();
                            break;
                        }
                    }
                }
            }
            data
        })
    }

    #[test]
    fn negotiates_and_passes_ff_both_ways() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_one(listener, true);
        let url = format!("rfc2217://127.0.0.1:{port}");
        let mut opened =
            open_rfc2217("127.0.0.1", port, &url, 115_200, NetOptions::default()).unwrap();
        let payload = [b'a', 0xFF, b'b', 0xFF, 0xFF, b'E', b'N', b'D'];
        opened.writer.write_all(&payload).unwrap();
        opened.writer.flush().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < payload.len() && Instant::now() < deadline {
            match opened.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if super::super::is_idle_error(&e) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, payload);
        let wire = server.join().unwrap();
        // The settings went first, then the escaped payload.
        assert!(wire.ends_with(&[b'a', IAC, IAC, b'b', IAC, IAC, IAC, IAC, b'E', b'N', b'D']));
        // After the server closed: end of file, not an idle read.
        let mut eof = false;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match opened.reader.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if super::super::is_idle_error(&e) => {}
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        assert!(eof, "a closed link must read as end of file");
    }

    #[test]
    fn missing_line_acks_fail_the_open_with_the_setting_named() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _server = serve_one(listener, false);
        let url = format!("rfc2217://127.0.0.1:{port}?timeout=0.5");
        let opts = NetOptions {
            timeout: Duration::from_millis(500),
            ign_set_control: false,
        };
        match open_rfc2217("127.0.0.1", port, &url, 115_200, opts) {
            Err(Error::Port(m)) => assert!(m.contains("SET-BAUDRATE"), "{m}"),
            Err(e) => panic!("unexpected {e:?}"),
            Ok(_) => panic!("opened without acknowledgements"),
        }
    }

    #[test]
    fn a_raw_server_is_not_taken_for_rfc2217() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            thread::sleep(Duration::from_millis(800));
            drop(s);
        });
        let url = format!("rfc2217://127.0.0.1:{port}");
        let opts = NetOptions {
            timeout: Duration::from_millis(300),
            ign_set_control: false,
        };
        match open_rfc2217("127.0.0.1", port, &url, 115_200, opts) {
            Err(Error::Port(m)) => assert!(m.contains("no answer"), "{m}"),
            Err(e) => panic!("unexpected {e:?}"),
            Ok(_) => panic!("opened a raw server as rfc2217"),
        }
        server.join().unwrap();
    }

    #[test]
    fn refused_com_port_is_a_port_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(&[IAC, t::DONT, t::OPT_COM_PORT]).unwrap();
            thread::sleep(Duration::from_millis(300));
        });
        let url = format!("rfc2217://127.0.0.1:{port}");
        match open_rfc2217("127.0.0.1", port, &url, 115_200, NetOptions::default()) {
            Err(Error::Port(m)) => assert!(m.contains("refused"), "{m}"),
            Err(e) => panic!("unexpected {e:?}"),
            Ok(_) => panic!("opened although refused"),
        }
        server.join().unwrap();
    }

    #[test]
    fn connection_refused_is_a_port_error() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("socket://127.0.0.1:{port}");
        assert!(matches!(
            open_socket("127.0.0.1", port, &url, NetOptions::default()),
            Err(Error::Port(_))
        ));
    }
}
