//! The profile, its limits, the command-line rules (escaping, 256-byte line) and the
//! names of the `ERR CODE` values.

use super::*;
use crate::family::Family;

/// The one profile: ESP32-family chips running ESP-AT 2.x or later.
pub const PROFILE: &str = "esp32-at";

/// "The length of the entire AT command should be less than 256 bytes" (MQTT AT Commands,
/// `AT+MQTTUSERCFG` note; the command set index says "no more than 256 bytes"): counted
/// here with the line's terminator, so the text before it is at most 254 bytes.
pub const LINE_MAX: usize = 255;

/// `AT+MQTTUSERCFG`: client id at most 256 bytes, user name and password at most 64
/// (MQTT AT Commands, parameters of `AT+MQTTUSERCFG`); longer ones go through
/// `AT+MQTTLONGCLIENTID` / `LONGUSERNAME` / `LONGPASSWORD` (1-1024 bytes).
pub const USERCFG_ID_MAX: usize = 256;
pub const USERCFG_CRED_MAX: usize = 64;
pub const LONG_MAX: usize = 1024;

/// "Up to 10 topics" can be subscribed (`AT+MQTTSUB`).
pub const MAX_SUBSCRIPTIONS: usize = 10;

/// The module's MQTT receive buffer: a message longer than this, MQTT header included,
/// arrives in several `+MQTTSUBRECV` parts (`AT+MQTTSUB` note; build option
/// "Default MQTT Buffer Size").
pub const RX_BUFFER: usize = 1024;

pub fn capabilities(profile: &str) -> Option<Capabilities> {
    if profile != PROFILE {
        return None;
    }
    // One client: "currently only supports link ID 0". `<topic>`: "maximum length: 128
    // bytes" (AT+MQTTPUB, AT+MQTTPUBRAW, AT+MQTTUNSUB). The payload: AT+MQTTPUBRAW is
    // "limited by available memory"; 8 KiB is this library's bound (a guess at what a
    // module with Wi-Fi up spares). Received messages above the receive buffer arrive in
    // parts (see docs/espat.md).
    Some(Capabilities {
        client_id_len: (1, LONG_MAX),
        // 128 bytes in the current manual (64 up to the v3.2 manuals).
        will_payload_max: 128,
        // 0-7200 s, and 0 means 120 s: no way to turn keepalive off.
        keepalive: (1, 7200),
        credential_max: LONG_MAX,
        // `<host>`: "maximum length: 128 bytes".
        server_addr_len: (1, 128),
        // AT+MQTTPUBRAW with length 0 is not documented (0x604C "length value is wrong").
        empty_payload: false,
        ..Capabilities::full(Family::EspAt.name(), profile, 128, 8192)
    })
}

/// A quoted parameter with ESP-AT's escapes: `\` `"` and `,` preceded by `\` (AT Command
/// Set, "Command types": "escape character ... `\\`, `\,`, `\"`").
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Refuses what a quoted parameter of a command line cannot hold (it would end the line).
pub fn check_text(what: &str, s: &str) -> Result<()> {
    for (c, name) in [('\r', "CR"), ('\n', "LF"), ('\0', "NUL")] {
        if s.contains(c) {
            return Err(Error::invalid(format!(
                "{what}: must not contain {name} ({PROFILE} takes it as a quoted parameter of the command line)"
            )));
        }
    }
    Ok(())
}

/// A command line from its text, refused when longer than the module takes.
pub fn line(text: String, masked: Option<String>, what: &str) -> Result<CommandLine> {
    let n = text.len() + 1;
    if n > LINE_MAX {
        return Err(Error::invalid(format!(
            "{what}: the command line would be {n} bytes; {PROFILE} takes lines of at most {LINE_MAX} bytes (shorten the topic or text)"
        )));
    }
    let mut bytes = text.clone().into_bytes();
    bytes.push(b'\r');
    Ok(CommandLine {
        bytes,
        masked: masked.unwrap_or(text),
    })
}

/// The MQTT error codes of `ERR CODE:0x010a<code>` the library names (MQTT AT Commands,
/// "MQTT Error Codes"); others are shown by number.
pub fn error_name(code: u32) -> String {
    let name = match code & 0xffff {
        0x6001 => "not configured (AT+MQTTUSERCFG missing)",
        0x6002 => "not in configured state",
        0x6003 => "uninitiated or already cleaned",
        0x6004 => "already connected",
        0x600B => "client start failed",
        0x600C => "publish failed",
        0x600D => "subscribe failed",
        0x600E => "unsubscribe failed",
        0x6016 => "client id too long",
        0x6019 => "user name too long",
        0x601C => "password too long",
        0x6032 => "will topic too long",
        0x6035 => "will message too long",
        0x6043 => "topic too long",
        0x6044 => "data read failed",
        0x6046 => "data too long",
        0x6051 => "in disconnected state",
        0x6052 => "host name verification failed",
        0x0000 if code >> 16 == 0x0109 => "command not supported",
        _ => return format!("error 0x{code:08x}"),
    };
    name.to_string()
}

/// The code of an `ERR CODE:0x...` line (printed before `ERROR` once `AT+SYSLOG=1`).
pub fn err_code(line: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(line).ok()?;
    let hex = text.strip_prefix("ERR CODE:")?.trim();
    let hex = hex.strip_prefix("0x").or_else(|| hex.strip_prefix("0X"))?;
    u32::from_str_radix(hex, 16).ok()
}

/// The chip named in `AT+GMR`'s first line, `AT version:2.2.0.0(... - ESP32 - ...)`.
pub fn chip(gmr_first_line: &str) -> Option<String> {
    let inside = gmr_first_line.split_once('(')?.1;
    let chip = inside.split(" - ").nth(1)?.trim();
    (!chip.is_empty()).then(|| chip.to_string())
}
