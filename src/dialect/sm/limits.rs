//! Profiles, limits and the causes the family reports.

use crate::family::Family;
use crate::mqtt::Capabilities;

/// `on_disconnect` cause for `+SMSTATE: 0`: the module reports the MQTT link down. The
/// URC carries no reason (field log SIM7000_AWS_Log.txt; not in the SIM7080 manual's URC
/// list, ATM V1.05 §22.3).
pub const CAUSE_LINK_DOWN: i32 = 1;

/// The code of the `MqttError` for a bare `ERROR` to an MQTT command: the SM commands
/// give no reason (ATM V1.05 ch.17: `OK` / `ERROR` only).
pub const CODE_FAILED: i32 = 1;

pub fn cause_reason(cause: i32) -> &'static str {
    match cause {
        CAUSE_LINK_DOWN => "the module reports the MQTT link down (+SMSTATE: 0)",
        crate::mqtt::CAUSE_PDP_DEACTIVATED => "the bearer went down (+APP PDP: 0,DEACTIVE)",
        _ => "connection lost",
    }
}

/// Largest file `AT+CFSWFILE` writes: "less than 10240 bytes" (ATM V1.05 §9.2.2).
pub const FILE_MAX: usize = 10239;

/// Largest SSL context (`AT+CSSLCFG` contexts 0-5; `AT+SMSSL` index 1-6 = context 0-5,
/// ATM V1.05 §17.2.2).
pub const SSL_CTX_MAX: u8 = 5;

/// The limits of a profile: SIM7080 from the test answers of ATM V1.05 ch.17
/// (`+SMCONF: "CLIENTID",(0-128)`, `"URL",246,(0-65535)`, `"KEEPTIME",(0-65535)`,
/// `"USERNAME",256`, `"PASSWORD",512`, `"TOPIC",128`, `"MESSAGE",1024`;
/// `+SMPUB: 128,(0-1024),(0-2),(0-1)`); SIM7000: content 0-512 (SIM7000 MQTT(S)
/// application note V1.02 §3.2.5).
pub fn capabilities(profile: &str) -> Option<Capabilities> {
    // Client ids 1-128: an empty id is in the range (0-128), but the generic checks refuse
    // it before it gets here, which keeps every family alike.
    let base = Capabilities {
        // USERNAME 256, PASSWORD 512: the password's own limit is checked by the client.
        credential_max: 512,
        server_addr_len: (1, 246),
        // Content length 0 is in the range, but what the module does with it is not
        // documented (no prompt? a driver reports lost zero-length `+SMSUB`): refused.
        empty_payload: false,
        ..Capabilities::full(Family::Sm.name(), profile, 128, 1024)
    };
    match profile {
        "sim7080" => Some(base),
        _ => None,
    }
}

/// Longest user name (`+SMCONF: "USERNAME",256`).
pub const USERNAME_MAX: usize = 256;

/// Picks the profile from the model name (`AT+CGMM`): every SM module is the SIM7080
/// profile for now.
pub fn profile_for_model(_model: &str) -> &'static str {
    "sim7080"
}
