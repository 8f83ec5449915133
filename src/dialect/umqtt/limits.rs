//! Profiles, limits and the names of result codes.

use super::*;
use crate::family::Family;

/// The largest payload of a binary publish (`AT+UMQTTC=9`): ubxlib
/// `U_CELL_MQTT_PUBLISH_BIN_MAX_LENGTH_BYTES`, SparkFun `MAX_MQTT_DIRECT_MSG_LEN`.
pub const PAYLOAD_MAX: usize = 1024;

/// Topic names and filters (publish, subscribe, will): ubxlib
/// `U_CELL_MQTT_WRITE_TOPIC_MAX_LENGTH_BYTES`.
pub const TOPIC_MAX: usize = 256;

/// Will message: ubxlib `U_CELL_MQTT_WILL_MESSAGE_MAX_LENGTH_BYTES`.
pub const WILL_MAX: usize = 256;

/// `+UUMQTTC: 0,<reason>` codes (ubxlib's comment on the URC, SARA-R5/R422).
pub fn logout_reason_name(code: i32) -> String {
    match code {
        0 => "disconnect failed",
        1 => "disconnected",
        100 => "inactivity timeout",
        101 => "connection lost",
        102 => "connection lost due to a protocol violation",
        _ => return format!("connection ended (code {code})"),
    }
    .to_string()
}

/// The second code of `+UMQTTER: <class>,<code>` where a source names it.
pub fn error_code_name(code: i32) -> String {
    match code {
        0 => "no error reported",
        8 => "cannot set secure socket",
        33 => "timeout",
        34 => "no radio service",
        _ => return format!("MQTT error {code}"),
    }
    .to_string()
}

pub fn capabilities(profile: &str) -> Option<Capabilities> {
    // One client: no command takes a client index. Keep-alive: AT+UMQTT=10,<inactivity
    // timeout> 0-65535 (NBMqtt). An empty payload only retained (see `publish`).
    let base = Capabilities {
        // The ubxlib buffer; the manual's figure is not known here.
        client_id_len: (1, 256),
        will_payload_max: WILL_MAX,
        ..Capabilities::full(Family::Umqtt.name(), profile, TOPIC_MAX, PAYLOAD_MAX)
    };
    match profile {
        "sara-r5" => Some(base),
        _ => None,
    }
}

/// Every module with the new syntax is one profile; the SARA-R41x-02B old syntax is not
/// supported (docs/umqtt.md).
pub fn profile_for_model(model: &str) -> &'static str {
    if model.to_ascii_uppercase().contains("-02B") {
        log::warn!("umqtt: {model} has the old AT+UMQTT syntax, which modemqtt does not drive");
    }
    "sara-r5"
}
