//! Profiles, limits and the names of result codes.

use super::*;
use crate::family::Family;

/// The result codes of the manual's section 2.2.1.
pub const ERROR_NAMES: [&str; 36] = [
    "operation succeeded",
    "failed",
    "bad UTF-8 string",
    "sock connect fail",
    "sock create fail",
    "sock close fail",
    "message receive fail",
    "network open fail",
    "network close fail",
    "network not opened",
    "client index error",
    "no connection",
    "invalid parameter",
    "not supported operation",
    "client is busy",
    "require connection fail",
    "sock sending fail",
    "timeout",
    "topic is empty",
    "client is used",
    "client not acquired",
    "client not released",
    "length out of range",
    "network is opened",
    "packet fail",
    "DNS error",
    "socket is closed by server",
    "connection refused: unaccepted protocol version",
    "connection refused: identifier rejected",
    "connection refused: server unavailable",
    "connection refused: bad user name or password",
    "connection refused: not authorized",
    "handshake fail",
    "not set certificate",
    "Open session failed",
    "Disconnect from server failed",
];

pub fn error_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|c| ERROR_NAMES.get(c))
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("unknown error {code}"))
}

/// `+CMQTTCONNLOST` causes (section 2.2.2.1).
pub fn connlost_reason(cause: i32) -> &'static str {
    match cause {
        1 => "socket closed passively",
        2 => "socket reset",
        3 => "network closed",
        _ => "connection lost",
    }
}

/// Result code 11, "no connection".
pub const CODE_NO_CONNECTION: i32 = 11;

/// Result code 14, "client is busy": `AT+CMQTTREL` on a client that is still connected.
pub const CODE_CLIENT_BUSY: i32 = 14;

/// Code 23 answers `AT+CMQTTSTART` when the service already runs.
pub(super) const ALREADY_STARTED: i32 = 23;

/// SIM7028: "命令行缓冲区最多可以接受 559 个字符 (从第一个命令开始计算 不带“AT”或“at”前缀)"
/// (seeds/001 §1.4.4): longer lines are not executed, the module answers `ERROR`.
pub const SIM7028_LINE_MAX: usize = 559;

/// Highest SSL context index `AT+CMQTTSSLCFG` accepts: 0-1 on SIM7028 (seeds/001 §3.2.5,
/// `+CMQTTSSLCFG: (0,0),(0-1)`), 0-9 on the A7600 series.
pub fn ssl_ctx_max(profile: &str) -> u8 {
    if profile == "sim7028" {
        1
    } else {
        9
    }
}

/// Whether the profile has `AT+CMQTTSUBTOPIC` (multi-topic subscribe). SIM7028's command
/// list (seeds/001 §3.1) has `AT+CMQTTUNSUBTOPIC` but no `AT+CMQTTSUBTOPIC`.
pub fn has_subtopic(profile: &str) -> bool {
    profile != "sim7028"
}

/// The longest command line the profile executes, counted without the `AT` prefix.
pub fn line_max(profile: &str) -> Option<usize> {
    (profile == "sim7028").then_some(SIM7028_LINE_MAX)
}

pub fn capabilities(profile: &str) -> Option<Capabilities> {
    let base = Capabilities {
        clients: 2,
        will_payload_max: 1024,
        keepalive: (1, 64800),
        server_addr_len: (9, 256),
        will_retain: false,
        ..Capabilities::full(Family::Cmqtt.name(), profile, 1024, 10240)
    };
    match profile {
        "a7600" | "sim7600" | "sim7500" => Some(base),
        // Server address 1-128 bytes (seeds/001 §3.2.8); "tcp://h:1" is the shortest.
        "sim7028" => Some(Capabilities {
            clients: 1,
            client_id_len: (1, 256),
            server_addr_len: (9, 128),
            ..base
        }),
        _ => None,
    }
}

/// Picks the profile from the model name (`AT+CGMM`).
pub fn profile_for_model(model: &str) -> &'static str {
    let m = model.to_ascii_uppercase();
    if m.contains("SIM7028") {
        "sim7028"
    } else if m.contains("SIM7600") {
        "sim7600"
    } else {
        "a7600"
    }
}
