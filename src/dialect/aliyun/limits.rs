//! Firmware revisions, limits and capabilities, and the names of result codes.

use super::*;
use crate::family::Family;

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
    let full = Capabilities::full(
        Family::Aliyun.name(),
        rev.profile(),
        TOPIC_MAX,
        rev.payload_max(),
    );
    // The firmware logs in with the device triple: no credentials, no will, no TLS option,
    // no retain, QoS 0 and 1.
    Capabilities {
        client_id_len: (1, 64),
        will_topic_max: 0,
        will_payload_max: 0,
        max_qos: 1,
        // KEEPALIVE is 60000-180000 ms on both revisions.
        keepalive: (60, 180),
        credential_max: 0,
        tls: false,
        will: false,
        will_retain: false,
        retain: false,
        empty_payload: false,
        ..full
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
