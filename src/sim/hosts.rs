//! Where the virtual modem's MQTT links go: the name resolution of a module, limited to the
//! names the user maps, so that a host name that would not resolve on a real network (a
//! typo, a broker of another lab) fails here too, with the family's DNS error.
//!
//! Resolution of the host a client asks for, in this order:
//!
//! 1. a name (or address) the user mapped (`SimConfig::hosts`): to the configured broker, or
//!    to the `host[:port]` given (without a port, the client's port);
//! 2. a loopback address or `localhost`: the machine's own loopback, at the client's port
//!    (where the embedded broker listens; a closed port gives the connect error);
//! 3. [`DEFAULT_NAME`]: the configured broker, whatever port the client asks for;
//! 4. any other literal IP address: unreachable (the family's connect error), no packet sent;
//! 5. any other name: it does not resolve (the family's DNS error).

use std::collections::HashMap;
use std::net::IpAddr;

/// The one host name that reaches the configured broker without a mapping.
pub const DEFAULT_NAME: &str = "broker.example.org";

/// Longest host name accepted in a mapping (RFC 1035's limit on a domain name).
const NAME_MAX: usize = 253;

/// Where a mapped name goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Broker,
    Addr(String, Option<u16>),
}

/// The user's host mapping (names compared without case).
#[derive(Debug, Clone, Default)]
pub(crate) struct Hosts {
    map: HashMap<String, Target>,
}

/// The outcome of resolving and routing one connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Open the connection to this host and port.
    Connect(String, u16),
    /// The name does not resolve: the family's DNS error.
    NoSuchName,
    /// An address this virtual network cannot reach: the family's connect error.
    Unreachable,
}

/// Whether `host` names this machine's loopback (`localhost`, 127.0.0.0/8, `::1`).
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("hosts: {what} is empty"));
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "hosts: {what} {name:?} is {} characters long; at most {NAME_MAX}",
            name.len()
        ));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '"' | ',' | '@'))
    {
        return Err(format!(
            "hosts: {what} {name:?} must be a bare host name or IP address \
             (no scheme, path, quotes, commas or spaces)"
        ));
    }
    Ok(())
}

/// Parses `host` or `host:port` (`[v6]:port` for an IPv6 address with a port).
fn parse_target(name: &str, value: &str) -> Result<Target, String> {
    let bad_port = |p: &str| {
        format!(
            "hosts: the target of {name:?} has port {p:?}; expected \"host\" or \"host:port\" \
             with a port from 1 to 65535"
        )
    };
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(bad_port(p)),
            },
            None => {
                return Err(format!(
                    "hosts: the target of {name:?} ({value:?}) lacks the closing \"]\""
                ))
            }
        }
    } else if value.matches(':').count() == 1 {
        let (h, p) = value.split_once(':').unwrap_or((value, ""));
        (h, Some(p))
    } else {
        (value, None)
    };
    check_name(host, &format!("the target of {name:?}"))?;
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad_port(p)),
        },
    };
    Ok(Target::Addr(host.to_owned(), port))
}

impl Hosts {
    /// Checks and takes the user's mapping: name → `None` (the configured broker) or
    /// `"host"` / `"host:port"`. Errors name the argument and the limit.
    pub(crate) fn new(entries: &[(String, Option<String>)]) -> Result<Hosts, String> {
        let mut map = HashMap::new();
        for (name, target) in entries {
            check_name(name, "name")?;
            if name.contains(':') && name.parse::<IpAddr>().is_err() {
                return Err(format!(
                    "hosts: name {name:?} must not carry a port; map the name alone \
                     (the port is the one the client asks for)"
                ));
            }
            let t = match target {
                None => Target::Broker,
                Some(v) => parse_target(name, v)?,
            };
            map.insert(name.to_ascii_lowercase(), t);
        }
        Ok(Hosts { map })
    }

    /// Where a connect to `host:port` goes; `broker` is the configured broker.
    pub(crate) fn route(&self, host: &str, port: u16, broker: (&str, u16)) -> Route {
        let key = host.to_ascii_lowercase();
        match self.map.get(&key) {
            Some(Target::Broker) => return Route::Connect(broker.0.to_owned(), broker.1),
            Some(Target::Addr(h, p)) => return Route::Connect(h.clone(), p.unwrap_or(port)),
            None => {}
        }
        if is_loopback(host) {
            return Route::Connect(host.to_owned(), port);
        }
        if key == DEFAULT_NAME {
            return Route::Connect(broker.0.to_owned(), broker.1);
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return Route::Unreachable;
        }
        Route::NoSuchName
    }
}

impl super::Shared {
    /// Where a client's connect to `host:port` goes (see the module docs).
    pub(crate) fn route(&self, host: &str, port: u16) -> Route {
        self.hosts
            .route(host, port, (&self.broker_host, self.broker_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: (&str, u16) = ("127.0.0.1", 40000);

    fn hosts(e: &[(&str, Option<&str>)]) -> Result<Hosts, String> {
        let v: Vec<(String, Option<String>)> = e
            .iter()
            .map(|(n, t)| (n.to_string(), t.map(str::to_owned)))
            .collect();
        Hosts::new(&v)
    }

    #[test]
    fn default_mapping() {
        let h = Hosts::default();
        let to = |h: &str, p: u16| Route::Connect(h.to_owned(), p);
        assert_eq!(h.route("localhost", 1883, B), to("localhost", 1883));
        assert_eq!(h.route("127.0.0.1", 1, B), to("127.0.0.1", 1));
        assert_eq!(
            h.route("Broker.Example.ORG", 8883, B),
            to("127.0.0.1", 40000)
        );
        assert_eq!(h.route("brokr.lan", 1883, B), Route::NoSuchName);
        assert_eq!(h.route("test.mosquitto.org", 1883, B), Route::NoSuchName);
        assert_eq!(h.route("192.168.43.128", 1883, B), Route::Unreachable);
        assert_eq!(h.route("::2", 1883, B), Route::Unreachable);
    }

    #[test]
    fn user_mapping() {
        let h = hosts(&[
            ("broker.lab", None),
            ("Other.Lab", Some("127.0.0.1:1")),
            ("keep.port", Some("localhost")),
            ("10.0.0.7", None),
        ])
        .expect("valid");
        let to = |h: &str, p: u16| Route::Connect(h.to_owned(), p);
        assert_eq!(h.route("BROKER.lab", 1883, B), to("127.0.0.1", 40000));
        assert_eq!(h.route("other.lab", 1883, B), to("127.0.0.1", 1));
        assert_eq!(h.route("keep.port", 8883, B), to("localhost", 8883));
        assert_eq!(h.route("10.0.0.7", 8883, B), to("127.0.0.1", 40000));
        assert_eq!(h.route("broker.lan", 1883, B), Route::NoSuchName);
    }

    #[test]
    fn bad_mappings_say_what_is_wrong() {
        let err = |e: &[(&str, Option<&str>)]| hosts(e).expect_err("invalid");
        assert!(err(&[("", None)]).contains("name is empty"));
        assert!(err(&[("tcp://x", None)]).contains("bare host name"));
        assert!(err(&[("x:1883", None)]).contains("must not carry a port"));
        assert!(err(&[("x", Some("h:0"))]).contains("1 to 65535"));
        assert!(err(&[("x", Some("h:http"))]).contains("1 to 65535"));
        assert!(err(&[("x", Some(""))]).contains("is empty"));
        assert!(err(&[(&"a".repeat(300), None)]).contains("at most 253"));
        assert!(hosts(&[("x", Some("[::1]:1883"))]).is_ok());
    }
}
