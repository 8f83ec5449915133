//! The family-independent MQTT client: options and their validation, the inbound queue,
//! subscription bookkeeping, and the reconnect-and-resubscribe policy. A dialect provides a
//! [`Backend`] that turns operations into AT exchanges and reports URC-born events here.

mod client;
pub mod topic;

pub use client::{ClientShared, ClientStats, MqttClient};

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// `on_disconnect` causes of modemqtt's own (negative; a family's own codes are positive):
/// the port was lost (read error, closed transport).
pub const CAUSE_PORT_LOST: i32 = -1;
/// The modem printed `RDY`: it restarted, and every client on it is gone.
pub const CAUSE_RESTARTED: i32 = -2;
/// The client's PDP context was deactivated (Quectel `+QIURC: "pdpdeact",<cid>`).
pub const CAUSE_PDP_DEACTIVATED: i32 = -3;

/// A message received through the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    /// `None` where the modem does not report it (SIMCom CMQTT).
    pub qos: Option<u8>,
    pub retain: Option<bool>,
    pub client_index: u8,
    pub received_at: SystemTime,
}

impl Message {
    /// A message received now through client `client_index`, without QoS and retain flag
    /// (set them where the family's URC carries them).
    pub fn received(topic: String, payload: Vec<u8>, client_index: u8) -> Self {
        Message {
            topic,
            payload,
            qos: None,
            retain: None,
            client_index,
            received_at: SystemTime::now(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
}

/// TLS settings: certificate contents (PEM) are uploaded to the modem before connecting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub ca_cert: Option<Vec<u8>>,
    pub client_cert: Option<Vec<u8>>,
    pub client_key: Option<Vec<u8>>,
    pub verify_server: bool,
    pub ssl_version: u8,
    pub ignore_local_time: bool,
    pub negotiate_time: u32,
    /// The modem's SSL context index; `None` uses the client index.
    pub context: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub keepalive: u32,
    pub clean_session: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub will: Option<Will>,
    pub tls: Option<Tls>,
    pub timeout: Duration,
}

impl ConnectOptions {
    pub fn new(host: &str, port: u16) -> Self {
        ConnectOptions {
            host: host.to_string(),
            port,
            keepalive: 60,
            clean_session: true,
            username: None,
            password: None,
            will: None,
            tls: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Client behaviour chosen when the client is created.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    pub auto_reconnect: bool,
    pub reconnect_delay: (Duration, Duration),
    pub queue_size: usize,
    /// SIMCom `AT+CMQTTCFG="checkUTF8"`; `None` leaves the modem default.
    pub check_utf8: Option<bool>,
    /// SIMCom `AT+CMQTTCFG="optimeout"` in seconds; `None` leaves the modem default.
    pub op_timeout: Option<u32>,
    /// How long the modem waits for the broker's answer to a publish, in seconds.
    pub publish_timeout: u32,
    /// Settings of the Quectel QMT family (refused on other families when set).
    pub qmt: QmtOptions,
}

/// How a Quectel modem hands received messages over (`AT+QMTCFG="recv/mode"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveMode {
    /// Each message comes in a `+QMTRECV` URC as it arrives.
    Urc,
    /// The modem stores messages and the host reads them when its queue has room
    /// (backpressure: nothing is dropped while the consumer is slow).
    Buffer,
}

/// Alibaba-cloud credentials for `AT+QMTCFG="aliauth"` (the modem signs the login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliAuth {
    pub product_key: String,
    pub device_name: String,
    pub device_secret: String,
}

/// QMT-only client settings; `None` keeps modemqtt's default (see docs/qmt.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QmtOptions {
    /// Default: buffer mode.
    pub receive_mode: Option<ReceiveMode>,
    /// 3 = MQTT 3.1, 4 = MQTT 3.1.1 (default).
    pub mqtt_version: Option<u8>,
    /// PDP context 1-16 (default 1).
    pub pdp_context: Option<u8>,
    /// Packet timeout 1-60 s (default 5).
    pub packet_timeout: Option<u32>,
    /// Retransmissions 0-10 (default 3).
    pub retries: Option<u32>,
    /// Report a packet timeout (default off).
    pub timeout_notice: Option<bool>,
    pub aliauth: Option<AliAuth>,
}

impl QmtOptions {
    /// The name of the first option that is set, for "not supported on this family".
    pub fn first_set(&self) -> Option<&'static str> {
        [
            (self.receive_mode.is_some(), "receive_mode"),
            (self.mqtt_version.is_some(), "protocol"),
            (self.pdp_context.is_some(), "pdp_context"),
            (self.packet_timeout.is_some(), "packet_timeout"),
            (self.retries.is_some(), "retries"),
            (self.timeout_notice.is_some(), "timeout_notice"),
            (self.aliauth.is_some(), "aliauth"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// The ranges of the numeric client options, one table for the core's check and the Python
/// layer's conversion: (name, least, most, unit shown in errors).
pub const OPTION_RANGES: [(&str, i64, i64, &str); 5] = [
    // SIMCom seeds/003 §2.1.17: `AT+CMQTTCFG="optimeout",<index>,<20-120>`.
    ("op_timeout", 20, 120, " seconds"),
    // SIMCom seeds/003 §2.1.12: `+CMQTTPUB: (0-1),(0-2),(60-180),(0-1),(0-1)`.
    ("publish_timeout", 60, 180, " seconds"),
    // Quectel seeds/004 §3.2.1: `+QMTCFG: "pdpcid",(1-16)`.
    ("pdp_context", 1, 16, ""),
    // Quectel seeds/004 §3.2.1: `+QMTCFG: "timeout",(0-5),(1-60),(1-10),(0,1)`.
    ("packet_timeout", 1, 60, " seconds"),
    ("retries", 1, 10, ""),
];

/// Checks option `name` (a row of [`OPTION_RANGES`]) against its range.
pub fn check_option(name: &str, value: i64) -> Result<i64> {
    let Some(&(name, min, max, unit)) = OPTION_RANGES.iter().find(|r| r.0 == name) else {
        return Err(Error::invalid(format!("{name}: not a client option")));
    };
    if value < min || value > max {
        return Err(Error::invalid(format!(
            "{name}: {value} is out of range (must be {min} to {max}{unit})"
        )));
    }
    Ok(value)
}

impl ClientOptions {
    /// Checks every option against its range, whatever the family (a family that does not
    /// use an option still refuses a value no modem takes).
    pub fn check(&self) -> Result<()> {
        if self.queue_size == 0 {
            return Err(Error::invalid("queue_size: must be at least 1"));
        }
        let (first, max) = self.reconnect_delay;
        if first.is_zero() || max < first {
            return Err(Error::invalid("reconnect_delay: needs 0 < first <= max"));
        }
        let q = &self.qmt;
        for (name, value) in [
            ("op_timeout", self.op_timeout.map(i64::from)),
            ("publish_timeout", Some(i64::from(self.publish_timeout))),
            ("pdp_context", q.pdp_context.map(i64::from)),
            ("packet_timeout", q.packet_timeout.map(i64::from)),
            ("retries", q.retries.map(i64::from)),
        ] {
            if let Some(v) = value {
                check_option(name, v)?;
            }
        }
        if let Some(v) = q.mqtt_version {
            if !matches!(v, 3 | 4) {
                return Err(Error::invalid(format!(
                    "protocol: {v} is not supported (3 = MQTT 3.1, 4 = MQTT 3.1.1)"
                )));
            }
        }
        Ok(())
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            auto_reconnect: false,
            reconnect_delay: (Duration::from_secs(1), Duration::from_secs(30)),
            queue_size: 10_000,
            check_utf8: None,
            op_timeout: None,
            publish_timeout: 60,
            qmt: QmtOptions::default(),
        }
    }
}

/// What a modem family (and model) allows; limits are enforced before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub family: &'static str,
    pub profile: String,
    /// Valid client indexes are `0..clients`.
    pub clients: u8,
    pub client_id_len: (usize, usize),
    pub topic_max: usize,
    pub payload_max: usize,
    pub will_topic_max: usize,
    pub will_payload_max: usize,
    pub max_qos: u8,
    pub keepalive: (u32, u32),
    pub credential_max: usize,
    pub server_addr_len: (usize, usize),
    pub tls: bool,
    pub will: bool,
    pub will_retain: bool,
    pub retain: bool,
    pub empty_payload: bool,
}

impl Capabilities {
    /// A profile that has every MQTT feature (TLS, a will with retain, retain, QoS 2, empty
    /// payloads), one client, client ids of 1-128 bytes, credentials of 256, server addresses
    /// of 1-256, keep-alive 0-65535 s, and a will as large as a message. A family's table
    /// names only what its module does differently:
    /// `Capabilities { clients: 6, ..Capabilities::full(family, profile, 255, 4096) }`.
    pub fn full(
        family: &'static str,
        profile: &str,
        topic_max: usize,
        payload_max: usize,
    ) -> Capabilities {
        Capabilities {
            family,
            profile: profile.to_string(),
            clients: 1,
            client_id_len: (1, 128),
            topic_max,
            payload_max,
            will_topic_max: topic_max,
            will_payload_max: payload_max,
            max_qos: 2,
            keepalive: (0, 65535),
            credential_max: 256,
            server_addr_len: (1, 256),
            tls: true,
            will: true,
            will_retain: true,
            retain: true,
            empty_payload: true,
        }
    }
}

/// Events a client reports to whoever listens (the Python layer's dispatch thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A message was queued in the client's inbox.
    MessageQueued,
    /// The connection to the broker was lost; `cause` is the family's cause code.
    Disconnected { cause: i32, reason: String },
    /// Connected (again) to the broker; `reconnect` is true after an automatic reconnect.
    Connected { reconnect: bool },
    /// An automatic reconnect attempt failed; the next one follows after `retry_in`.
    ReconnectFailed { error: String, retry_in: Duration },
}

/// Who a backend is: what its modem can do, its client index and its client id.
pub struct BackendIdentity<'a> {
    pub caps: &'a Capabilities,
    pub index: u8,
    pub client_id: &'a str,
}

impl<'a> BackendIdentity<'a> {
    pub fn new(caps: &'a Capabilities, index: u8, client_id: &'a str) -> Self {
        Self {
            caps,
            index,
            client_id,
        }
    }
}

/// One message to publish, as [`Backend::publish`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
    pub timeout: Option<Duration>,
}

impl<'a> Publish<'a> {
    /// Topic, payload, QoS, retain flag and timeout.
    pub fn parts(self) -> (&'a str, &'a [u8], u8, bool, Option<Duration>) {
        (
            self.topic,
            self.payload,
            self.qos,
            self.retain,
            self.timeout,
        )
    }
}

/// One modem family's implementation of the client operations.
pub trait Backend: Send + Sync {
    /// Who the backend is; `capabilities`, `index` and `client_id` read it.
    fn identity(&self) -> BackendIdentity<'_>;
    fn capabilities(&self) -> &Capabilities {
        self.identity().caps
    }
    fn index(&self) -> u8 {
        self.identity().index
    }
    fn client_id(&self) -> &str {
        self.identity().client_id
    }
    fn connect(&self, opts: &ConnectOptions) -> Result<()>;
    fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.send_publish(Publish {
            topic,
            payload,
            qos,
            retain,
            timeout,
        })
    }
    /// What `publish` does on this family.
    fn send_publish(&self, msg: Publish<'_>) -> Result<()>;
    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()>;
    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()>;
    fn disconnect(&self, timeout: Option<Duration>) -> Result<()>;
    /// Where the firmware connects by itself when it takes no host from the caller (the
    /// Alibaba firmware: the platform's endpoint); `None` where `connect` needs a host.
    fn own_endpoint(&self) -> Option<String> {
        None
    }
    /// Releases the client on the modem (and the service when it was the last one).
    fn close(&self) -> Result<()>;
    /// Asks the modem whether the link is up, where the family can (`None`: it cannot,
    /// the client's own bookkeeping is the answer).
    fn query_connected(&self) -> Option<Result<bool>> {
        None
    }
}

pub(crate) fn check_len(what: &str, value: usize, (min, max): (usize, usize)) -> Result<()> {
    if value == 0 && min > 0 {
        return Err(Error::invalid(format!("{what}: must not be empty")));
    }
    if value < min {
        return Err(Error::invalid(format!(
            "{what}: {value} bytes is too short (at least {min} bytes)"
        )));
    }
    if value > max {
        return Err(Error::invalid(format!(
            "{what}: {value} bytes is too long (at most {max} bytes)"
        )));
    }
    Ok(())
}

/// The checks before opening client `index` with `client_id` on a modem of `caps`.
pub(crate) fn check_client(caps: &Capabilities, index: u8, client_id: &str) -> Result<()> {
    if index >= caps.clients {
        return Err(Error::invalid(format!(
            "index: {index} is out of range (must be 0 to {} on {})",
            caps.clients - 1,
            caps.profile
        )));
    }
    check_len("client_id", client_id.len(), caps.client_id_len)?;
    check_quotable("client_id", client_id)
}

pub(crate) fn check_qos(what: &str, qos: u8, caps: &Capabilities) -> Result<()> {
    if qos > caps.max_qos {
        return Err(Error::invalid(format!(
            "{what}: {qos} is not supported (at most {} on {})",
            caps.max_qos, caps.profile
        )));
    }
    Ok(())
}

/// Refuses characters that would break out of a quoted AT parameter.
///
/// `;` is refused too: it cannot end a quoted string, but it separates commands on an AT
/// command line (V.250 concatenation) and some firmware splits the line there without
/// honouring quotes, so `"a;+CFUN=0"` could run a command the user never meant. Values that
/// travel as raw bytes after a `>` prompt (CMQTT topics and payloads, QMT payloads) are not
/// checked here and may hold any byte. See docs/troubleshooting.md.
pub(crate) fn check_quotable(what: &str, value: &str) -> Result<()> {
    for (ch, name) in [
        ('"', "a double quote"),
        ('\r', "CR"),
        ('\n', "LF"),
        ('\u{1a}', "Ctrl-Z"),
        ('\u{1b}', "ESC"),
        ('\0', "NUL"),
        (
            ';',
            "';' (it separates AT commands; see docs/troubleshooting.md)",
        ),
    ] {
        if value.contains(ch) {
            return Err(Error::invalid(format!("{what}: must not contain {name}")));
        }
    }
    Ok(())
}

impl ConnectOptions {
    /// Validates the options against `caps`.
    pub fn validate(&self, caps: &Capabilities) -> Result<()> {
        if self.host.is_empty() {
            return Err(Error::invalid("host: must not be empty"));
        }
        check_quotable("host", &self.host)?;
        if self.host.contains(['/', ' ']) {
            return Err(Error::invalid(
                "host: must be a host name or address, without scheme or path",
            ));
        }
        if self.port == 0 {
            return Err(Error::invalid("port: must be 1 to 65535"));
        }
        let (kmin, kmax) = caps.keepalive;
        if self.keepalive < kmin || self.keepalive > kmax {
            return Err(Error::invalid(format!(
                "keepalive: {} s is out of range (must be {kmin} to {kmax} seconds on {})",
                self.keepalive, caps.profile
            )));
        }
        if let Some(u) = &self.username {
            check_len("username", u.len(), (1, caps.credential_max))?;
            check_quotable("username", u)?;
        }
        if let Some(p) = &self.password {
            if self.username.is_none() {
                return Err(Error::invalid("password: needs a username"));
            }
            check_len("password", p.len(), (1, caps.credential_max))?;
            check_quotable("password", p)?;
        }
        if let Some(w) = &self.will {
            if !caps.will {
                return Err(Error::invalid(format!(
                    "will: not supported on {}",
                    caps.profile
                )));
            }
            check_len("will topic", w.topic.len(), (1, caps.will_topic_max))?;
            check_len("will payload", w.payload.len(), (1, caps.will_payload_max))?;
            check_qos("will qos", w.qos, caps)?;
            if w.retain && !caps.will_retain {
                return Err(Error::invalid(format!(
                    "will retain: {} cannot set the retain flag of a will message",
                    caps.profile
                )));
            }
        }
        if let Some(tls) = &self.tls {
            if !caps.tls {
                return Err(Error::invalid(format!(
                    "tls: not supported on {}",
                    caps.profile
                )));
            }
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                return Err(Error::invalid(
                    "tls: client_cert and client_key go together",
                ));
            }
            if tls.verify_server && tls.ca_cert.is_none() {
                return Err(Error::invalid("tls: verify_server needs ca_cert"));
            }
        }
        if self.timeout.is_zero() {
            return Err(Error::invalid("timeout: must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_range_is_checked_with_plain_words() {
        for (name, min, max, unit) in OPTION_RANGES {
            assert_eq!(check_option(name, min).unwrap(), min);
            assert_eq!(check_option(name, max).unwrap(), max);
            for bad in [min - 1, max + 1] {
                let e = check_option(name, bad).unwrap_err().to_string();
                assert_eq!(
                    e,
                    format!("{name}: {bad} is out of range (must be {min} to {max}{unit})")
                );
            }
        }
        assert!(check_option("nonsense", 1).is_err());
    }

    #[test]
    fn client_options_check_covers_every_family_s_options() {
        assert!(ClientOptions::default().check().is_ok());
        type Spoil = fn(&mut ClientOptions);
        let cases: [(&str, Spoil); 7] = [
            ("queue_size", |o| o.queue_size = 0),
            ("reconnect_delay", |o| o.reconnect_delay.0 = Duration::ZERO),
            ("op_timeout", |o| o.op_timeout = Some(19)),
            ("publish_timeout", |o| o.publish_timeout = 181),
            ("pdp_context", |o| o.qmt.pdp_context = Some(17)),
            ("retries", |o| o.qmt.retries = Some(0)),
            ("protocol", |o| o.qmt.mqtt_version = Some(5)),
        ];
        for (name, spoil) in cases {
            let mut o = ClientOptions::default();
            spoil(&mut o);
            let e = o.check().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{name}: ")), "{e}");
        }
    }
}
