//! The ESP-AT family's [`FamilySpec`] and its [`ModemPath`] (set-up and identity of a
//! Wi-Fi chip, which has none of the cellular identification commands).

use std::time::Duration;

use super::{chip, raw_rules, urc_router, Context, PROFILE, READY, SUBRECV};
use crate::at::build;
use crate::at::session::{Command, Expect};
use crate::dialect::{
    distributed_slice, no_line_parsers, open_context_clients, Family, FamilyInfo, FamilySpec,
    MessageRules, ModemPath, ProbeExchange, ProfileBy, MODEM_PATHS,
};
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};

// Espressif ESP-AT `AT+MQTT*`.
crate::family_spec!(FamilySpec {
    // The MQTT reference documents no test command (`=?`); the read form of AT+MQTTCONN
    // is documented and answers `+MQTTCONN:...` and `OK` on every firmware with MQTT (and
    // `ERROR` on firmware without it, such as ESP8266 AT 1.7).
    info: FamilyInfo::new(
        Family::EspAt,
        "espat",
        &["esp-at", "esp32", "espressif"],
        "AT+MQTTCONN?",
        None,
    ),
    raw_rules,
    max_clients: 1,
    urc_router,
    profile: ProfileBy::Probe(probe_profile),
    qmt_options: false,
    open_clients: open_context_clients::<Context>,
    probes: [
        ProbeExchange::awaiting(
            "AT+MQTTPUB=0,\"a/b\",\"x\",1,0",
            None,
            b"+MQTTPUB:",
            b"+MQTTPUB:OK",
        ),
        ProbeExchange::awaiting(
            "AT+MQTTPUBRAW=0,\"a/b\",3,1,0",
            Some(b"a,b"),
            b"+MQTTPUB:",
            b"+MQTTPUB:OK",
        ),
    ],
    // The topic is printed raw between quotes (a `"` in it is read by position); the
    // payload is counted.
    message_rules: MessageRules::QUOTED_TOPIC,
    encode_message,
    parse_line: no_line_parsers,
});

#[distributed_slice(MODEM_PATHS)]
static PATH: ModemPath = ModemPath {
    family: Family::EspAt,
    boot_line: READY,
    // `ERR CODE:0x...` lines before each `ERROR` (Basic AT Commands, AT+SYSLOG).
    setup: &["AT+SYSLOG=1"],
    identity,
    signal_dbm,
    raw_command,
};

/// `AT+MQTTPUBRAW` answers `OK`, `>`, and `+MQTTPUB:OK|FAIL` after the data;
/// `AT+MQTTLONG*` and `AT+SYSMFG=2` answer `OK`, `>`, and `OK` after the data.
fn raw_command(line: &str, c: &mut Command) {
    let upper = line.trim().to_ascii_uppercase();
    if upper.starts_with("AT+MQTTPUBRAW=") {
        *c = c.clone().with_expect(Expect::prefix(b"+MQTTPUB:".to_vec()));
    } else if upper.starts_with("AT+MQTTLONG") || upper.starts_with("AT+SYSMFG=2,") {
        c.ok_before_prompt = true;
    }
}

fn gmr(engine: &Engine, timeout: Duration) -> Result<Vec<String>> {
    let r = engine.execute(Command::new(build("AT+GMR", &[])?, timeout))?;
    Ok(r.text_lines())
}

/// Every firmware whose `AT+GMR` starts with `AT version:` and that has the MQTT commands
/// (the probe) is the one profile.
fn probe_profile(engine: &Engine, timeout: Duration) -> Result<String> {
    let lines = gmr(engine, timeout)?;
    match lines.first() {
        Some(l) if l.starts_with("AT version:") => Ok(PROFILE.to_string()),
        _ => Err(Error::Protocol(format!(
            "AT+GMR: no \"AT version:\" line (got {lines:?})"
        ))),
    }
}

/// `AT+GMR` (Basic AT Commands): `AT version:...`, `SDK version:...`, `compile time...`,
/// `Bin version:...`; the chip is named in the first line. The station MAC
/// (`AT+CIPSTAMAC?`) stands for the serial number.
fn identity(engine: &Engine, timeout: Duration) -> Result<[String; 4]> {
    let lines = gmr(engine, timeout)?;
    let first = lines.first().cloned().unwrap_or_default();
    let Some(version) = first.strip_prefix("AT version:") else {
        return Err(Error::Protocol(format!(
            "AT+GMR: no \"AT version:\" line (got {lines:?})"
        )));
    };
    let model = chip(&first).unwrap_or_else(|| "ESP".to_string());
    let mac = engine
        .execute(Command::new(build("AT+CIPSTAMAC?", &[])?, timeout))
        .ok()
        .and_then(|r: Response| r.value("+CIPSTAMAC:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    Ok(["Espressif".to_string(), model, version.to_string(), mac])
}

/// `AT+CWJAP?` -> `+CWJAP:<ssid>,<bssid>,<channel>,<rssi>,...` (Wi-Fi AT Commands); the
/// RSSI is in dBm. Not joined: `No AP` and `OK`.
fn signal_dbm(engine: &Engine, timeout: Duration) -> Result<i32> {
    let r = engine.execute(Command::new(build("AT+CWJAP?", &[])?, timeout))?;
    let Some(v) = r.value("+CWJAP:") else {
        return Err(Error::Other(
            "AT+CWJAP?: the module has not joined an access point".into(),
        ));
    };
    // The SSID is quoted and may hold commas: count fields from after its closing quote.
    let after_ssid = v.rsplit_once("\",").map(|(_, rest)| rest).unwrap_or(&v);
    after_ssid
        .split(',')
        .nth(1)
        .and_then(|f| f.trim().parse::<i32>().ok())
        .ok_or_else(|| Error::Protocol(format!("AT+CWJAP?: cannot read the RSSI in {v:?}")))
}

/// `+MQTTSUBRECV:0,"<topic>",<len>,<data>`: one URC whatever `part` says. The module
/// splits only messages past its receive buffer, into parts that carry no total or
/// offset, which the client delivers as messages of their own (docs/espat.md).
fn encode_message(_index: u8, topic: &str, payload: &[u8], _part: usize, _msgid: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + topic.len() + 32);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(SUBRECV);
    out.extend_from_slice(format!("0,\"{topic}\",{},", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}
