//! The SIMCom `AT+SM*` command set of the virtual modem (profile sim7080).
//!
//! Sources: the SIM7070_SIM7080_SIM7090 AT Command Manual V1.05 ("ATM": chapter 17 MQTT,
//! 9 file system, 11 SSL, 22.3 URCs), the MQTT(S) Application Note V1.03 ("AN80") and a
//! SIM7000 field log (botletics SIM7000_AWS_Log.txt); docs/fidelity.md names the source of
//! every behaviour and the guesses.
//!
//! * One client. `AT+SMCONF` stores the parameters (ranges of its test answer, ATM
//!   §17.2.1) with a lenient parser (unquoted tags and hosts, a quoted port,
//!   `"host:port"`: AN80 §5.1, field logs).
//! * `AT+SMCONN` is synchronous: no `OK` until the broker's CONNACK, `ERROR` when the
//!   connection fails, whatever the reason (ATM §17.2.3; field: 26 s on AWS).
//!   `AT+SMPUB` (QoS 1/2), `AT+SMSUB`, `AT+SMUNSUB` and `AT+SMDISC` answer once the broker
//!   acknowledged (a guess: the manual only says `OK`/`ERROR`).
//! * `AT+SMPUB` prompts with `> ` (the field log's form), takes `<len>` raw bytes.
//! * Received messages: `+SMSUB: "<topic>","<message>"` (ATM §17.2.13), the message raw.
//! * The bearer `AT+CNACT=0,<0|1>` is context 1 of the core, up at power-on like every
//!   profile's; `+APP PDP: 0,ACTIVE` / `+APP PDP: 0,DEACTIVE` (ATM §22.3).
//! * A lost link: `+SMSTATE: 0` (field log; not in the manual's URC list).
//! * TLS: `AT+CFSINIT`/`AT+CFSWFILE`/`AT+CFSTERM` store files, `AT+CSSLCFG="CONVERT"`
//!   takes them as CA or client certificate and key, `AT+SMSSL` picks them; the link is
//!   real TLS (`ssl::tls_setup`).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::args::{int, split_args, Arg, Cmd, Form, Resp};
use super::conn::{LinkEvent, OutPublish};
use super::modem::{own_data, FamilyData, Modem, SimFamily};
use super::parser::Next;
use super::profile::{Family, Profile};
use super::Shared;

mod mqtt;
mod ssl;

/// SIM7080 (ATM V1.05): identity from §3.2.2 (`AT+CGMM` -> `SIMCOM_SIM7080`) and §3.2.3
/// (`AT+CGMR` -> `Revision:1951B02SIM7080`); payloads 0-1024 (`+SMPUB` test answer);
/// SSL contexts 0-5 (`AT+CSSLCFG`).
pub(crate) static SIM7080: Profile = Profile {
    name: "sim7080",
    family: Family::Sm,
    // The manual prints no AT+CGMI example: SIMCom's usual answer (a guess).
    manufacturer: "SIMCOM INCORPORATED",
    model: "SIMCOM_SIM7080",
    revision: "1951B02SIM7080",
    imei: "869951030000081",
    imsi: "460041234567895",
    iccid: "89860412345678901239",
    clients: 1,
    client_id_max: 128,
    server_addr_len: (1, 246),
    ssl_ctx_max: 5,
    payload_max: 1024,
    // LTE-M (E-UTRAN); CAT-M reports 7.
    act: 7,
    // The boot lines are not in the manual: SIMCom's usual ones (a guess).
    boot_urcs: &["RDY", "+CFUN: 1", "+CPIN: READY", "SMS Ready"],
};

pub(crate) static PROFILES: [&Profile; 1] = [&SIM7080];

/// `AT+SMCONF` values (ATM §17.2.1; defaults from the read example).
#[derive(Clone)]
pub(crate) struct Conf {
    pub(crate) url: Option<(String, u16)>,
    pub(crate) client_id: String,
    pub(crate) keeptime: u16,
    pub(crate) cleanss: bool,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) topic: String,
    pub(crate) message: String,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    pub(crate) subhex: bool,
    pub(crate) asyncmode: bool,
}

impl Default for Conf {
    fn default() -> Self {
        Conf {
            url: None,
            client_id: String::new(),
            keeptime: 60,
            cleanss: false,
            username: String::new(),
            password: String::new(),
            topic: String::new(),
            message: String::new(),
            qos: 0,
            retain: false,
            subhex: false,
            asyncmode: false,
        }
    }
}

/// The command that waits for the broker (the commands are synchronous).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Waiting {
    Conn,
    Pub,
    Sub,
    Unsub,
    Disc,
}

/// What the host types after a prompt.
pub(crate) enum DataKind {
    Pub {
        topic: String,
        qos: u8,
        retain: bool,
    },
}

/// The SM state of the modem.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) conf: Conf,
    /// `AT+SMSSL`: index (0 no SSL, 1-6 context 0-5), CA name, certificate name.
    pub(crate) smssl: (u8, String, String),
    pub(crate) pubhex: bool,
    pub(crate) waiting: Option<Waiting>,
    /// `AT+CFSINIT` done and not yet `AT+CFSTERM`.
    pub(crate) fs_open: bool,
    /// Files converted as CA (`AT+CSSLCFG="CONVERT",2`).
    pub(crate) cas: Vec<String>,
    /// Certificates converted with their key (`AT+CSSLCFG="CONVERT",1`).
    pub(crate) certs: BTreeMap<String, String>,
    /// `AT+CSSLCFG="SSLVERSION"` per context (default 3, a guess).
    pub(crate) sslversion: BTreeMap<u8, u8>,
    /// Messages that arrived while a command waited for the broker (written after its
    /// final result).
    pub(crate) held: Vec<u8>,
    /// `AT+SMRCVSLPTM`: on, and the sleep time in ms (power-on values not documented).
    pub(crate) rcvslptm: (bool, u16),
}

/// The SM family (see [`SimFamily`]).
pub(crate) struct Sm;

super::modem::sim_family!(Sm, State, &PROFILES, |_| State::default());

impl SimFamily for Sm {
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next> {
        match (c.name, c.form) {
            ("CGMR" | "GMR", Form::Exec) => {
                r.answer(&format!("Revision:{}", m.profile.revision));
                Some(Next::Line)
            }
            // AN80 §5.2 checks the clock before TLS: the host's UTC time, in 3GPP's form.
            ("CCLK", Form::Read) => {
                r.answer(&format!("+CCLK: \"{}\"", cclk_now()));
                Some(Next::Line)
            }
            // ATM §5.2.x prints this revision (1351...: copied from the SIM7000 manual).
            ("GSV", Form::Exec) => {
                r.line("SIMCOM_Ltd");
                r.line(m.profile.model);
                r.answer("Revision:1351B01SIM7080");
                Some(Next::Line)
            }
            ("CNACT", f) => {
                m.cnact(f, r);
                Some(Next::Line)
            }
            ("CSSLCFG", f) => {
                m.sm_csslcfg(f, r);
                Some(Next::Line)
            }
            ("CFSINIT" | "CFSTERM" | "CFSWFILE" | "CFSDFILE", f) => Some(m.cfs(c.name, f, r)),
            ("SMSSL", f) => {
                m.smssl(f, r);
                Some(Next::Line)
            }
            (name, form) => {
                let cmd = name.strip_prefix("SM")?;
                Some(m.sm(sh, cmd, form, r))
            }
        }
    }

    fn data_done(&self, m: &mut Modem, kind: FamilyData, data: Vec<u8>, r: &mut Resp) {
        own_data(kind, r, |k: DataKind, r| m.sm_data_done(k, data, r))
    }

    fn link_event(&self, _sh: &Shared, m: &mut Modem, _idx: u8, ev: LinkEvent, out: &mut Vec<u8>) {
        mqtt::sm_event(m, ev, out)
    }

    /// The bearer (context 1 here) went down: `+APP PDP: 0,DEACTIVE` (ATM §22.3), then
    /// `+SMSTATE: 0` for a connected link (a guess: the field log shows it for a broker
    /// close), or `ERROR` for a connect still waiting.
    fn context_down(&self, m: &mut Modem, cid: u8, _by_network: bool, r: &mut Resp) {
        if cid != 1 {
            return;
        }
        r.urc_after("+APP PDP: 0,DEACTIVE".to_owned());
        if let Some(l) = m.take_link(0) {
            let waiting = st_mut(&mut m.fam).waiting.take();
            if let Some(w) = waiting {
                r.urc_after(mqtt::lost_answer(w).to_owned());
            }
            if let Some(held) = held_text(m) {
                r.urc_after(held);
            }
            if l.connected {
                r.urc_after("+SMSTATE: 0".to_owned());
            }
            drop(l);
        }
    }

    fn link_causes(&self) -> RangeInclusive<u8> {
        1..=1
    }

    /// `+SMSTATE: 0` (no cause in the URC), and the final result of a command that was
    /// waiting for the broker.
    fn link_lost(&self, m: &mut Modem, _idx: u8, _cause: u8) -> String {
        let mut urc = "+SMSTATE: 0".to_owned();
        if let Some(w) = st_mut(&mut m.fam).waiting.take() {
            urc.push_str("\r\n\r\n");
            urc.push_str(mqtt::lost_answer(w));
        }
        if let Some(held) = held_text(m) {
            urc.push_str("\r\n");
            urc.push_str(&held);
        }
        urc
    }
}

/// The messages held for a command's final result, as text (the paths that report a lost
/// link write text: a held payload that is not UTF-8 is written lossily, logged).
fn held_text(m: &mut Modem) -> Option<String> {
    let held = std::mem::take(&mut st_mut(&mut m.fam).held);
    if held.is_empty() {
        return None;
    }
    let text = String::from_utf8(held).unwrap_or_else(|e| {
        log::warn!("virtual modem: a held message is not UTF-8; written lossily");
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    });
    Some(text.trim_matches(['\r', '\n']).to_owned())
}

/// A tag or value as the lenient parser takes it: quoted or not.
fn text(args: &[Arg], i: usize) -> Option<&str> {
    args.get(i).map(|a| a.text.as_str())
}

impl Modem {
    /// `AT+CNACT`: bearer 0 is the core's context 1 (AN80 §4.1: `AT+CNACT=0,1` -> `OK`,
    /// `+APP PDP: 0,ACTIVE`).
    fn cnact(&mut self, f: Form<'_>, r: &mut Resp) {
        match f {
            Form::Test => r.answer("+CNACT: (0-3),(0-2)"),
            Form::Read => {
                let up = self.active.contains(&1);
                let ip = if up { "10.0.0.2" } else { "0.0.0.0" };
                r.line(&format!("+CNACT: 0,{},\"{ip}\"", u8::from(up)));
                for i in 1..4 {
                    r.line(&format!("+CNACT: {i},0,\"0.0.0.0\""));
                }
                r.ok()
            }
            Form::Write(a) => {
                let args = split_args(a);
                let (Some(idx), Some(action)) = (int(&args, 0, 0, 3), int(&args, 1, 0, 2)) else {
                    return r.error();
                };
                if idx != 0 {
                    // Only bearer 0 is imitated.
                    return r.error();
                }
                match action {
                    0 => {
                        if !self.active.contains(&1) {
                            return r.error();
                        }
                        r.ok();
                        self.contexts_down(&[1], false, r);
                    }
                    _ => {
                        // Already up (as at power-on here): answered as a first activation
                        // (a guess), so that the manual's examples, which start with it, run.
                        if !self.active.contains(&1) && !self.context_up(1) {
                            return r.error();
                        }
                        r.ok();
                        r.urc_after("+APP PDP: 0,ACTIVE".to_owned());
                    }
                }
            }
            Form::Exec => r.error(),
        }
    }

    fn sm(&mut self, sh: &Arc<Shared>, cmd: &str, form: Form<'_>, r: &mut Resp) -> Next {
        match (cmd, form) {
            ("CONF", Form::Test) => {
                for l in [
                    "\"CLIENTID\",(0-128)",
                    "\"URL\",246,(0-65535)",
                    "\"KEEPTIME\",(0-65535)",
                    "\"USERNAME\",256",
                    "\"PASSWORD\",512",
                    "\"CLEANSS\",(0,1)",
                    "\"QOS\",(0-2)",
                    "\"TOPIC\",128",
                    "\"MESSAGE\",1024",
                    "\"RETAIN\",(0,1)",
                    "\"SUBHEX\",(0,1)",
                    "\"ASYNCMODE\",(0,1)",
                ] {
                    r.line(&format!("+SMCONF: {l}"));
                }
                r.ok()
            }
            ("CONF", Form::Read) => self.smconf_read(r),
            ("CONF", Form::Write(a)) => self.smconf_write(a, r),
            ("CONN", Form::Exec) => self.smconn(sh, r),
            ("PUB", Form::Test) => r.answer("+SMPUB: 128,(0-1024),(0-2),(0-1)"),
            ("PUB", Form::Write(a)) => return self.smpub(a, r),
            ("SUB", Form::Test) => r.answer("+SMSUB: 128,(0-2)"),
            ("SUB", Form::Write(a)) => self.smsub(a, r),
            ("UNSUB", Form::Test) => r.answer("+SMUNSUB: 128"),
            ("UNSUB", Form::Write(a)) => self.smunsub(a, r),
            ("DISC", Form::Exec) => self.smdisc(r),
            ("STATE", Form::Test) => r.answer("+SMSTATE: (0-2)"),
            ("STATE", Form::Read) => {
                let on = self.links[0].as_ref().is_some_and(|l| l.connected);
                r.answer(&format!("+SMSTATE: {}", u8::from(on)))
            }
            // ATM §17.2.12: the MQTT thread's sleep time (stored, nothing else).
            ("RCVSLPTM", Form::Test) => r.answer("+SMRCVSLPTM: (0,1),(10,500)"),
            ("RCVSLPTM", Form::Read) => {
                let (on, ms) = st(&self.fam).rcvslptm;
                r.answer(&format!("+SMRCVSLPTM: {},{ms}", u8::from(on)))
            }
            ("RCVSLPTM", Form::Write(a)) => {
                let args = split_args(a);
                match (int(&args, 0, 0, 1), int(&args, 1, 10, 500)) {
                    (Some(on), Some(ms)) if args.len() == 2 => {
                        st_mut(&mut self.fam).rcvslptm = (on == 1, ms as u16);
                        r.ok()
                    }
                    (Some(on), None) if args.len() == 1 => {
                        st_mut(&mut self.fam).rcvslptm.0 = on == 1;
                        r.ok()
                    }
                    _ => r.error(),
                }
            }
            // ATM §17.2.10: the Alibaba triple (20/32/40 bytes); the module signs the login
            // itself. Here the embedded broker checks no signature: the device name is the
            // client id and "<device>&<product>" the user name (Alibaba's scheme, a guess).
            ("ALIAUTH", Form::Write(a)) => {
                let args = split_args(a);
                let ok = args.len() == 3
                    && args.iter().all(|a| a.quoted && !a.text.is_empty())
                    && args[0].text.len() <= 20
                    && args[1].text.len() <= 32
                    && args[2].text.len() <= 40;
                if !ok {
                    r.error();
                    return Next::Line;
                }
                let c = &mut st_mut(&mut self.fam).conf;
                c.client_id = args[1].text.clone();
                c.username = format!("{}&{}", args[1].text, args[0].text);
                c.password = args[2].text.clone();
                r.ok()
            }
            ("PUBHEX", Form::Test) => r.answer("+SMPUBHEX: (0-1)"),
            ("PUBHEX", Form::Read) => {
                let v = st(&self.fam).pubhex;
                r.answer(&format!("+SMPUBHEX: {}", u8::from(v)))
            }
            ("PUBHEX", Form::Write(a)) => match int(&split_args(a), 0, 0, 1) {
                Some(v) => {
                    st_mut(&mut self.fam).pubhex = v == 1;
                    r.ok()
                }
                None => r.error(),
            },
            _ => r.error(),
        }
        Next::Line
    }

    fn smconf_read(&self, r: &mut Resp) {
        let c = &st(&self.fam).conf;
        let (host, port) = c
            .url
            .clone()
            .unwrap_or_else(|| ("0.0.0.0".to_owned(), 1883));
        r.line("+SMCONF:");
        for l in [
            format!("CLIENTID:\"{}\"", c.client_id),
            format!("URL:\"{host}\",{port}"),
            format!("KEEPTIME:{}", c.keeptime),
            format!("USERNAME:\"{}\"", c.username),
            format!("PASSWORD:\"{}\"", c.password),
            format!("CLEANSS:{}", u8::from(c.cleanss)),
            format!("QOS:{}", c.qos),
            format!("TOPIC:\"{}\"", c.topic),
            format!("MESSAGE:\"{}\"", c.message),
            format!("RETAIN:{}", u8::from(c.retain)),
            format!("SUBHEX:{}", u8::from(c.subhex)),
            format!("ASYNCMODE:{}", u8::from(c.asyncmode)),
        ] {
            r.raw(l.as_bytes());
            r.raw(b"\r\n");
        }
        r.ok()
    }

    /// `AT+SMCONF=<tag>,<value>`: tags and values as quoted or not (ATM examples quote
    /// them, the field log `AT+SMCONF=url,<host>,8883` does not).
    fn smconf_write(&mut self, a: &str, r: &mut Resp) {
        let args = split_args(a);
        let Some(tag) = text(&args, 0).map(str::to_ascii_uppercase) else {
            return r.error();
        };
        let value = text(&args, 1).unwrap_or("").to_owned();
        let flag = |i: usize| int(&args, i, 0, 1).map(|v| v == 1);
        let c = &mut st_mut(&mut self.fam).conf;
        let within = |max: usize| (value.len() <= max).then(|| value.clone());
        let ok = match tag.as_str() {
            "URL" if args.len() == 2 || args.len() == 3 => {
                parse_url(&args).map(|u| c.url = Some(u))
            }
            "CLIENTID" => within(128).map(|v| c.client_id = v),
            "KEEPTIME" => int(&args, 1, 0, 65535).map(|v| c.keeptime = v as u16),
            "CLEANSS" => flag(1).map(|v| c.cleanss = v),
            "USERNAME" => within(256).map(|v| c.username = v),
            "PASSWORD" => within(512).map(|v| c.password = v),
            "QOS" => int(&args, 1, 0, 2).map(|v| c.qos = v as u8),
            "TOPIC" => within(128).map(|v| c.topic = v),
            "MESSAGE" => within(1024).map(|v| c.message = v),
            "RETAIN" => flag(1).map(|v| c.retain = v),
            "SUBHEX" => flag(1).map(|v| c.subhex = v),
            "ASYNCMODE" => flag(1).map(|v| c.asyncmode = v),
            _ => None,
        };
        if ok.is_some() && (args.len() == 2 || tag == "URL") {
            r.ok()
        } else {
            r.error()
        }
    }
}

/// `"URL","<host>",<port>` with the port quoted or not, or `"URL","<host>:<port>"`, or
/// `"URL","<host>"` (port 1883, the default of ATM §17.2.1).
fn parse_url(args: &[Arg]) -> Option<(String, u16)> {
    let host = text(args, 1)?;
    if host.is_empty() || host.len() > 246 {
        return None;
    }
    if let Some(p) = text(args, 2) {
        return Some((host.to_owned(), p.parse().ok()?));
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h.to_owned(), p.parse().ok()?)),
        _ => Some((host.to_owned(), 1883)),
    }
}

/// Now as `yy/MM/dd,hh:mm:ss+zz` (3GPP TS 27.007 `+CCLK`), in UTC.
fn cclk_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86400) as i64, secs % 86400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:02}/{month:02}/{day:02},{:02}:{:02}:{:02}+00",
        year % 100,
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}
