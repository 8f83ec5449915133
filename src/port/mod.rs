//! Byte transports, chosen by a URL-like string as pyserial's `serial_for_url` does:
//! a device path (`/dev/ttyUSB2`, a pty such as `/dev/pts/7`), `socket://host:port` (raw
//! TCP, e.g. ser2net), `rfc2217://host:port` (Telnet COM-port control, RFC 2217, e.g. ser2net
//! with a `telnet(rfc2217)` accepter) and `sim://<profile>` (a virtual modem started for the
//! caller). Network URLs take pyserial's options after `?`: see [`net`].
//! Every transport gives a reader half (for the engine's reader thread, with a short read
//! timeout so it can notice a close) and a writer half.

pub mod net;
pub mod rfc2217;
pub mod wake;

use std::any::Any;
use std::io::{self, Read, Write};
use std::time::Duration;

use crate::error::{Error, Result};
pub use net::NetOptions;

/// How long a read may block before the reader thread looks at its stop flag.
pub const READ_POLL: Duration = Duration::from_millis(100);

/// What a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortUrl {
    Serial(String),
    Socket {
        host: String,
        port: u16,
        options: NetOptions,
    },
    Rfc2217 {
        host: String,
        port: u16,
        options: NetOptions,
    },
    Sim {
        profile: String,
    },
}

/// An opened transport.
pub struct OpenedPort {
    pub reader: Box<dyn Read + Send>,
    pub writer: Box<dyn Write + Send>,
    /// What to show in reprs and errors.
    pub name: String,
    /// Kept alive as long as the port is open (e.g. the virtual modem behind `sim://`).
    pub guard: Option<Box<dyn Any + Send + Sync>>,
    /// Wakes a read blocked in `reader` (the engine calls it on close), for transports
    /// whose reader sleeps until data comes rather than polling every [`READ_POLL`].
    pub waker: Option<wake::Waker>,
}

fn host_port(rest: &str, url: &str) -> Result<(String, u16)> {
    let rest = rest.split('?').next().unwrap_or(rest);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(Error::invalid(format!(
            "port: {url:?} takes no path, only host:port and ?options"
        )));
    }
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| Error::invalid(format!("port: {url:?} needs host:port")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| Error::invalid(format!("port: {url:?} has an invalid TCP port {port:?}")))?;
    if host.is_empty() || port == 0 {
        return Err(Error::invalid(format!(
            "port: {url:?} needs a host and a port 1-65535"
        )));
    }
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

fn query(rest: &str) -> &str {
    rest.split_once('?').map(|(_, q)| q).unwrap_or("")
}

pub fn parse(url: &str) -> Result<PortUrl> {
    if url.is_empty() {
        return Err(Error::invalid("port: must not be empty"));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        match scheme.to_ascii_lowercase().as_str() {
            "socket" => {
                let (host, port) = host_port(rest, url)?;
                let options = NetOptions::parse(query(rest), false, url)?;
                Ok(PortUrl::Socket {
                    host,
                    port,
                    options,
                })
            }
            "rfc2217" => {
                let (host, port) = host_port(rest, url)?;
                let options = NetOptions::parse(query(rest), true, url)?;
                Ok(PortUrl::Rfc2217 {
                    host,
                    port,
                    options,
                })
            }
            "sim" => {
                if rest.is_empty() {
                    return Err(Error::invalid("port: sim:// needs a profile, e.g. sim://a7600"));
                }
                Ok(PortUrl::Sim { profile: rest.to_string() })
            }
            other => Err(Error::invalid(format!(
                "port: unknown scheme {other:?} in {url:?} (use a device path, socket://, rfc2217:// or sim://)"
            ))),
        }
    } else {
        Ok(PortUrl::Serial(url.to_string()))
    }
}

/// Opens `url` at `baudrate` (ignored by transports without a line speed).
pub fn open(url: &str, baudrate: u32) -> Result<OpenedPort> {
    if baudrate == 0 {
        return Err(Error::invalid("baudrate: must be positive"));
    }
    match parse(url)? {
        PortUrl::Serial(path) => open_serial(&path, baudrate),
        PortUrl::Socket {
            host,
            port,
            options,
        } => net::open_socket(&host, port, url, options),
        PortUrl::Rfc2217 {
            host,
            port,
            options,
        } => net::open_rfc2217(&host, port, url, baudrate, options),
        PortUrl::Sim { profile } => open_sim(&profile),
    }
}

fn open_serial(path: &str, baudrate: u32) -> Result<OpenedPort> {
    let port = serialport::new(path, baudrate)
        .timeout(READ_POLL)
        .open_native()
        .map_err(|e| Error::Port(format!("cannot open {path}: {}", open_error_text(&e))))?;
    let reader = port
        .try_clone_native()
        .map_err(|e| Error::Port(format!("cannot clone {path}: {e}")))?;
    // The reader sleeps in poll() until data or a wake-up: an idle port costs no CPU.
    let (reader, waker) = wake::wakeable(reader)
        .map_err(|e| Error::Port(format!("cannot set up the reader for {path}: {e}")))?;
    Ok(OpenedPort {
        reader: Box::new(reader),
        writer: Box::new(port),
        name: path.to_string(),
        guard: None,
        waker: Some(waker),
    })
}

/// The reason a serial port did not open, in words a user knows: the OS's ENOTTY text
/// ("Not a typewriter", "Inappropriate ioctl for device") means the path is no serial port.
fn open_error_text(e: &serialport::Error) -> String {
    let d = e.description.to_ascii_lowercase();
    if d.contains("typewriter") || d.contains("inappropriate ioctl") {
        "not a serial port".to_string()
    } else {
        e.to_string()
    }
}

fn open_sim(profile: &str) -> Result<OpenedPort> {
    if let Some(path) = profile.strip_prefix("replay:") {
        let rm = crate::sim::ReplayModem::start(std::path::Path::new(path))
            .map_err(|e| Error::Port(format!("sim://{profile}: {e}")))?;
        let mut opened = open_serial(rm.port(), 115_200)?;
        opened.name = format!("sim://{profile} ({})", rm.port());
        opened.guard = Some(Box::new(rm));
        return Ok(opened);
    }
    let vm = crate::sim::VirtualModem::start(crate::sim::SimConfig {
        profile: profile.to_string(),
        broker_url: None,
        part_size: None,
    })
    .map_err(|e| Error::Port(format!("sim://{profile}: {e}")))?;
    let mut opened = open_serial(vm.port(), 115_200)?;
    opened.name = format!("sim://{profile} ({})", vm.port());
    opened.guard = Some(Box::new(vm));
    Ok(opened)
}

/// Whether a read error only means "nothing yet".
pub fn is_idle_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse("/dev/ttyUSB2").unwrap(),
            PortUrl::Serial("/dev/ttyUSB2".into())
        );
        assert_eq!(
            parse("socket://127.0.0.1:7000").unwrap(),
            PortUrl::Socket {
                host: "127.0.0.1".into(),
                port: 7000,
                options: NetOptions::default()
            }
        );
        assert_eq!(
            parse("rfc2217://lab:2217?ign_set_control").unwrap(),
            PortUrl::Rfc2217 {
                host: "lab".into(),
                port: 2217,
                options: NetOptions {
                    ign_set_control: true,
                    ..NetOptions::default()
                }
            }
        );
        assert_eq!(
            parse("socket://[::1]:7000/?timeout=2").unwrap(),
            PortUrl::Socket {
                host: "::1".into(),
                port: 7000,
                options: NetOptions {
                    timeout: Duration::from_secs(2),
                    ..NetOptions::default()
                }
            }
        );
        assert!(parse("socket://h:1?ign_set_control").is_err());
        assert!(parse("rfc2217://h:1?bogus").is_err());
        assert!(parse("socket://h:1/path").is_err());
        assert_eq!(
            parse("sim://a7600").unwrap(),
            PortUrl::Sim {
                profile: "a7600".into()
            }
        );
        assert!(parse("socket://nohost").is_err());
        assert!(parse("socket://h:99999").is_err());
        assert!(parse("ftp://x:1").is_err());
        assert!(parse("").is_err());
        assert!(parse("sim://").is_err());
    }

    #[test]
    fn missing_device_is_a_port_error() {
        match open("/dev/does-not-exist-modemqtt", 115_200) {
            Err(Error::Port(msg)) => assert!(msg.contains("/dev/does-not-exist-modemqtt")),
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => panic!("opened a missing device"),
        }
    }
}
