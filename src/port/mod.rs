//! Byte transports, chosen by a URL-like string as pyserial's `serial_for_url` does:
//! a device path (`/dev/ttyUSB2`, a pty such as `/dev/pts/7`), `socket://host:port` (raw
//! TCP, e.g. ser2net), `rfc2217://host:port` (Telnet COM-port control, RFC 2217, e.g. ser2net
//! with a `telnet(rfc2217)` accepter) and the schemes registered from above this layer with
//! [`register_scheme`] (`sim://<profile>`, a virtual modem started for the caller, is
//! registered by [`crate::init`]). Network URLs take pyserial's options after `?`: see [`net`].
//! Every transport gives a reader half (for the engine's reader thread, with a short read
//! timeout so it can notice a close) and a writer half.

pub mod net;
pub mod rfc2217;
pub mod wake;

use std::any::Any;
use std::io::{self, Read, Write};
use std::sync::{Mutex, PoisonError};
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
    /// A scheme registered with [`register_scheme`]; `rest` is what follows `scheme://`.
    Registered {
        scheme: String,
        rest: String,
    },
}

/// Opens a registered scheme's URL, given what follows `scheme://`.
pub type SchemeOpener = fn(rest: &str) -> Result<OpenedPort>;

struct Scheme {
    name: &'static str,
    example: &'static str,
    open: SchemeOpener,
}

/// URL schemes served from above the port layer (the virtual modem's `sim://`), so that the
/// transports depend on nothing they carry.
static SCHEMES: Mutex<Vec<Scheme>> = Mutex::new(Vec::new());

/// Makes `name://<rest>` open with `open`; `example` (such as `sim://a7600`) is shown when
/// a URL of the scheme has nothing after `://`. Registering a name again replaces it.
pub fn register_scheme(name: &'static str, example: &'static str, open: SchemeOpener) {
    let mut schemes = SCHEMES.lock().unwrap_or_else(PoisonError::into_inner);
    schemes.retain(|s| s.name != name);
    schemes.push(Scheme {
        name,
        example,
        open,
    });
}

fn registered(name: &str) -> Option<(&'static str, SchemeOpener)> {
    let schemes = SCHEMES.lock().unwrap_or_else(PoisonError::into_inner);
    schemes
        .iter()
        .find(|s| s.name == name)
        .map(|s| (s.example, s.open))
}

fn scheme_list() -> String {
    let schemes = SCHEMES.lock().unwrap_or_else(PoisonError::into_inner);
    let mut names = vec!["socket://".to_string(), "rfc2217://".to_string()];
    names.extend(schemes.iter().map(|s| format!("{}://", s.name)));
    let last = names.pop().unwrap_or_default();
    format!("{} or {last}", names.join(", "))
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
            other => match registered(other) {
                Some((example, _)) if rest.is_empty() => Err(Error::invalid(format!(
                    "port: {other}:// needs something after it, e.g. {example}"
                ))),
                Some(_) => Ok(PortUrl::Registered {
                    scheme: other.to_string(),
                    rest: rest.to_string(),
                }),
                None => Err(Error::invalid(format!(
                    "port: unknown scheme {other:?} in {url:?} (use a device path, {})",
                    scheme_list()
                ))),
            },
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
        PortUrl::Registered { scheme, rest } => match registered(&scheme) {
            Some((_, open)) => open(&rest),
            None => Err(Error::invalid(format!(
                "port: unknown scheme {scheme:?} in {url:?}"
            ))),
        },
    }
}

/// Opens a serial device or pty at `baudrate`.
pub fn open_serial(path: &str, baudrate: u32) -> Result<OpenedPort> {
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
        // Not registered yet: unknown, with the schemes that are.
        assert!(parse("demo://x").is_err());
        register_scheme("demo", "demo://x", |rest| {
            Err(Error::Port(format!("demo {rest}")))
        });
        assert_eq!(
            parse("demo://x").unwrap(),
            PortUrl::Registered {
                scheme: "demo".into(),
                rest: "x".into()
            }
        );
        assert!(matches!(open("demo://y", 9600), Err(Error::Port(m)) if m == "demo y"));
        assert!(parse("demo://").is_err());
        assert!(parse("socket://nohost").is_err());
        assert!(parse("socket://h:99999").is_err());
        assert!(parse("ftp://x:1").is_err());
        assert!(parse("").is_err());
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
