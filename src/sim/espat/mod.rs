//! Espressif ESP-AT `AT+MQTT*` (profile esp32-at): an ESP32 running Espressif's AT
//! firmware, joined to a Wi-Fi access point. Every behaviour and its source (or "guess")
//! is listed in docs/fidelity.md; the main ones:
//!
//! * Not a cellular modem: only ESP-AT's own commands are answered; `AT+CGMI`,
//!   `AT+CMEE`, `AT+CSQ`, `AT+CREG?`... answer `ERROR` (Basic AT Commands lists none of
//!   them), with `ERR CODE:0x01090000` once `AT+SYSLOG=1`.
//! * Quoted parameters take ESP-AT's escapes (`\\`, `\"`, `\,`); an unescaped comma splits
//!   the parameter even inside quotes (field log esp32c3_espat647_unescaped_comma), and a
//!   line of 256 bytes or more is refused.
//! * `AT+MQTTCONN`, `AT+MQTTSUB` and `AT+MQTTUNSUB` answer once the broker did
//!   (`+MQTTCONNECTED:...` then `OK`; `+MQTTDISCONNECTED:0` then `ERROR` on failure);
//!   `AT+MQTTPUBRAW` answers `OK`, `>`, and after the data `+MQTTPUB:OK` or `FAIL`.
//! * Received messages: `+MQTTSUBRECV:0,"<topic>",<len>,<raw data>`, split in parts when
//!   the MQTT packet exceeds the 1024-byte receive buffer.
//! * The module starts joined (`AT+CWAUTOCONN` default 1 joins the stored AP at boot) and
//!   prints `ready`, `WIFI CONNECTED`, `WIFI GOT IP` after a restart.

use std::ops::RangeInclusive;
use std::sync::Arc;

use super::args::{Arg, Cmd, Form, Resp};
use super::conn::{LinkEvent, OutPublish};
use super::modem::Modem;
use super::modem::{own_data, FamilyData, SimFamily};
use super::parser::Next;
use super::profile::{Family, Profile};
use super::Shared;

mod mqtt;

pub(crate) static ESP32_AT: Profile = Profile {
    name: "esp32-at",
    family: Family::EspAt,
    manufacturer: "Espressif",
    model: "ESP32",
    // Basic AT Commands, AT+GMR example (the chip name in place of {IDF_TARGET_NAME}).
    revision: "2.2.0.0-dev(ca41ec4 - ESP32 - Sep 16 2020 11:28:17)",
    // The station MAC (AT+CIPSTAMAC?) stands where a cellular modem has its IMEI.
    imei: "24:0a:c4:12:34:56",
    imsi: "",
    iccid: "",
    clients: 1,
    client_id_max: 1024,
    server_addr_len: (1, 128),
    ssl_ctx_max: 0,
    // Received messages are split, not refused (see `mqtt::subrecv`).
    payload_max: 1 << 20,
    act: 7,
    boot_urcs: &["ready", "WIFI CONNECTED", "WIFI GOT IP"],
};

pub(crate) static PROFILES: [&Profile; 1] = [&ESP32_AT];

/// `AT+GMR` (Basic AT Commands example).
const GMR: [&str; 4] = [
    "AT version:2.2.0.0-dev(ca41ec4 - ESP32 - Sep 16 2020 11:28:17)",
    "SDK version:v4.0.1-193-ge7ac221b4",
    "compile time(98b95fc):Oct 29 2020 11:23:25",
    "Bin version:2.1.0(MINI-1)",
];

/// "The length of the entire AT command should be less than 256 bytes".
pub(crate) const LINE_MAX: usize = 256;

/// `ERR CODE` values (Basic AT Commands, AT+SYSLOG; MQTT AT Commands, error codes).
pub(crate) const ERR_PARSE: u32 = 0x0108_0002;
pub(crate) const ERR_NOT_SUPPORTED: u32 = 0x0109_0000;
/// Category 0x01, subcategory 0x0A "command execution failed", with an MQTT code.
pub(crate) const fn mqtt_err(code: u32) -> u32 {
    0x010a_0000 | code
}

/// What a blocking command waits for from the link.
#[derive(Clone, PartialEq)]
pub(crate) enum Waiting {
    Conn,
    Sub(String, u8),
    Unsub(String),
}

/// A will of `AT+MQTTCONNCFG`: topic, message, QoS, retain.
pub(crate) type Will = (String, String, u8, bool);

/// The ESP-AT state of the modem (link 0's configuration; its link is `Modem::links[0]`).
pub(crate) struct State {
    pub(crate) syslog: bool,
    pub(crate) autoconn: bool,
    /// Joined to the access point.
    pub(crate) wifi: bool,
    /// `AT+MQTTUSERCFG`: scheme, client id, user name, password, path.
    pub(crate) user: Option<(u8, String, String, String, String)>,
    /// `AT+MQTTCONNCFG`: keepalive, disable_clean_session, will.
    pub(crate) conncfg: Option<(u16, bool, Option<Will>)>,
    pub(crate) sni: Option<String>,
    /// `AT+MQTTCONN`: host, port, reconnect (for the URC and the read form).
    pub(crate) target: Option<(String, u16, u8)>,
    /// The link was up and went down (`AT+MQTTCONN?` state 3).
    pub(crate) dropped: bool,
    pub(crate) waiting: Vec<Waiting>,
    /// Subscriptions with their QoS, in order.
    pub(crate) subs: Vec<(String, u8)>,
}

impl State {
    fn new() -> State {
        State {
            syslog: false,
            autoconn: true,
            wifi: true,
            user: None,
            conncfg: None,
            sni: None,
            target: None,
            dropped: false,
            waiting: Vec::new(),
            subs: Vec::new(),
        }
    }
}

/// `ERR CODE:0x<code>` (with `AT+SYSLOG=1`) then `ERROR`.
pub(crate) fn fail(m: &Modem, r: &mut Resp, code: u32) {
    if st(&m.fam).syslog {
        r.line(&format!("ERR CODE:0x{code:08x}"));
    }
    r.error();
}

/// The same as bytes for a link report.
pub(crate) fn fail_bytes(m: &Modem, code: u32, out: &mut Vec<u8>) {
    if st(&m.fam).syslog {
        out.extend_from_slice(format!("\r\nERR CODE:0x{code:08x}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\nERROR\r\n");
}

/// Splits parameters as ESP-AT does: `\` makes the next character literal, `"` opens
/// and closes a string, and an unescaped `,` always ends a parameter, even between
/// quotes. `None` when a parameter is not a whole string or a bare value.
pub(crate) fn esp_args(s: &str) -> Option<Vec<Arg>> {
    let mut out = Vec::new();
    let mut raw: Vec<(char, bool)> = Vec::new();
    let mut chars = s.chars();
    let mut fields: Vec<Vec<(char, bool)>> = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => raw.push((chars.next()?, true)),
            ',' => fields.push(std::mem::take(&mut raw)),
            c => raw.push((c, false)),
        }
    }
    fields.push(raw);
    for f in fields {
        let trimmed: Vec<(char, bool)> = {
            let start = f.iter().position(|(c, e)| *e || !c.is_whitespace());
            let end = f.iter().rposition(|(c, e)| *e || !c.is_whitespace());
            match (start, end) {
                (Some(a), Some(b)) => f[a..=b].to_vec(),
                _ => Vec::new(),
            }
        };
        let is_quote = |x: &(char, bool)| x.0 == '"' && !x.1;
        let quoted = trimmed.first().is_some_and(is_quote);
        let inner = if quoted {
            if trimmed.len() < 2 || !trimmed.last().is_some_and(is_quote) {
                return None;
            }
            &trimmed[1..trimmed.len() - 1]
        } else {
            &trimmed[..]
        };
        if inner.iter().any(is_quote) {
            return None;
        }
        out.push(Arg {
            text: inner.iter().map(|(c, _)| *c).collect(),
            quoted,
        });
    }
    Some(out)
}

/// Integer parameter `i` (unquoted) within `lo..=hi`.
pub(crate) fn int(args: &[Arg], i: usize, lo: i64, hi: i64) -> Option<i64> {
    let a = args.get(i).filter(|a| !a.quoted)?;
    let v: i64 = a.text.parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

/// Quoted string parameter `i`, at most `max` bytes.
pub(crate) fn text(args: &[Arg], i: usize, max: usize) -> Option<String> {
    let a = args.get(i).filter(|a| a.quoted)?;
    (a.text.len() <= max).then(|| a.text.clone())
}

impl Modem {
    /// `AT+SYSLOG` and `AT+CWAUTOCONN` (read and write forms): a setting that is 0 (off)
    /// or 1 (on).
    fn esp_switch(&mut self, name: &str, form: Form<'_>, r: &mut Resp) {
        fn switch<'s>(s: &'s mut State, name: &str) -> &'s mut bool {
            if name == "SYSLOG" {
                &mut s.syslog
            } else {
                &mut s.autoconn
            }
        }
        match form {
            Form::Write(a) => match esp_args(a).and_then(|v| int(&v, 0, 0, 1)) {
                Some(v) => {
                    *switch(st_mut(&mut self.fam), name) = v == 1;
                    r.ok()
                }
                None => fail(self, r, ERR_PARSE),
            },
            _ => {
                let on = *switch(st_mut(&mut self.fam), name);
                r.answer(&format!("+{name}:{}", u8::from(on)))
            }
        }
    }

    fn esp(&mut self, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Next {
        // The whole line: "AT+", the name, the rest and CR LF.
        let rest = match c.form {
            Form::Exec => 0,
            Form::Read => 1,
            Form::Test => 2,
            Form::Write(a) => 1 + a.len(),
        };
        if 3 + c.name.len() + rest + 2 > LINE_MAX {
            fail(self, r, ERR_PARSE);
            return Next::Line;
        }
        if let Some(cmd) = c.name.strip_prefix("MQTT") {
            return self.esp_mqtt(sh, cmd, c.form, r);
        }
        match (c.name, c.form) {
            ("GMR", Form::Exec) => {
                for l in GMR {
                    r.line(l);
                }
                r.ok()
            }
            ("SYSLOG" | "CWAUTOCONN", Form::Read | Form::Write(_)) => {
                self.esp_switch(c.name, c.form, r)
            }
            ("SYSMFG", Form::Write(a)) => return self.esp_sysmfg(a, r),
            // Wi-Fi AT Commands, AT+CWJAP? (ssid, bssid, channel, rssi, ...) or "No AP".
            ("CWJAP", Form::Read) => {
                if st(&self.fam).wifi {
                    r.line("+CWJAP:\"modemqtt-lab\",\"ec:26:ca:12:34:56\",6,-52,0,1,3,0,1");
                } else {
                    r.line("No AP");
                }
                r.ok()
            }
            ("CIPSTAMAC", Form::Read) => {
                let mac = self.profile.imei;
                r.answer(&format!("+CIPSTAMAC:\"{mac}\""))
            }
            ("CIPSNTPCFG", Form::Write(_)) => r.ok(),
            ("CIPSNTPTIME", Form::Read) => r.answer("+CIPSNTPTIME:Wed Jan 19 20:13:10 2022"),
            _ => fail(self, r, ERR_NOT_SUPPORTED),
        }
        Next::Line
    }
}

/// The ESP-AT family (see [`SimFamily`]).
pub(crate) struct EspAt;

super::modem::sim_family!(EspAt, State, &PROFILES, |_| State::new());

impl SimFamily for EspAt {
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next> {
        Some(m.esp(sh, c, r))
    }

    fn data_done(&self, m: &mut Modem, kind: FamilyData, data: Vec<u8>, r: &mut Resp) {
        own_data(kind, r, |k: mqtt::DataKind, r| m.esp_data_done(k, data, r))
    }

    fn link_event(&self, _sh: &Shared, m: &mut Modem, _idx: u8, ev: LinkEvent, out: &mut Vec<u8>) {
        m.esp_event(ev, out)
    }

    /// The settings of `AT+SYSLOG`, `AT+CWAUTOCONN` and the Wi-Fi join are not kept over a
    /// restart except what lives in flash (certificates, `AT+CWAUTOCONN`).
    fn after_reset(&self, old: &mut Modem, new: &mut Modem) {
        let auto = st(&old.fam).autoconn;
        let s = st_mut(&mut new.fam);
        s.autoconn = auto;
        s.wifi = auto;
    }

    fn link_causes(&self) -> RangeInclusive<u8> {
        1..=2
    }

    /// 1: the broker or the network closed the MQTT connection (`+MQTTDISCONNECTED:0`);
    /// 2: the access point went away and came back (`WIFI DISCONNECT`, the MQTT loss,
    /// then the rejoin `WIFI CONNECTED`, `WIFI GOT IP`).
    fn link_lost(&self, m: &mut Modem, _idx: u8, cause: u8) -> String {
        let waiting = !std::mem::take(&mut st_mut(&mut m.fam).waiting).is_empty();
        m.esp_dropped();
        let mut out = String::new();
        if cause == 2 {
            out.push_str("WIFI DISCONNECT\r\n\r\n");
        }
        out.push_str("+MQTTDISCONNECTED:0");
        if waiting {
            // A command still waiting for the broker fails (field log
            // esp32_espat478_sub_disconnected: `+MQTTDISCONNECTED:0` then `ERROR`).
            if st(&m.fam).syslog {
                out.push_str(&format!("\r\n\r\nERR CODE:0x{:08x}", mqtt_err(0x6051)));
            }
            out.push_str("\r\n\r\nERROR");
        }
        if cause == 2 {
            out.push_str("\r\n\r\nWIFI CONNECTED\r\n\r\nWIFI GOT IP");
        }
        out
    }
}
