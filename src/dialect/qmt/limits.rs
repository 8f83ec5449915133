//! Profiles, limits and the names of result codes.

use super::*;
use crate::family::Family;

/// `+QMTOPEN` results.
pub fn open_result_name(code: i32) -> String {
    match code {
        -1 => "failed to open network",
        0 => "network opened successfully",
        1 => "wrong parameter",
        2 => "MQTT identifier is occupied",
        3 => "failed to activate PDP",
        4 => "failed to parse domain name",
        5 => "network connection error",
        _ => return format!("unknown open result {code}"),
    }
    .to_string()
}

/// `<result>` of `+QMTCONN`, `+QMTSUB`, `+QMTUNS`, `+QMTPUB(EX)`.
pub fn packet_result_name(code: i32) -> String {
    match code {
        0 => "packet sent successfully and ACK received",
        1 => "packet retransmission",
        2 => "failed to send packet",
        _ => return format!("unknown packet result {code}"),
    }
    .to_string()
}

/// `<ret_code>` of `+QMTCONN` (the CONNACK return code).
pub fn conn_ret_code_name(code: i32) -> String {
    match code {
        0 => "connection accepted",
        1 => "connection refused: unacceptable protocol version",
        2 => "connection refused: identifier rejected",
        3 => "connection refused: server unavailable",
        4 => "connection refused: bad user name or password",
        5 => "connection refused: not authorized",
        _ => return format!("connection refused: unknown return code {code}"),
    }
    .to_string()
}

/// `+QMTSTAT` error codes (the notes' "Error Codes of the URC" table).
pub fn stat_name(code: i32) -> String {
    match code {
        1 => "connection is closed or reset by peer",
        2 => "sending PINGREQ packet timed out or failed",
        3 => "sending CONNECT packet timed out or failed",
        4 => "receiving CONNACK packet timed out or failed",
        5 => "the server closed the connection after the client sent DISCONNECT",
        6 => "the client closed the connection because sending packets kept failing",
        7 => "the link is not alive or the server is unavailable",
        _ => return format!("link state changed (code {code})"),
    }
    .to_string()
}

/// Number of message buffers per client in buffer mode (recv_id 0-4).
pub const BUFFERS: u8 = 5;

/// Topics per `AT+QMTSUB` / `AT+QMTUNS` line; longer lists are sent in several commands.
pub const TOPICS_PER_COMMAND: usize = 5;

pub fn capabilities(profile: &str) -> Option<Capabilities> {
    // Topics are quoted on the command line; 255 keeps a five-topic AT+QMTSUB within the
    // modems' command-line buffer.
    let base = Capabilities {
        clients: 6,
        will_topic_max: 256,
        will_payload_max: 256,
        keepalive: (0, 3600),
        // <host_name>: "The maximum size is 100 bytes."
        server_addr_len: (1, 100),
        ..Capabilities::full(Family::Qmt.name(), profile, 255, 4096)
    };
    match profile {
        "ec20" | "ec21" | "ec25" | "eg91" | "eg95" | "em05" | "bg96" | "bg95" => Some(base),
        _ => None,
    }
}

/// The publish command a profile is expected to have (see the module docs); the modem is
/// asked with `AT+QMTPUBEX=?` before the first publish, since the model name alone does not
/// tell (a BG77 or an unknown model is taken for an EC20).
pub fn publish_command(profile: &str) -> &'static str {
    if profile.starts_with("bg") {
        "QMTPUB"
    } else {
        "QMTPUBEX"
    }
}

/// Picks the profile from the model name (`AT+CGMM`, e.g. "EC25", "BG96").
pub fn profile_for_model(model: &str) -> &'static str {
    let m = model.to_ascii_uppercase();
    for (key, p) in [
        ("EC21", "ec21"),
        ("EC25", "ec25"),
        ("EG91", "eg91"),
        ("EG95", "eg95"),
        ("EM05", "em05"),
        ("BG96", "bg96"),
        ("BG95", "bg95"),
        ("EC20", "ec20"),
    ] {
        if m.contains(key) {
            return p;
        }
    }
    "ec20"
}
