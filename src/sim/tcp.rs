//! Serving the virtual modem over raw TCP, as ser2net's raw accepter would serve a real
//! one: `VirtualModem::listen_tcp("127.0.0.1:0")` and the host opens
//! `socket://127.0.0.1:PORT`.
//!
//! One host at a time, like a serial port: a new connection replaces the current one (the
//! old socket is shut down), so a host whose process died without closing can always come
//! back. While a TCP host is connected the modem's output goes to it instead of the pty;
//! commands from the pty are still executed. Each connection has its own AT parser.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::parser::HostInput;
use super::{lock, Shared};

/// How long one write to the TCP host may block before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TCP host currently connected, if any.
#[derive(Default)]
pub(crate) struct Remote {
    conn: Mutex<Option<(u64, TcpStream)>>,
}

impl Remote {
    /// Writes `data` to the TCP host: `None` when no TCP host is connected (the caller
    /// writes to the pty instead), `Some(false)` when the write failed (the connection is
    /// then dropped).
    pub(crate) fn write_all(&self, data: &[u8]) -> Option<bool> {
        let mut conn = lock(&self.conn);
        let (_, stream) = conn.as_mut()?;
        match stream.write_all(data) {
            Ok(()) => Some(true),
            Err(e) => {
                log::warn!("virtual modem: writing to the TCP host failed: {e}; dropping it");
                if let Some((_, s)) = conn.take() {
                    let _ = s.shutdown(Shutdown::Both);
                }
                Some(false)
            }
        }
    }

    fn replace(&self, id: u64, stream: TcpStream) {
        if let Some((_, old)) = lock(&self.conn).replace((id, stream)) {
            log::info!("virtual modem: a new TCP host replaces the previous one");
            let _ = old.shutdown(Shutdown::Both);
        }
    }

    /// Forgets connection `id` if it is still the current one.
    fn forget(&self, id: u64) {
        let mut conn = lock(&self.conn);
        if conn.as_ref().is_some_and(|(i, _)| *i == id) {
            *conn = None;
        }
    }

    fn shutdown(&self) {
        if let Some((_, s)) = lock(&self.conn).take() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A listening socket and its threads.
pub(crate) struct Listener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Listener {
    /// Binds `addr` ("127.0.0.1:0" picks a free port) and starts accepting.
    pub(crate) fn start(shared: &Arc<Shared>, addr: &str) -> io::Result<Listener> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let readers = Arc::new(Mutex::new(Vec::new()));
        let (s, st, rd) = (Arc::clone(shared), Arc::clone(&stop), Arc::clone(&readers));
        let accept = thread::Builder::new()
            .name(format!("vmodem-tcp-{}", local.port()))
            .spawn(move || accept_loop(listener, s, st, rd))?;
        Ok(Listener {
            addr: local,
            stop,
            accept: Some(accept),
            readers,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("socket://{}", self.addr)
    }

    /// Stops accepting, drops the connected host and joins the threads.
    pub(crate) fn stop(&mut self, shared: &Shared) {
        if self.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wake the blocking accept() with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        shared.remote.shutdown();
        let handles: Vec<_> = lock(&self.readers).drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) || shared.closed.load(Ordering::Acquire) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                log::warn!("virtual modem: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let setup = stream
            .set_nodelay(true)
            .and_then(|_| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
            .and_then(|_| stream.try_clone());
        let reader = match setup {
            Ok(r) => r,
            Err(e) => {
                log::warn!("virtual modem: cannot use the connection from {peer}: {e}");
                continue;
            }
        };
        log::debug!("virtual modem: TCP host {peer} connected");
        shared.remote.replace(id, stream);
        let s = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("vmodem-tcp-rx-{id}"))
            .spawn(move || reader_loop(s, reader, id));
        let mut handles = lock(&readers);
        handles.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                log::error!("virtual modem: cannot start a TCP reader: {e}");
                shared.remote.forget(id);
            }
        }
    }
}

fn reader_loop(shared: Arc<Shared>, mut stream: TcpStream, id: u64) {
    let mut input = HostInput::new(&shared);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::debug!("virtual modem: TCP host read failed: {e}");
                break;
            }
        };
        if shared.closed.load(Ordering::Acquire) {
            break;
        }
        input.feed(&shared, &buf[..n]);
    }
    log::debug!("virtual modem: TCP host disconnected");
    shared.remote.forget(id);
}

/// Whether a TCP socket listens on `port` where a connect to 127.0.0.1 would reach it
/// (127.0.0.1, any IPv4 address, or IPv6 `::` / `::1`), read from the kernel's socket
/// tables (`/proc/net/tcp`, `/proc/net/tcp6`) without connecting (a probe connection
/// would be seen by the server). `None` when the tables cannot be read.
pub(crate) fn loopback_listener(port: u16) -> Option<bool> {
    const LISTEN: &str = "0A";
    let want = format!(":{port:04X}");
    let v4_ok = ["0100007F", "00000000"];
    let v6_ok = [
        "00000000000000000000000000000000",
        "00000000000000000000000001000000",
    ];
    let mut readable = false;
    for (file, ok) in [
        ("/proc/net/tcp", &v4_ok[..]),
        ("/proc/net/tcp6", &v6_ok[..]),
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        readable = true;
        for line in text.lines().skip(1) {
            let mut f = line.split_whitespace();
            let (Some(_), Some(local), Some(_), Some(state)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            if state == LISTEN
                && local.ends_with(&want)
                && ok
                    .iter()
                    .any(|a| local.len() == a.len() + want.len() && local.starts_with(a))
            {
                return Some(true);
            }
        }
    }
    readable.then_some(false)
}

#[cfg(test)]
mod listener_tests {
    use super::loopback_listener;

    #[test]
    fn a_listening_port_is_seen_and_a_closed_one_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert_eq!(loopback_listener(port), Some(true));
        drop(l);
        assert_eq!(loopback_listener(port), Some(false));
        let any = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
        let port = any.local_addr().expect("addr").port();
        assert_eq!(loopback_listener(port), Some(true));
    }
}
