//! An MQTT broker (rumqttd) running inside the process, on 127.0.0.1.
//!
//! rumqttd is built from `third_party/rumqttd`: 0.20.0 with the fixes that make it follow
//! MQTT 3.1.1 where it did not (keep alive 0 admitted, delivered QoS the lower of published
//! and granted, one UNSUBACK per UNSUBSCRIBE, redelivery of only the unacknowledged messages
//! with DUP, refused filters; see its PATCHES.md). Eclipse
//! Paho's interoperability suite runs against it in tests/python/test_paho_interop.py.
//!
//! rumqttd's `Broker::start()` blocks forever and has no shutdown API, so each
//! broker runs on a thread of its own for the rest of the process. It does not
//! report the port it bound either: a free port is picked first, and the broker
//! is confirmed to be listening by connecting to it before `start` returns.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// How long `start` waits for the broker to accept TCP connections.
const START_DEADLINE: Duration = Duration::from_secs(5);

/// The topic filter whose subscription the broker refuses (SUBACK 0x80), so that tests can
/// see a subscription fail.
pub const REFUSED_FILTER: &str = "test/nosubscribe";

/// Largest MQTT packet the broker accepts (payload + topic + headers).
pub const MAX_PAYLOAD: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("no free TCP port on 127.0.0.1: {0}")]
    NoPort(std::io::Error),
    #[error("cannot spawn the broker thread: {0}")]
    Spawn(std::io::Error),
    #[error("the broker did not accept connections on 127.0.0.1:{0} within {1:?}")]
    NotListening(u16, Duration),
}

/// A broker on 127.0.0.1 that lives until the process exits.
#[derive(Debug)]
pub struct EmbeddedBroker {
    port: u16,
}

impl EmbeddedBroker {
    /// Starts a new broker on a free port; anyone may connect, with or
    /// without credentials.
    pub fn start() -> Result<EmbeddedBroker, BrokerError> {
        Self::start_inner(None)
    }

    /// Starts a new broker that only admits clients presenting one of the
    /// given user name / password pairs. A client with wrong or missing
    /// credentials has its connection closed without a CONNACK.
    pub fn start_with_auth(users: &[(&str, &str)]) -> Result<EmbeddedBroker, BrokerError> {
        let map = users
            .iter()
            .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
            .collect::<HashMap<_, _>>();
        Self::start_inner(Some(map))
    }

    /// One process-wide broker, started on first use.
    pub fn shared() -> Result<&'static EmbeddedBroker, BrokerError> {
        static SHARED: OnceLock<EmbeddedBroker> = OnceLock::new();
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        if let Some(b) = SHARED.get() {
            return Ok(b);
        }
        // Serialise the first start so that two racing callers do not each
        // start a broker (OnceLock::get_or_try_init is not stable).
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = SHARED.get() {
            return Ok(b);
        }
        let broker = Self::start()?;
        Ok(SHARED.get_or_init(|| broker))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn start_inner(auth: Option<HashMap<String, String>>) -> Result<EmbeddedBroker, BrokerError> {
        // A port the kernel just handed out is very unlikely to be taken again
        // before the broker binds it; if it is, the connect check fails and we
        // try another one.
        let mut last = None;
        for _ in 0..3 {
            let port = free_port().map_err(BrokerError::NoPort)?;
            let config = broker_config(port, auth.clone());
            thread::Builder::new()
                .name(format!("mqtt-broker-{port}"))
                .spawn(move || {
                    let mut broker = Broker::new(config);
                    if let Err(e) = broker.start() {
                        log::error!("embedded broker on port {port} stopped: {e}");
                    }
                })
                .map_err(BrokerError::Spawn)?;
            match wait_listening(port, START_DEADLINE) {
                Ok(()) => return Ok(EmbeddedBroker { port }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(BrokerError::NotListening(0, START_DEADLINE)))
    }
}

fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

fn wait_listening(port: u16, deadline: Duration) -> Result<(), BrokerError> {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let end = Instant::now() + deadline;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(BrokerError::NotListening(port, deadline));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn broker_config(port: u16, auth: Option<HashMap<String, String>>) -> Config {
    // rumqttd's defaults are all zeros: every limit is set here.
    let router = RouterConfig {
        max_connections: 10_000,
        max_outgoing_packet_count: 1024,
        max_segment_size: 64 * 1024 * 1024,
        max_segment_count: 10,
        // Paho's interoperability suite (and its reference broker) use this filter to see a
        // subscription refused: SUBACK return code 0x80, MQTT 3.1.1 section 3.9.3.
        refused_filters: vec![REFUSED_FILTER.to_owned()],
        ..RouterConfig::default()
    };
    let server = ServerSettings {
        name: format!("v4-{port}"),
        listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)),
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PAYLOAD,
            max_inflight_count: 500,
            auth,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let mut v4 = HashMap::new();
    v4.insert("v4".to_owned(), server);
    Config {
        id: 0,
        router,
        v4: Some(v4),
        ..Config::default()
    }
}
