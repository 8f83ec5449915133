//! SIMCom Alibaba-cloud firmware (SIM7600 / SIM7000): `AT+CM*` MQTT to the Alibaba IoT
//! platform and `AT+CC*` CoAP.
//!
//! Manuals: "SIM7600系列_Alibaba_MQTT_COAP_应用文档" V2.00 (seeds/000, called revision 1
//! here) and the later SIM7000 revision (seeds/002, revision 2: adds `AT+CMAUTOYIELD` and
//! `AT+CMSTATUS?`, drops `MQTTVERSION`, widens the `TIMEOUT` range, reports CoAP results as
//! URCs after `OK`).
//!
//! The firmware holds the device triple (`AT+CMAUTH`) and signs its own connection; the
//! host never sees the platform's password. Nothing arrives unasked: acknowledgements and
//! messages come out of `AT+CMYIELD[=<ms>]`, which answers `OK` and then prints
//! `+CMYIELD: <status>[,<topic>,<payload>]` lines during the next `<ms>` milliseconds.
//!
//! Decisions where the manuals are silent:
//! * After `OK` the modem is taken to be busy for the yield window: the client keeps the
//!   command slot for that long ([`Engine::execute_raw_hold`]), so a user command is never
//!   sent into a yield and waits at most one poll.
//! * Acknowledgements carry no packet id: statuses 3-5 complete the oldest subscribe still
//!   waiting, 6-8 the oldest unsubscribe, 9-11 the oldest QoS 1 publish (QoS 0 publishes
//!   are complete at `OK`, as in the platform SDK).
//! * A received payload is printed raw between quotes: it is the text between the quote
//!   after the topic and the last quote of the line, so quotes and commas inside survive.
//! * Payloads travel inside a quoted parameter. `AT+CMPUB`'s message may not contain `"`
//!   (seeds/000 §3.4: "两边需带"... 中间不能带"") and no manual says how a backslash is read,
//!   so both are refused; `AT+CCSEND` sends `"` as `\"` (the example of seeds/000 §4.5 and
//!   seeds/002: `"{\"light \":\"open\"}"`) and refuses a backslash (no manual escapes
//!   one). CR, LF and Ctrl-Z cannot be sent and are refused, and so is a payload that is
//!   not UTF-8 text.
//! * The bearer: every manual example starts by bringing the wireless connection up
//!   (seeds/000 §5.1 `AT+CAUTONET=1`, effective after a restart; seeds/002 §3
//!   `AT+CNACT=1,"cmnet"` then `+APP PDP: ACTIVE`). On revision 2 the client asks
//!   `AT+CNACT?` before `AT+CMCONN` and sends `AT+CNACT=1` when it is down; on revision 1
//!   it cannot be brought up without a restart, and a refused `AT+CMCONN` says so (unless
//!   `AT+CMDISCONN` shows an earlier connection was in the way).
//! * The firmware reconnects by itself during a yield after a loss (manual 000, FAQ):
//!   status 1 reports the loss, status 2 the reconnect; the client does not reconnect.

mod spec;
pub use spec::{Clients, Spec};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use hmac::{Hmac, Mac};

use crate::at::session::{Command, Expect};
use crate::at::{build, Arg, ErrorCode, FinalResult, Frame};
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};
use crate::mqtt::{self, Backend, Capabilities, ClientShared, ConnectOptions, Message};

/// The two manual revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// seeds/000 (SIM7600 series V2.00): `MQTTVERSION`, `TIMEOUT` 500-5000 ms, payload 1024,
    /// CoAP results before `OK`.
    V1,
    /// seeds/002 (SIM7000 later revision): `AT+CMAUTOYIELD`, `AT+CMSTATUS?`, `TIMEOUT`
    /// 500-180000 ms, payload 512, CoAP results as URCs after `OK`.
    V2,
}

impl Revision {
    pub fn profile(self) -> &'static str {
        match self {
            Revision::V1 => "sim7600-aliyun",
            Revision::V2 => "sim7000-aliyun",
        }
    }

    pub fn from_profile(profile: &str) -> Option<Revision> {
        match profile {
            "sim7600-aliyun" => Some(Revision::V1),
            "sim7000-aliyun" => Some(Revision::V2),
            _ => None,
        }
    }

    /// `AT+CMPARA="TIMEOUT"` range in milliseconds.
    pub fn request_timeout_range(self) -> (u32, u32) {
        match self {
            Revision::V1 => (500, 5000),
            Revision::V2 => (500, 180_000),
        }
    }

    pub fn payload_max(self) -> usize {
        match self {
            Revision::V1 => 1024,
            Revision::V2 => 512,
        }
    }

    pub fn has_autoyield(self) -> bool {
        self == Revision::V2
    }
}

pub const PRODUCT_KEY_MAX: usize = 11;
pub const DEVICE_NAME_MAX: usize = 32;
pub const DEVICE_SECRET_MAX: usize = 64;
/// `AT+CMPUB` / `AT+CMSUB` / `AT+CMUNSUB` topic limit (manual 000).
pub const TOPIC_MAX: usize = 159;
/// `AT+CCSEND` topic and message limits (manual 000).
pub const COAP_TOPIC_MAX: usize = 64;
pub const COAP_PAYLOAD_MAX: usize = 1024;
/// `AT+CMYIELD=<timeout>` range in milliseconds.
pub const YIELD_RANGE: (u32, u32) = (10, 120_000);
/// `AT+CMAUTOYIELD=<timercnt>,<timeout>` ranges (seconds, milliseconds).
pub const AUTOYIELD_SECS: (u32, u32) = (1, 180);
pub const AUTOYIELD_TIMEOUT: (u32, u32) = (10, 60_000);

pub fn capabilities(rev: Revision) -> Capabilities {
    Capabilities {
        family: "aliyun",
        profile: rev.profile().to_string(),
        clients: 1,
        client_id_len: (1, 64),
        topic_max: TOPIC_MAX,
        payload_max: rev.payload_max(),
        will_topic_max: 0,
        will_payload_max: 0,
        max_qos: 1,
        // KEEPALIVE is 60000-180000 ms on both revisions.
        keepalive: (60, 180),
        credential_max: 0,
        server_addr_len: (1, 256),
        tls: false,
        will: false,
        will_retain: false,
        retain: false,
        empty_payload: false,
    }
}

/// `+CME ERROR: -27`: the command does not fit the connection state.
pub const CODE_STATE_ERROR: i32 = -27;

/// The `+CME ERROR` codes of `AT+CMPUB/CMSUB/CMUNSUB/CMYIELD/CMDISCONN` (manual 000).
pub fn cme_name(code: i32) -> String {
    match code {
        -1 => "FAIL_RETURN".into(),
        -2 => "NULL_VALUE_ERROR".into(),
        -14 => "MQTT_NETWORK_ERROR".into(),
        -21 => "MQTT_PUBLISH_PACKET_ERROR".into(),
        -27 => "MQTT_STATE_ERROR".into(),
        -41 => "MQTT_TOPIC_FORMAT_ERROR".into(),
        -42 => "MQTT_PUSH_TO_LIST_ERROR".into(),
        other => format!("unknown error {other}"),
    }
}

/// `+CMYIELD: <status>` meanings. The manual calls 5, 8 and 11 "未响应"; they are the platform
/// SDK's NACK events (the broker refused), so they are named so here.
pub fn yield_status_name(status: i32) -> &'static str {
    match status {
        0 => "unknown error",
        1 => "connection lost",
        2 => "reconnected",
        3 => "subscribed",
        4 => "subscribe timed out",
        5 => "subscribe refused (NACK)",
        6 => "unsubscribed",
        7 => "unsubscribe timed out",
        8 => "unsubscribe refused (NACK)",
        9 => "published",
        10 => "publish timed out",
        11 => "publish refused (NACK)",
        12 => "message received",
        13 => "wait-ack list is empty",
        _ => "unknown status",
    }
}

/// CoAP `<resp_code>` names.
pub fn coap_code_name(code: u8) -> &'static str {
    match code {
        0x45 => "Content",
        0x80 => "Bad Request",
        0x81 => "Unauthorized (token invalid or expired)",
        0x84 => "Not Found",
        0x8E => "Request URI Too Long",
        0xA0 => "Internal Server Error",
        _ => "unknown response code",
    }
}

/// CoAP `<errcode>` / `<statusno>` / `<err>` meanings: revision 2's 0-14 table, and
/// revision 1's IOTX codes (0 and negative).
pub fn coap_error_name(rev: Revision, code: i32) -> String {
    let v1 = match code {
        0 => Some("IOTX_SUCCESS"),
        -1 => Some("IOTX_ERR_INVALID_PARAM"),
        -2 => Some("IOTX_ERR_NO_MEM"),
        -3 => Some("IOTX_ERR_BUFF_TOO_SHORT"),
        -4 => Some("IOTX_ERR_AUTH_FAILED"),
        -5 => Some("IOTX_ERR_NOT_AUTHED"),
        -7 => Some("IOTX_ERR_MSG_TOO_LONG"),
        -8 => Some("IOTX_ERR_SEND_MSG_FAILED"),
        // The send error table of manual 000 lists "1 IOTX_ERR_INVALID_PARAM".
        1 if rev == Revision::V1 => Some("IOTX_ERR_INVALID_PARAM"),
        _ => None,
    };
    let v2 = match code {
        0 => Some("success"),
        1 => Some("unknown error"),
        2 => Some("timed out"),
        3 => Some("busy"),
        4 => Some("already initialised"),
        5 => Some("operation not supported"),
        6 => Some("not initialised"),
        7 => Some("initialisation failed"),
        8 => Some("invalid parameter"),
        9 => Some("out of memory"),
        10 => Some("stack too small"),
        11 => Some("authentication failed"),
        12 => Some("not authenticated"),
        13 => Some("URL too long"),
        14 => Some("message too long"),
        _ => None,
    };
    let name = match rev {
        Revision::V1 => v1.or(v2),
        Revision::V2 => v2.or(v1),
    };
    name.map(str::to_string)
        .unwrap_or_else(|| format!("unknown error {code}"))
}

/// Signature algorithms of the platform's MQTT signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMethod {
    HmacSha1,
    HmacSha256,
}

impl SignMethod {
    pub fn name(self) -> &'static str {
        match self {
            SignMethod::HmacSha1 => "hmacsha1",
            SignMethod::HmacSha256 => "hmacsha256",
        }
    }
}

/// The MQTT CONNECT fields the Alibaba IoT platform expects from a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSign {
    pub client_id: String,
    pub username: String,
    pub password: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs a connection by the platform's documented scheme: the parameters `clientId`,
/// `deviceName`, `productKey` and (when given) `timestamp`, sorted by name, are written as
/// name followed by value, and that text is signed with the device secret; the hex digest is
/// the password. The MQTT client id is `<clientId>|securemode=3,signmethod=<m>[,timestamp=<t>]|`
/// (securemode 3: plain TCP) and the user name `<deviceName>&<productKey>`. `client_id`
/// `None` uses `<productKey>.<deviceName>`, as the platform SDK does.
pub fn sign_mqtt(
    product_key: &str,
    device_name: &str,
    device_secret: &str,
    client_id: Option<&str>,
    timestamp: Option<&str>,
    method: SignMethod,
) -> MqttSign {
    let id = client_id
        .map(str::to_string)
        .unwrap_or_else(|| format!("{product_key}.{device_name}"));
    let mut content = format!("clientId{id}deviceName{device_name}productKey{product_key}");
    if let Some(ts) = timestamp {
        content.push_str("timestamp");
        content.push_str(ts);
    }
    let digest = match method {
        SignMethod::HmacSha1 => {
            // HMAC accepts keys of any length: new_from_slice cannot fail.
            match Hmac::<sha1::Sha1>::new_from_slice(device_secret.as_bytes()) {
                Ok(mut mac) => {
                    mac.update(content.as_bytes());
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        SignMethod::HmacSha256 => {
            match Hmac::<sha2::Sha256>::new_from_slice(device_secret.as_bytes()) {
                Ok(mut mac) => {
                    mac.update(content.as_bytes());
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
    };
    let mut ext = format!("securemode=3,signmethod={}", method.name());
    if let Some(ts) = timestamp {
        ext.push_str(",timestamp=");
        ext.push_str(ts);
    }
    MqttSign {
        client_id: format!("{id}|{ext}|"),
        username: format!("{device_name}&{product_key}"),
        password: hex(&digest),
    }
}

/// The platform's MQTT endpoint for a product in the default (Shanghai) region.
pub fn mqtt_endpoint(product_key: &str) -> String {
    format!("{product_key}.iot-as-mqtt.cn-shanghai.aliyuncs.com")
}

/// Checks a device triple against the manual's limits and quoting rules.
pub fn check_triple(product_key: &str, device_name: &str, device_secret: &str) -> Result<()> {
    for (what, v, max) in [
        ("product_key", product_key, PRODUCT_KEY_MAX),
        ("device_name", device_name, DEVICE_NAME_MAX),
        ("device_secret", device_secret, DEVICE_SECRET_MAX),
    ] {
        mqtt::check_len(what, v.len(), (1, max))?;
        mqtt::check_quotable(what, v)?;
        if v.contains(['\\', ',']) {
            return Err(Error::invalid(format!(
                "{what}: must not contain a backslash or a comma"
            )));
        }
    }
    Ok(())
}

/// A payload as the text of a quoted parameter: no backslash (no manual says how one is
/// read), and for `AT+CMPUB` (`quotes_allowed` false) no `"` either.
fn payload_param<'a>(what: &str, payload: &'a [u8], quotes_allowed: bool) -> Result<&'a str> {
    let text = payload_text(what, payload)?;
    if text.contains('\\') {
        return Err(Error::invalid(format!(
            "{what}: must not contain a backslash on Alibaba firmware (no manual says how one is sent)"
        )));
    }
    if !quotes_allowed && text.contains('"') {
        return Err(Error::invalid(format!(
            "{what}: must not contain '\"' in AT+CMPUB (seeds/000 §3.4: the message is quoted and may not hold a quote)"
        )));
    }
    Ok(text)
}

/// A payload as the text of an escaped quoted parameter.
fn payload_text<'a>(what: &str, payload: &'a [u8]) -> Result<&'a str> {
    let text = std::str::from_utf8(payload).map_err(|_| {
        Error::invalid(format!(
            "{what}: must be UTF-8 text on Alibaba firmware (it travels inside a quoted AT parameter)"
        ))
    })?;
    for (ch, name) in [
        ('\r', "CR"),
        ('\n', "LF"),
        ('\u{1a}', "Ctrl-Z"),
        ('\u{1b}', "ESC"),
        ('\0', "NUL"),
    ] {
        if text.contains(ch) {
            return Err(Error::invalid(format!(
                "{what}: must not contain {name} (it would end the AT command line)"
            )));
        }
    }
    // Inside the quoted parameter still: see mqtt::check_quotable.
    if text.contains(';') {
        return Err(Error::invalid(format!(
            "{what}: must not contain ';' on Alibaba firmware (it travels inside a quoted AT \
             parameter, and ';' separates AT commands; see docs/troubleshooting.md)"
        )));
    }
    Ok(text)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Splits a line's fields after `+NAME:`: `(first integer, rest after its comma)`.
fn status_and_rest(line: &[u8]) -> Option<(i32, &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let body = &line[colon + 1..];
    let (first, rest) = match body.iter().position(|&b| b == b',') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &body[body.len()..]),
    };
    let status = std::str::from_utf8(first).ok()?.trim().parse().ok()?;
    Some((status, rest))
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `"topic","payload"` -> (topic, payload); the payload runs to the line's last quote.
pub fn parse_message_fields(rest: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = trim_ascii(rest);
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let topic = String::from_utf8_lossy(&rest[..end]).into_owned();
    let after = trim_ascii(&rest[end + 1..]);
    let after = after.strip_prefix(b",")?;
    let after = trim_ascii(after);
    let payload = match after.strip_prefix(b"\"") {
        Some(p) => {
            let last = p.iter().rposition(|&b| b == b'"')?;
            p[..last].to_vec()
        }
        None => after.to_vec(),
    };
    Some((topic, payload))
}

/// Maps a non-OK final result of an `AT+CM*` command.
fn cm_error(operation: &str, command: &str, f: &FinalResult) -> Error {
    match f {
        FinalResult::CmeError(ErrorCode::Numeric(n)) => {
            let code = *n;
            Error::Mqtt {
                operation: operation.into(),
                code,
                name: cme_name(code),
            }
        }
        other => Error::from_final(command, other),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AckKind {
    Sub,
    Unsub,
    Pub,
}

impl AckKind {
    fn of(status: i32) -> Option<AckKind> {
        match status {
            3..=5 => Some(AckKind::Sub),
            6..=8 => Some(AckKind::Unsub),
            9..=11 => Some(AckKind::Pub),
            _ => None,
        }
    }
    fn success(self) -> i32 {
        match self {
            AckKind::Sub => 3,
            AckKind::Unsub => 6,
            AckKind::Pub => 9,
        }
    }
    fn slot(self) -> usize {
        match self {
            AckKind::Sub => 0,
            AckKind::Unsub => 1,
            AckKind::Pub => 2,
        }
    }

    fn operation(self) -> &'static str {
        match self {
            AckKind::Sub => "subscribe",
            AckKind::Unsub => "unsubscribe",
            AckKind::Pub => "publish",
        }
    }
}

struct Waiter {
    id: u64,
    kind: AckKind,
    tx: Sender<i32>,
}

/// Routes `+CMYIELD` reports (from polls, the user's own operations, or automatic yield).
struct Router {
    shared: Arc<ClientShared>,
    waiters: Mutex<VecDeque<Waiter>>,
    next_id: AtomicU64,
    /// Per kind (sub, unsub, pub): acknowledgements still owed to operations that gave up
    /// waiting. The firmware's acks carry no id and come in order, so the next ack of that
    /// kind is the late one: it is discarded instead of completing a later operation.
    late: Mutex<[u32; 3]>,
}

impl Router {
    fn on_line(&self, line: &[u8]) {
        let Some((status, rest)) = status_and_rest(line) else {
            log::warn!("aliyun: cannot parse {:?}", String::from_utf8_lossy(line));
            return;
        };
        if let Some(kind) = AckKind::of(status) {
            {
                let mut late = lock(&self.late);
                let owed = &mut late[kind.slot()];
                if *owed > 0 {
                    *owed -= 1;
                    log::debug!(
                        "aliyun: late {} ({status}) for an operation that timed out; discarded",
                        yield_status_name(status)
                    );
                    return;
                }
            }
            let waiter = {
                let mut w = lock(&self.waiters);
                let pos = w.iter().position(|x| x.kind == kind);
                pos.and_then(|p| w.remove(p))
            };
            match waiter {
                Some(w) => {
                    let _ = w.tx.send(status);
                }
                None => log::debug!(
                    "aliyun: {} ({status}) with no operation waiting",
                    yield_status_name(status)
                ),
            }
            return;
        }
        match status {
            12 => match parse_message_fields(rest) {
                Some((topic, payload)) => self.shared.deliver(Message {
                    topic,
                    payload,
                    qos: None,
                    retain: None,
                    client_index: 0,
                    received_at: SystemTime::now(),
                }),
                None => log::warn!(
                    "aliyun: message report without topic and payload: {:?}",
                    String::from_utf8_lossy(line)
                ),
            },
            1 => {
                // Nothing still owed survives the connection.
                *lock(&self.late) = [0; 3];
                self.shared.connection_lost(1, "connection lost")
            }
            2 => self.shared.reconnected(),
            13 => {
                log::debug!("aliyun: wait-ack list is empty");
                *lock(&self.late) = [0; 3];
            }
            other => log::warn!("aliyun: +CMYIELD: {other} ({})", yield_status_name(other)),
        }
    }

    fn register(&self, kind: AckKind) -> (u64, Receiver<i32>) {
        let (tx, rx) = bounded(1);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiters).push_back(Waiter { id, kind, tx });
        (id, rx)
    }

    fn forget(&self, id: u64) {
        lock(&self.waiters).retain(|w| w.id != id);
    }

    /// The operation `id` (of `kind`) stops waiting after its command went out: if its
    /// ack has not come yet, the next one of that kind will be its, late.
    fn abandon(&self, id: u64, kind: AckKind, rx: &Receiver<i32>) {
        let mut waiters = lock(&self.waiters);
        let before = waiters.len();
        waiters.retain(|w| w.id != id);
        let still_waiting = waiters.len() != before;
        drop(waiters);
        if still_waiting || rx.try_recv().is_err() {
            lock(&self.late)[kind.slot()] += 1;
        }
    }
}

/// How the client receives (chosen at creation).
#[derive(Debug, Clone, PartialEq)]
pub struct AliyunOptions {
    /// `AT+CMPARA="TIMEOUT"` in milliseconds; `None` leaves the modem default.
    pub request_timeout: Option<u32>,
    /// `AT+CMPARA="MQTTVERSION"` (3 = 3.1, 4 = 3.1.1), revision 1 only.
    pub mqtt_version: Option<u8>,
    /// Time between background `AT+CMYIELD` polls.
    pub poll_interval: Duration,
    /// `<timeout>` of each `AT+CMYIELD`, in milliseconds.
    pub yield_timeout: u32,
    /// Use `AT+CMAUTOYIELD` instead of polling: `None` = where the firmware has it.
    pub auto_yield: Option<bool>,
    /// `AT+CMAUTOYIELD=<timercnt>` in seconds.
    pub auto_yield_interval: u32,
}

impl Default for AliyunOptions {
    fn default() -> Self {
        AliyunOptions {
            request_timeout: None,
            mqtt_version: None,
            poll_interval: Duration::from_millis(500),
            yield_timeout: 100,
            auto_yield: None,
            auto_yield_interval: 1,
        }
    }
}

impl AliyunOptions {
    pub fn validate(&self, rev: Revision) -> Result<()> {
        if let Some(t) = self.request_timeout {
            let (lo, hi) = rev.request_timeout_range();
            if !(lo..=hi).contains(&t) {
                return Err(Error::invalid(format!(
                    "request_timeout: {t} ms is out of range (must be {lo} to {hi} on {})",
                    rev.profile()
                )));
            }
        }
        if let Some(v) = self.mqtt_version {
            if rev != Revision::V1 {
                return Err(Error::invalid(format!(
                    "mqtt_version: {} has no MQTTVERSION parameter",
                    rev.profile()
                )));
            }
            if !(3..=4).contains(&v) {
                return Err(Error::invalid(format!(
                    "mqtt_version: {v} is not 3 (3.1) or 4 (3.1.1)"
                )));
            }
        }
        if self.poll_interval < Duration::from_millis(10)
            || self.poll_interval > Duration::from_secs(3600)
        {
            return Err(Error::invalid(
                "poll_interval: must be 0.01 to 3600 seconds",
            ));
        }
        let (lo, hi) = if self.uses_autoyield(rev) {
            AUTOYIELD_TIMEOUT
        } else {
            YIELD_RANGE
        };
        if !(lo..=hi).contains(&self.yield_timeout) {
            return Err(Error::invalid(format!(
                "yield_timeout: {} ms is out of range (must be {lo} to {hi})",
                self.yield_timeout
            )));
        }
        if self.auto_yield == Some(true) && !rev.has_autoyield() {
            return Err(Error::invalid(format!(
                "auto_yield: {} has no AT+CMAUTOYIELD",
                rev.profile()
            )));
        }
        let (lo, hi) = AUTOYIELD_SECS;
        if !(lo..=hi).contains(&self.auto_yield_interval) {
            return Err(Error::invalid(format!(
                "auto_yield_interval: {} s is out of range (must be {lo} to {hi})",
                self.auto_yield_interval
            )));
        }
        Ok(())
    }

    fn uses_autoyield(&self, rev: Revision) -> bool {
        self.auto_yield.unwrap_or(rev.has_autoyield()) && rev.has_autoyield()
    }
}

const CMD: Duration = Duration::from_secs(10);
/// Waiting for an acknowledgement when the caller gave no timeout.
const ACK_WAIT: Duration = Duration::from_secs(30);

struct Poller {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

/// The `AT+CM*` client (one per modem).
pub struct AliyunMqtt {
    engine: Engine,
    rev: Revision,
    caps: Capabilities,
    product_key: String,
    device_name: String,
    device_secret: String,
    client_id: String,
    options: AliyunOptions,
    router: Arc<Router>,
    handler_ids: Vec<u64>,
    poller: Mutex<Option<Poller>>,
    autoyield_on: AtomicBool,
    closed: AtomicBool,
}

/// Probes which revision the firmware is: only revision 2 answers `AT+CMAUTOYIELD=?`.
pub fn detect_revision(engine: &Engine, timeout: Duration) -> Result<Revision> {
    let cmd = Command::new(build("AT+CMAUTOYIELD=?", &[])?, timeout);
    let r = engine.execute_raw(cmd)?;
    Ok(if r.final_result.is_ok() {
        Revision::V2
    } else {
        Revision::V1
    })
}

impl AliyunMqtt {
    /// Checks the arguments and registers the URC handler; nothing is sent.
    pub fn open(
        engine: Engine,
        rev: Revision,
        product_key: &str,
        device_name: &str,
        device_secret: &str,
        options: AliyunOptions,
        queue_size: usize,
    ) -> Result<(Arc<AliyunMqtt>, Arc<ClientShared>)> {
        check_triple(product_key, device_name, device_secret)?;
        options.validate(rev)?;
        let shared = ClientShared::new(0, queue_size);
        let router = Arc::new(Router {
            shared: shared.clone(),
            waiters: Mutex::new(VecDeque::new()),
            late: Mutex::new([0; 3]),
            next_id: AtomicU64::new(1),
        });
        let (r, s1, s2) = (router.clone(), shared.clone(), shared.clone());
        let handler_ids = super::common::add_handlers(
            &engine,
            &[b"+CMYIELD:"],
            move |f: &Frame| {
                if let Frame::Line(l) = f {
                    r.on_line(l)
                }
            },
            move || s1.connection_lost(crate::mqtt::CAUSE_RESTARTED, "modem restarted"),
            move |reason: &str| s2.connection_lost(crate::mqtt::CAUSE_PORT_LOST, reason),
        );
        engine.add_secret(device_secret.as_bytes());
        let client = Arc::new(AliyunMqtt {
            engine,
            rev,
            caps: capabilities(rev),
            product_key: product_key.to_string(),
            device_name: device_name.to_string(),
            device_secret: device_secret.to_string(),
            client_id: format!("{product_key}.{device_name}"),
            options,
            router,
            handler_ids,
            poller: Mutex::new(None),
            autoyield_on: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        Ok((client, shared))
    }

    pub fn revision(&self) -> Revision {
        self.rev
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn product_key(&self) -> &str {
        &self.product_key
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    fn run(&self, operation: &str, cmd: Command) -> Result<Response> {
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if r.final_result.is_ok() {
            Ok(r)
        } else {
            Err(cm_error(operation, &text, &r.final_result))
        }
    }

    fn simple(
        &self,
        operation: &str,
        name: &str,
        args: &[Arg],
        timeout: Duration,
    ) -> Result<Response> {
        self.run(operation, Command::new(build(name, args)?, timeout))
    }

    /// One `AT+CMYIELD=<t>`, keeping the command slot for the window.
    fn yield_once(&self) -> Result<()> {
        let t = self
            .options
            .yield_timeout
            .clamp(YIELD_RANGE.0, YIELD_RANGE.1);
        let window = Duration::from_millis(t as u64);
        let cmd = Command::new(build("AT+CMYIELD", &[Arg::Int(t as i64)])?, CMD);
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw_hold(cmd, window)?;
        if r.final_result.is_ok() {
            Ok(())
        } else {
            Err(cm_error("yield", &text, &r.final_result))
        }
    }

    /// Sends `cmd` with an acknowledgement waiter registered first, then yields until the
    /// acknowledgement comes or the deadline passes.
    fn with_ack(&self, kind: AckKind, cmd: Command, timeout: Option<Duration>) -> Result<()> {
        let deadline = Instant::now() + timeout.unwrap_or(ACK_WAIT);
        let (id, rx) = self.router.register(kind);
        match self.run(kind.operation(), cmd) {
            Ok(_) => {}
            // The command may have gone out: its ack may still come.
            Err(e @ (Error::Timeout { .. } | Error::Interrupted(_))) => {
                self.router.abandon(id, kind, &rx);
                return Err(e);
            }
            Err(e) => {
                self.router.forget(id);
                return Err(e);
            }
        }
        loop {
            if let Ok(status) = rx.try_recv() {
                return self.ack_result(kind, status);
            }
            if Instant::now() >= deadline {
                self.router.abandon(id, kind, &rx);
                return Err(Error::Timeout {
                    command: format!("AT+CMYIELD ({})", kind.operation()),
                    waited_for: format!("+CMYIELD: {}", kind.success()),
                    timeout: timeout.unwrap_or(ACK_WAIT),
                });
            }
            if let Err(e) = self.yield_once() {
                self.router.abandon(id, kind, &rx);
                return Err(e);
            }
        }
    }

    fn ack_result(&self, kind: AckKind, status: i32) -> Result<()> {
        if status == kind.success() {
            Ok(())
        } else {
            Err(Error::Mqtt {
                operation: kind.operation().into(),
                code: status,
                name: yield_status_name(status).into(),
            })
        }
    }

    fn start_receiving(self: &Arc<Self>) -> Result<()> {
        if self.options.uses_autoyield(self.rev) {
            self.simple(
                "connect",
                "AT+CMAUTOYIELD",
                &[
                    Arg::Int(self.options.auto_yield_interval as i64),
                    Arg::Int(self.options.yield_timeout as i64),
                ],
                CMD,
            )?;
            self.autoyield_on.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let mut slot = lock(&self.poller);
        if slot.is_some() {
            return Ok(());
        }
        let (stop, stop_rx) = bounded::<()>(1);
        let weak = Arc::downgrade(self);
        let interval = self.options.poll_interval;
        let thread = std::thread::Builder::new()
            .name("modemqtt-cmyield".into())
            .spawn(move || poll_loop(weak, stop_rx, interval))
            .map_err(|e| Error::Other(format!("cannot start the CMYIELD poller: {e}")))?;
        *slot = Some(Poller { stop, thread });
        Ok(())
    }

    fn stop_receiving(&self) {
        if let Some(p) = lock(&self.poller).take() {
            let _ = p.stop.send(());
            if p.thread.thread().id() != std::thread::current().id() {
                let _ = p.thread.join();
            }
        }
        if self.autoyield_on.swap(false, Ordering::SeqCst) && self.engine.failure().is_none() {
            if let Err(e) = self.simple("disconnect", "AT+CMAUTOYIELD", &[Arg::Int(0)], CMD) {
                log::debug!("aliyun: AT+CMAUTOYIELD=0: {e}");
            }
        }
    }

    /// Revision 2: the application bearer must be up before AT+CMCONN (seeds/002 §3 starts
    /// with `AT+CNACT=1,"cmnet"` / `+APP PDP: ACTIVE`): asked with `AT+CNACT?`
    /// (`+CNACT: <status>,"<ip>"`) and brought up with `AT+CNACT=1` (the network's default
    /// APN) when down. Revision 1 (seeds/000 §5.1, `AT+CAUTONET=1`) has nothing to ask.
    fn ensure_bearer(&self) -> Result<()> {
        if self.rev != Revision::V2 {
            return Ok(());
        }
        let c = Command::new(build("AT+CNACT?", &[])?, CMD).with_response(b"+CNACT:".to_vec());
        let r = self.run("bearer", c)?;
        let up = r
            .value("+CNACT:")
            .and_then(|v| v.split(',').next().map(|s| s.trim() == "1"))
            .unwrap_or(false);
        if up {
            return Ok(());
        }
        log::info!("the wireless connection is down; AT+CNACT=1");
        let c = Command::new(build("AT+CNACT", &[Arg::Int(1)])?, Duration::from_secs(60))
            .with_expect(Expect::prefix(b"+APP PDP:".to_vec()));
        let text = c.line.text().to_string();
        let r = self.engine.execute_raw(c)?;
        if !r.final_result.is_ok() {
            return Err(cm_error("bearer", &text, &r.final_result));
        }
        match r.urc.as_deref() {
            Some(l) if l.ends_with(b"ACTIVE") && !l.ends_with(b"DEACTIVE") => Ok(()),
            other => Err(Error::Protocol(format!(
                "{text}: the bearer did not come up ({:?}); set the APN with AT+CNACT=1,\"<apn>\"",
                other.map(String::from_utf8_lossy)
            ))),
        }
    }

    fn disc(&self, timeout: Duration) -> Result<()> {
        self.stop_receiving();
        self.simple("disconnect", "AT+CMDISCONN", &[], timeout)
            .map(|_| ())
    }
}

fn poll_loop(client: std::sync::Weak<AliyunMqtt>, stop: Receiver<()>, interval: Duration) {
    loop {
        match stop.recv_timeout(interval) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let Some(c) = client.upgrade() else { return };
        if c.closed.load(Ordering::SeqCst) || c.engine.is_closed() {
            return;
        }
        match c.yield_once() {
            Ok(()) => {}
            Err(Error::Port(reason)) => {
                log::debug!("aliyun: poller stops: {reason}");
                return;
            }
            Err(e) => log::debug!("aliyun: poll: {e}"),
        }
    }
}

impl Drop for AliyunMqtt {
    fn drop(&mut self) {
        for id in &self.handler_ids {
            self.engine.remove_handler(*id);
        }
    }
}

/// Wraps the client so the background poller can hold a weak reference to it.
pub struct AliyunBackend(pub Arc<AliyunMqtt>);

impl Backend for AliyunBackend {
    fn capabilities(&self) -> &Capabilities {
        &self.0.caps
    }

    fn index(&self) -> u8 {
        0
    }

    fn client_id(&self) -> &str {
        &self.0.client_id
    }

    fn own_endpoint(&self) -> Option<String> {
        // The client id is `<productKey>.<deviceName>`.
        let product_key = self.0.client_id.split('.').next().unwrap_or_default();
        Some(mqtt_endpoint(product_key))
    }

    fn connect(&self, opts: &ConnectOptions) -> Result<()> {
        let c = &self.0;
        if opts.username.is_some() || opts.password.is_some() {
            return Err(Error::invalid(
                "username/password: the Alibaba firmware signs its own login from the device triple; leave them out",
            ));
        }
        let secret = Arg::Secret(&c.device_secret);
        c.simple(
            "authenticate",
            "AT+CMAUTH",
            &[Arg::Str(&c.product_key), Arg::Str(&c.device_name), secret],
            CMD,
        )?;
        let para = |tag: &str, v: i64| -> Result<()> {
            c.simple("configure", "AT+CMPARA", &[Arg::Str(tag), Arg::Int(v)], CMD)
                .map(|_| ())
        };
        if let Some(t) = c.options.request_timeout {
            para("TIMEOUT", t as i64)?;
        }
        para("CLEAN", opts.clean_session as i64)?;
        para("KEEPALIVE", opts.keepalive as i64 * 1000)?;
        if let Some(v) = c.options.mqtt_version {
            para("MQTTVERSION", v as i64)?;
        }
        c.ensure_bearer()?;
        match c.simple("connect", "AT+CMCONN", &[], opts.timeout) {
            // The firmware may still hold a connection this client did not make (an earlier
            // host went away without AT+CMDISCONN). The manuals give AT+CMCONN no error
            // table (seeds/000 §3.3: ERROR; seeds/002 §1.3: +CME ERROR: <err>); -27
            // MQTT_STATE_ERROR is listed for PUB/SUB/UNSUB only (seeds/000 §3.4-3.6). So a
            // refusal is taken for "still connected" only where the modem confirms it:
            // revision 2 answers AT+CMSTATUS? (1 = connected); revision 1 cannot be asked.
            Err(
                e @ Error::Mqtt {
                    code: CODE_STATE_ERROR,
                    ..
                },
            ) => match self.query_connected() {
                Some(Ok(true)) => {
                    log::info!(
                        "the modem still holds an earlier connection; disconnecting it first"
                    );
                    if let Err(e) = c.disc(CMD) {
                        log::debug!("AT+CMDISCONN before a new connect: {e}");
                    }
                    c.simple("connect", "AT+CMCONN", &[], opts.timeout)?;
                }
                _ => return Err(e),
            },
            // Revision 1 answers any failure with a plain ERROR (seeds/000 §3.3) and has no
            // status query. AT+CMDISCONN tells: OK means a connection object existed (it is
            // gone now, so connect again); -2 NULL_VALUE_ERROR (§3.8) means there was none,
            // and the refusal had another cause, most likely the bearer.
            Err(Error::Command {
                command,
                code,
                text,
            }) if c.rev == Revision::V1 => {
                if c.disc(CMD).is_ok() {
                    log::info!("the modem still held an earlier connection; ended it");
                    c.simple("connect", "AT+CMCONN", &[], opts.timeout)?;
                } else {
                    return Err(Error::Command {
                        command,
                        code,
                        text: format!(
                            "{text} (is the wireless connection up? seeds/000 §5.1 sends AT+CAUTONET=1, effective after a restart)"
                        ),
                    });
                }
            }
            other => {
                other?;
            }
        }
        c.start_receiving()
    }

    fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        _retain: bool,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let c = &self.0;
        mqtt::check_quotable("topic", topic)?;
        let text = payload_param("payload", payload, false)?;
        let cmd = Command::new(
            build(
                "AT+CMPUB",
                &[Arg::Str(topic), Arg::Int(qos as i64), Arg::Str(text)],
            )?,
            CMD,
        );
        if qos == 0 {
            return c.run("publish", cmd).map(|_| ());
        }
        c.with_ack(AckKind::Pub, cmd, timeout)
    }

    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        let c = &self.0;
        for (t, _) in topics {
            mqtt::check_quotable("topic", t)?;
        }
        for (t, q) in topics {
            let cmd = Command::new(build("AT+CMSUB", &[Arg::Str(t), Arg::Int(*q as i64)])?, CMD);
            c.with_ack(AckKind::Sub, cmd, timeout)?;
        }
        Ok(())
    }

    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        let c = &self.0;
        for t in topics {
            mqtt::check_quotable("topic", t)?;
        }
        for t in topics {
            let cmd = Command::new(build("AT+CMUNSUB", &[Arg::Str(t)])?, CMD);
            c.with_ack(AckKind::Unsub, cmd, timeout)?;
        }
        Ok(())
    }

    fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.0.disc(timeout.unwrap_or(CMD))
    }

    fn close(&self) -> Result<()> {
        let c = &self.0;
        if c.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if c.engine.failure().is_some() {
            c.stop_receiving();
            return Ok(());
        }
        if c.router.shared.is_connected() {
            return c.disc(CMD);
        }
        c.stop_receiving();
        Ok(())
    }

    fn query_connected(&self) -> Option<Result<bool>> {
        let c = &self.0;
        if c.rev != Revision::V2 || c.engine.failure().is_some() {
            return None;
        }
        let cmd = match build("AT+CMSTATUS?", &[]) {
            Ok(l) => Command::new(l, CMD).with_response(b"+CMSTATUS:".to_vec()),
            Err(e) => return Some(Err(e.into())),
        };
        Some(c.run("status", cmd).and_then(|r| {
            let v = r
                .value("+CMSTATUS:")
                .ok_or_else(|| Error::Protocol("AT+CMSTATUS?: no +CMSTATUS line".into()))?;
            match v.trim() {
                "1" => Ok(true),
                "0" => Ok(false),
                other => Err(Error::Protocol(format!(
                    "AT+CMSTATUS?: unexpected status {other:?}"
                ))),
            }
        }))
    }
}

/// The answer to a CoAP send (`+CCRECV: <status>,<code>[,<payload>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoapResponse {
    pub code: u8,
    pub name: String,
    pub payload: Vec<u8>,
}

/// Parses `+CCRECV: <status>[,<resp_code>[,<resp_payload>]]`.
pub fn parse_ccrecv(line: &[u8]) -> Option<(i32, Option<u8>, Vec<u8>)> {
    let (status, rest) = status_and_rest(line)?;
    let rest = trim_ascii(rest);
    if rest.is_empty() {
        return Some((status, None, Vec::new()));
    }
    let (code_field, payload_field) = match rest.iter().position(|&b| b == b',') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let code_text = String::from_utf8_lossy(code_field);
    let code_text = code_text.trim().trim_matches('"');
    let digits = code_text
        .strip_prefix("0x")
        .or_else(|| code_text.strip_prefix("0X"))?;
    let code = u8::from_str_radix(digits, 16).ok()?;
    let payload = match payload_field.map(trim_ascii) {
        None => Vec::new(),
        Some(p) => match p.strip_prefix(b"\"") {
            Some(inner) => match inner.iter().rposition(|&b| b == b'"') {
                Some(last) => inner[..last].to_vec(),
                None => inner.to_vec(),
            },
            None => p.to_vec(),
        },
    };
    Some((status, Some(code), payload))
}

#[derive(Default)]
struct CoapState {
    /// The boot generation in which `AT+CCINIT` succeeded.
    inited: Option<u64>,
    authed: bool,
}

/// The `AT+CC*` CoAP client.
pub struct AliyunCoap {
    engine: Engine,
    rev: Revision,
    product_key: String,
    device_name: String,
    device_secret: String,
    state: Mutex<CoapState>,
    closed: AtomicBool,
}

const COAP_DEFAULT_WAIT: Duration = Duration::from_secs(10);

impl AliyunCoap {
    /// Checks the arguments; nothing is sent until the first `auth` or `send`.
    pub fn open(
        engine: Engine,
        rev: Revision,
        product_key: &str,
        device_name: &str,
        device_secret: &str,
    ) -> Result<AliyunCoap> {
        check_triple(product_key, device_name, device_secret)?;
        engine.add_secret(device_secret.as_bytes());
        Ok(AliyunCoap {
            engine,
            rev,
            product_key: product_key.to_string(),
            device_name: device_name.to_string(),
            device_secret: device_secret.to_string(),
            state: Mutex::new(CoapState::default()),
            closed: AtomicBool::new(false),
        })
    }

    pub fn revision(&self) -> Revision {
        self.rev
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed("CoAP client"));
        }
        Ok(())
    }

    fn coap_error(&self, operation: &str, code: i32) -> Error {
        Error::Mqtt {
            operation: operation.into(),
            code,
            name: coap_error_name(self.rev, code),
        }
    }

    fn final_error(&self, operation: &str, command: &str, f: &FinalResult) -> Error {
        match f {
            FinalResult::CmeError(ErrorCode::Numeric(n)) => self.coap_error(operation, *n),
            other => Error::from_final(command, other),
        }
    }

    fn ensure_init(&self, st: &mut CoapState) -> Result<()> {
        let gen = self.engine.boot_generation();
        if st.inited == Some(gen) {
            return Ok(());
        }
        st.authed = false;
        let cmd = Command::new(
            build(
                "AT+CCINIT",
                &[
                    Arg::Str(&self.product_key),
                    Arg::Str(&self.device_name),
                    Arg::Secret(&self.device_secret),
                ],
            )?,
            CMD,
        );
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("init", &text, &r.final_result));
        }
        st.inited = Some(gen);
        Ok(())
    }

    fn status_of(&self, r: &Response, prefix: &[u8]) -> Option<i32> {
        let from_lines = r.lines.iter().find_map(|f| match f {
            Frame::Line(l) if l.starts_with(prefix) => status_and_rest(l).map(|(s, _)| s),
            _ => None,
        });
        r.urc
            .as_deref()
            .and_then(|l| status_and_rest(l).map(|(s, _)| s))
            .or(from_lines)
    }

    fn do_auth(&self, st: &mut CoapState, timeout: Duration) -> Result<()> {
        self.ensure_init(st)?;
        let ms = timeout.as_millis().clamp(1, 60_000) as i64;
        let mut cmd = Command::new(build("AT+CCAUTH", &[Arg::Int(ms)])?, timeout + CMD);
        // Revision 1 prints `+CCAUTH: n` (if at all) before OK; revision 2 after it.
        cmd = match self.rev {
            Revision::V1 => cmd.with_response(b"+CCAUTH:".to_vec()),
            Revision::V2 => cmd.with_expect(Expect::prefix(b"+CCAUTH:".to_vec())),
        };
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("auth", &text, &r.final_result));
        }
        match self.status_of(&r, b"+CCAUTH:") {
            Some(0) | None if self.rev == Revision::V1 => {}
            Some(0) => {}
            Some(code) => return Err(self.coap_error("auth", code)),
            None => {
                return Err(Error::Protocol("AT+CCAUTH: OK without +CCAUTH".into()));
            }
        }
        st.authed = true;
        Ok(())
    }

    /// `AT+CCINIT` (if needed) and `AT+CCAUTH=<ms>`.
    pub fn auth(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_open()?;
        let t = timeout.unwrap_or(COAP_DEFAULT_WAIT);
        check_coap_timeout(t)?;
        let mut st = lock(&self.state);
        self.do_auth(&mut st, t)
    }

    /// Sends `payload` to `topic` and returns the server's answer.
    pub fn send(
        &self,
        topic: &str,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<CoapResponse> {
        self.check_open()?;
        mqtt::check_len("topic", topic.len(), (1, COAP_TOPIC_MAX))?;
        mqtt::check_quotable("topic", topic)?;
        mqtt::check_len("payload", payload.len(), (1, COAP_PAYLOAD_MAX))?;
        let text = payload_param("payload", payload, true)?;
        let t = timeout.unwrap_or(COAP_DEFAULT_WAIT);
        check_coap_timeout(t)?;
        let ms = t.as_millis().clamp(1, 60_000) as i64;
        let line = build(
            "AT+CCSEND",
            &[Arg::Str(topic), Arg::Escaped(text), Arg::Int(ms)],
        )?;
        let mut st = lock(&self.state);
        if st.inited != Some(self.engine.boot_generation()) || !st.authed {
            self.do_auth(&mut st, t)?;
        }
        let mut cmd = Command::new(line, t + CMD);
        cmd = match self.rev {
            Revision::V1 => cmd.with_response(b"+CCRECV:".to_vec()),
            Revision::V2 => cmd.with_expect(Expect::prefix(b"+CCRECV:".to_vec())),
        };
        let cmd_text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            let e = self.final_error("send", &cmd_text, &r.final_result);
            if matches!(e, Error::Mqtt { code: -5, .. }) {
                st.authed = false;
            }
            return Err(e);
        }
        let line = r.urc.clone().or_else(|| {
            r.lines.iter().find_map(|f| match f {
                Frame::Line(l) if l.starts_with(b"+CCRECV:") => Some(l.clone()),
                _ => None,
            })
        });
        let Some(line) = line else {
            return Err(Error::Protocol("AT+CCSEND: OK without +CCRECV".into()));
        };
        self.response_from(&mut st, &line)?
            .ok_or_else(|| Error::Protocol("AT+CCSEND: +CCRECV without a response code".into()))
    }

    fn response_from(&self, st: &mut CoapState, line: &[u8]) -> Result<Option<CoapResponse>> {
        let Some((status, code, payload)) = parse_ccrecv(line) else {
            return Err(Error::Protocol(format!(
                "cannot parse {:?}",
                String::from_utf8_lossy(line)
            )));
        };
        if status != 0 {
            if matches!(status, 11 | 12) || (self.rev == Revision::V1 && status == -5) {
                st.authed = false;
            }
            return Err(self.coap_error("send", status));
        }
        Ok(code.map(|code| {
            if code == 0x81 {
                // Token invalid or expired: authenticate again before the next send.
                st.authed = false;
            }
            CoapResponse {
                code,
                name: coap_code_name(code).to_string(),
                payload,
            }
        }))
    }

    /// `AT+CCYIELD`: reads what the server sent since (a response to a send made with
    /// the modem's manual receive, or an auth result). Returns the CoAP response, if any.
    pub fn receive(&self, timeout: Option<Duration>) -> Result<Option<CoapResponse>> {
        self.check_open()?;
        let t = timeout.unwrap_or(COAP_DEFAULT_WAIT);
        check_coap_timeout(t)?;
        let mut st = lock(&self.state);
        let cmd = Command::new(build("AT+CCYIELD", &[])?, t)
            .with_response(b"+CCRECV:".to_vec())
            .with_response(b"+CCAUTH:".to_vec());
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("receive", &text, &r.final_result));
        }
        for f in &r.lines {
            if let Frame::Line(l) = f {
                if l.starts_with(b"+CCRECV:") {
                    return self.response_from(&mut st, l);
                }
                if l.starts_with(b"+CCAUTH:") {
                    match status_and_rest(l).map(|(s, _)| s) {
                        Some(0) => st.authed = true,
                        Some(code) => return Err(self.coap_error("auth", code)),
                        None => {}
                    }
                }
            }
        }
        Ok(None)
    }

    /// `AT+CCDEINIT`. Idempotent.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut st = lock(&self.state);
        let was = st.inited.take() == Some(self.engine.boot_generation());
        st.authed = false;
        if !was || self.engine.failure().is_some() {
            return Ok(());
        }
        let cmd = Command::new(build("AT+CCDEINIT", &[])?, CMD);
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("deinit", &text, &r.final_result));
        }
        Ok(())
    }
}

impl Drop for AliyunCoap {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::debug!("aliyun coap: closing on drop: {e}");
        }
    }
}

fn check_coap_timeout(t: Duration) -> Result<()> {
    if t.is_zero() || t > Duration::from_secs(60) {
        return Err(Error::invalid(format!(
            "timeout: {t:?} is out of range (must be more than 0 and at most 60 seconds: AT+CCSEND / AT+CCAUTH take 1 to 60000 ms)"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "aliyun_tests.rs"]
mod tests;

/// The URC prefixes [`AliyunMqtt::open`] registers and a handler routing frames as its
/// handlers do, for the single client `shared`. For the fuzz targets and the framing
/// property tests (`modemqtt::fuzzing`), which drive the router without an engine.
#[doc(hidden)]
pub fn urc_router(shared: &Arc<ClientShared>) -> (Vec<Vec<u8>>, crate::engine::UrcHandler) {
    let router = Router {
        shared: shared.clone(),
        waiters: Mutex::new(VecDeque::new()),
        next_id: AtomicU64::new(1),
        late: Mutex::new([0; 3]),
    };
    let prefixes = [&b"+CMYIELD:"[..], crate::engine::BOOT_URC];
    let handler = Arc::new(move |f: &Frame| match f {
        Frame::Line(l) if l.starts_with(b"+CMYIELD:") => router.on_line(l),
        Frame::Line(l) if l.starts_with(crate::engine::BOOT_URC) => router
            .shared
            .connection_lost(crate::mqtt::CAUSE_RESTARTED, "modem restarted"),
        _ => {}
    });
    (prefixes.iter().map(|p| p.to_vec()).collect(), handler)
}
