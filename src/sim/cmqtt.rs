//! The SIMCom `AT+CMQTT*` command set of the virtual modem (profiles a7600, sim7600,
//! sim7028).
//!
//! Choices where the manuals are silent or unclear (framing and echo: see `parser`):
//!
//! * A second `AT+CMQTTSTART` answers `+CMQTTSTART: 23` then `ERROR` (23 =
//!   "network is opened"); the manual only shows `ERROR`, current A7600
//!   firmware prints both lines.
//! * `AT+CMQTTSTOP` with clients still acquired or connected disconnects
//!   (sending DISCONNECT) and releases them, then answers `OK` /
//!   `+CMQTTSTOP: 0`.
//! * Range violations of plain numeric parameters (including a client index
//!   outside the profile's range) answer `ERROR`; a length parameter out of
//!   its range answers `+CMQTTxxx: <idx>,22` then `ERROR`; a command on a
//!   client that was not acquired answers `+CMQTTxxx: <idx>,20` then `ERROR`;
//!   one that needs a connection answers `+CMQTTxxx: <idx>,11` then `ERROR`.
//!   An acquire of a used index answers `+CMQTTACCQ: <idx>,19` then `ERROR`.
//! * `checkUTF8` (default 1, seeds/003 §2.1.17) applies to every string the
//!   manuals call "UTF-encoded": topics, the will topic, payloads (§2.1.11 "The
//!   publish message should be UTF-encoded string") and will messages (§2.1.7);
//!   with it on, non-UTF-8 data fails with error 2 ("bad UTF-8 string") after the
//!   data was typed. rumqttc needs UTF-8 topics, so a non-UTF-8 topic fails with
//!   error 2 even with `checkUTF8` 0.
//! * SIM7028 (seeds/001): no `AT+CMQTTSUBTOPIC` (§3.1; `ERROR`), no
//!   `AT+CMQTTCFG="version"` (§3.2.15), and a command line longer than 559
//!   characters after `AT` answers `ERROR` (§1.4.4). `AT+CMQTTCFG="version"`
//!   (3 or 4) is taken on the other profiles, as A76xx firmware does.
//! * CMQTT errors keep the manual's plain `ERROR` whatever `AT+CMEE` says (see `modem`).
//! * SSL (`server_type` 1): `AT+CSSLCFG`, `AT+CCERTDOWN`/`LIST`/`DELE` and
//!   `AT+CMQTTSSLCFG` configure a real TLS link to the broker (see `tls` for
//!   authmodes, versions and error codes); a file the authmode needs that is
//!   not set or not uploaded fails the connect with 33 before any socket is
//!   opened. An SSL client without `AT+CMQTTSSLCFG` uses the SSL context of
//!   its own index.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, Publish, SubscribeFilter};

use super::args::{int, num, opt_int, split_args, Arg, Form, Resp};
use super::family::SimFamily;
use super::link::LinkEvent;
use super::link::{self, qos};
use super::modem::Modem;
use super::parser::{self, Next};
use super::profile::Profile;
use super::profile::{TOPIC_MAX, WILL_MAX};
use super::{lock, Shared};

/// What the host sends after a CMQTT `>` prompt.
pub(crate) enum DataKind {
    WillTopic(u8),
    WillMsg(u8, u8),
    Topic(u8),
    Payload(u8),
    SubTopic(u8, u8),
    SubOne(u8, u8),
    UnsubTopic(u8),
    UnsubOne(u8),
}

pub(crate) struct Slot {
    acquired: Option<(String, u8)>,
    will_topic: Option<Vec<u8>>,
    will_msg: Option<(Vec<u8>, u8)>,
    topic: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    sub_topics: Vec<(Vec<u8>, u8)>,
    unsub_topics: Vec<Vec<u8>>,
    check_utf8: bool,
    optimeout: u32,
    pub(crate) ssl_ctx: Option<u8>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            acquired: None,
            will_topic: None,
            will_msg: None,
            topic: None,
            payload: None,
            sub_topics: Vec::new(),
            unsub_topics: Vec::new(),
            check_utf8: true,
            optimeout: 120,
            ssl_ctx: None,
        }
    }
}

/// The CMQTT state of the modem: the service and one slot per client index (their links
/// are the modem's, `Modem::links`).
pub(crate) struct State {
    pub(crate) slots: Vec<Slot>,
    pub(crate) started: bool,
    pub(crate) next_group: u64,
}

impl State {
    pub(crate) fn new(profile: &Profile) -> State {
        State {
            slots: (0..profile.clients).map(|_| Slot::default()).collect(),
            started: false,
            next_group: 1,
        }
    }
}

impl Slot {
    /// A topic, payload or will passes the `checkUTF8` check.
    fn utf8_ok(&self, data: &[u8]) -> bool {
        !self.check_utf8 || std::str::from_utf8(data).is_ok()
    }
}

impl Modem {
    fn idx(&self, args: &[Arg]) -> Option<u8> {
        int(args, 0, 0, i64::from(self.profile.clients) - 1).map(|v| v as u8)
    }

    fn cmqtt(&mut self, sh: &Arc<Shared>, cmd: &str, form: Form<'_>, r: &mut Resp) -> Next {
        if let Form::Test = form {
            match cmd {
                "START" | "STOP" => r.ok(),
                "CFG" => {
                    let i = self.profile.idx_range();
                    r.line(&format!("+CMQTTCFG: \"checkUTF8\",{i},(0-1)"));
                    r.line(&format!("+CMQTTCFG: \"optimeout\",{i},(20-120)"));
                    r.ok()
                }
                _ => match self.profile.test_line(cmd) {
                    Some(l) => r.answer(&format!("+CMQTT{cmd}: {l}")),
                    None => r.error(),
                },
            }
            return Next::Line;
        }
        if !self.cmqtt.started && cmd != "START" {
            // "if you don't execute AT+CMQTTSTART, the Write/Read Command of
            // any other MQTT will return ERROR immediately."
            r.error();
            return Next::Line;
        }
        match (cmd, form) {
            ("START", Form::Exec) => {
                if self.cmqtt.started {
                    r.line("+CMQTTSTART: 23");
                    r.error();
                } else if !self.context_up(1) {
                    // "start MQTT service by activating PDP context" (seeds/003 §2.1.1):
                    // without a network it cannot; `OK` then the failure form with 7
                    // "network open fail" (§2.2.1; which code, a guess).
                    r.ok();
                    r.urc_after("+CMQTTSTART: 7".to_owned());
                } else {
                    self.cmqtt.started = true;
                    if self.profile.start_result_before_ok() {
                        r.line("+CMQTTSTART: 0");
                        r.ok();
                    } else {
                        r.ok();
                        r.urc_after("+CMQTTSTART: 0".to_owned());
                    }
                }
            }
            ("STOP", Form::Exec) => {
                let slots = self.cmqtt.slots.iter_mut().zip(self.links.iter_mut());
                for (s, link) in slots {
                    if let Some(l) = link.take() {
                        // Its generation is no longer current, so the link
                        // thread reports nothing.
                        l.retire();
                    }
                    *s = Slot::default();
                }
                self.cmqtt.started = false;
                r.ok();
                r.urc_after("+CMQTTSTOP: 0".to_owned());
            }
            ("ACCQ", Form::Read) => {
                let all = self.profile.clients > 1;
                for (i, s) in self.cmqtt.slots.iter().enumerate() {
                    match &s.acquired {
                        Some((id, ty)) => r.line(&format!("+CMQTTACCQ: {i},\"{id}\",{ty}")),
                        None if all => r.line(&format!("+CMQTTACCQ: {i},\"\",0")),
                        None => {}
                    }
                }
                r.ok()
            }
            ("ACCQ", Form::Write(a)) => {
                let args = split_args(a);
                let Some(idx) = self.idx(&args) else {
                    r.error();
                    return Next::Line;
                };
                let Some(ty) = opt_int(&args, 2, 0, 1, 0) else {
                    r.error();
                    return Next::Line;
                };
                if args.len() < 2 || args.len() > 3 {
                    r.error();
                    return Next::Line;
                }
                let id = args[1].text.clone();
                if id.is_empty() || id.len() > self.profile.client_id_max {
                    return failn(r, "ACCQ", idx, 22);
                }
                let s = &mut self.cmqtt.slots[usize::from(idx)];
                if s.acquired.is_some() {
                    return failn(r, "ACCQ", idx, 19);
                }
                s.acquired = Some((id, ty as u8));
                r.ok()
            }
            ("REL", Form::Read) => r.ok(),
            ("REL", Form::Write(a)) => {
                let args = split_args(a);
                let Some(idx) = self.idx(&args) else {
                    r.error();
                    return Next::Line;
                };
                let s = &mut self.cmqtt.slots[usize::from(idx)];
                if s.acquired.is_none() {
                    if self.profile.rel_of_free_client_is_ok() {
                        r.ok();
                        return Next::Line;
                    }
                    return failn(r, "REL", idx, 20);
                }
                if self.links[usize::from(idx)].is_some() {
                    // Still connected: DISC first.
                    return failn(r, "REL", idx, 14);
                }
                *s = Slot::default();
                r.ok()
            }
            ("SSLCFG", Form::Read) => {
                for (i, s) in self.cmqtt.slots.iter().enumerate() {
                    match s.ssl_ctx {
                        Some(c) => r.line(&format!("+CMQTTSSLCFG: {i},{c}")),
                        None => r.line(&format!("+CMQTTSSLCFG: {i},")),
                    }
                }
                r.ok()
            }
            ("SSLCFG", Form::Write(a)) => {
                let args = split_args(a);
                let idx = self.idx(&args);
                let ctx = int(&args, 1, 0, i64::from(self.profile.ssl_ctx_max));
                match (idx, ctx) {
                    (Some(i), Some(c)) if args.len() == 2 => {
                        self.cmqtt.slots[usize::from(i)].ssl_ctx = Some(c as u8);
                        r.ok()
                    }
                    _ => r.error(),
                }
            }
            ("WILLTOPIC" | "TOPIC" | "UNSUBTOPIC", Form::Write(a)) => {
                let kind = match cmd {
                    "WILLTOPIC" => DataKind::WillTopic,
                    "TOPIC" => DataKind::Topic,
                    _ => DataKind::UnsubTopic,
                };
                return self.data_write(cmd, a, TOPIC_MAX, false, |idx, _| kind(idx), r);
            }
            ("WILLMSG", Form::Write(a)) => {
                return self.data_write(cmd, a, WILL_MAX, true, DataKind::WillMsg, r);
            }
            ("PAYLOAD", Form::Write(a)) => {
                let max = self.profile.payload_max;
                return self.data_write(cmd, a, max, false, |idx, _| DataKind::Payload(idx), r);
            }
            ("SUBTOPIC", Form::Write(a)) if self.profile.has_subtopic() => {
                return self.data_write(cmd, a, TOPIC_MAX, true, DataKind::SubTopic, r);
            }
            ("CONNECT", Form::Read) => {
                for (i, link) in self.links.iter().enumerate() {
                    match link {
                        Some(l) if l.connected => r.line(&format!("+CMQTTCONNECT: {i},{}", l.info)),
                        _ => r.line(&format!("+CMQTTCONNECT: {i}")),
                    }
                }
                r.ok()
            }
            ("CONNECT", Form::Write(a)) => self.connect(sh, a, r),
            ("DISC", Form::Read) => {
                for (i, link) in self.links.iter().enumerate() {
                    let state = match link {
                        Some(l) if l.connected => 0,
                        _ => 1,
                    };
                    r.line(&format!("+CMQTTDISC: {i},{state}"));
                }
                r.ok()
            }
            ("DISC", Form::Write(a)) => {
                let args = split_args(a);
                let Some(idx) = self.idx(&args) else {
                    r.error();
                    return Next::Line;
                };
                let timeout_ok = match opt_int(&args, 1, 0, 180, 0) {
                    Some(t) => t == 0 || t >= 60,
                    None => false,
                };
                if !timeout_ok || args.len() > 2 {
                    r.error();
                    return Next::Line;
                }
                let s = &mut self.cmqtt.slots[usize::from(idx)];
                if s.acquired.is_none() {
                    return failn(r, cmd, idx, 20);
                }
                match self.links[usize::from(idx)].as_mut() {
                    Some(l) if l.connected && !l.disconnecting => {
                        if l.client.try_disconnect().is_err() {
                            return failn(r, cmd, idx, 14);
                        }
                        l.disconnecting = true;
                        r.ok()
                    }
                    Some(l) if !l.connected => return failn(r, cmd, idx, 14),
                    Some(_) => return failn(r, cmd, idx, 14),
                    None => return failn(r, cmd, idx, 11),
                }
            }
            ("PUB", Form::Write(a)) => self.publish(a, r),
            ("SUB", Form::Read) => r.ok(),
            ("SUB", Form::Write(a)) => return self.subscribe(a, r),
            ("UNSUB", Form::Write(a)) => return self.unsubscribe(a, r),
            ("CFG", Form::Read) => {
                for (i, s) in self.cmqtt.slots.iter().enumerate() {
                    r.line(&format!(
                        "+CMQTTCFG: {i},{},{}",
                        u8::from(s.check_utf8),
                        s.optimeout
                    ));
                }
                r.ok()
            }
            ("CFG", Form::Write(a)) => {
                let args = split_args(a);
                let key = args[0].text.to_ascii_lowercase();
                let idx = int(&args, 1, 0, i64::from(self.profile.clients) - 1);
                let Some(idx) = idx.map(|v| v as usize) else {
                    r.error();
                    return Next::Line;
                };
                if self.cmqtt.slots[idx].acquired.is_none() || args.len() != 3 {
                    r.error();
                    return Next::Line;
                }
                match key.as_str() {
                    "checkutf8" => match int(&args, 2, 0, 1) {
                        Some(v) => {
                            self.cmqtt.slots[idx].check_utf8 = v == 1;
                            r.ok()
                        }
                        None => r.error(),
                    },
                    "optimeout" => match int(&args, 2, 20, 120) {
                        Some(v) => {
                            self.cmqtt.slots[idx].optimeout = v as u32;
                            r.ok()
                        }
                        None => r.error(),
                    },
                    // rumqttc speaks 3.1.1 only: 4 is taken as it is, 3 is remembered
                    // nowhere (nothing here reads it back).
                    "version" if self.profile.has_cfg_version() => match int(&args, 2, 3, 4) {
                        Some(_) => r.ok(),
                        None => r.error(),
                    },
                    _ => r.error(),
                }
            }
            _ => r.error(),
        }
        Next::Line
    }

    fn connect(&mut self, sh: &Arc<Shared>, a: &str, r: &mut Resp) {
        let args = split_args(a);
        let Some(idx) = self.idx(&args) else {
            return r.error();
        };
        if args.len() < 4 || args.len() > 6 {
            return r.error();
        }
        let addr = args[1].text.clone();
        let (Some(keepalive), Some(clean)) = (int(&args, 2, 1, 64800), int(&args, 3, 0, 1)) else {
            return r.error();
        };
        // User name and password are string parameters: without quotes the command is
        // refused (field trace a7670e_lilygo403: `...,60,1,token` answers ERROR).
        if args.iter().skip(4).any(|a| !a.quoted && !a.text.is_empty()) {
            return r.error();
        }
        let user = args
            .get(4)
            .map(|a| a.text.clone())
            .filter(|u| !u.is_empty());
        let pass = args
            .get(5)
            .map(|a| a.text.clone())
            .filter(|u| !u.is_empty());
        let (lo, hi) = self.profile.server_addr_len;
        if addr.len() < lo || addr.len() > hi {
            return fail(r, "CONNECT", idx, 22);
        }
        if user.as_ref().is_some_and(|u| u.len() > 256)
            || pass.as_ref().is_some_and(|p| p.len() > 256)
        {
            return fail(r, "CONNECT", idx, 22);
        }
        let Some((host, port)) = parse_server(&addr) else {
            return r.error();
        };
        let slot_i = usize::from(idx);
        // The service's context (1) went down since AT+CMQTTSTART: brought up again if the
        // module is attached, else 9 "network not opened" (seeds/003 §2.2.1; a guess).
        let no_network = !self.context_up(1);
        let s = &self.cmqtt.slots[slot_i];
        let Some((client_id, server_type)) = s.acquired.clone() else {
            return fail(r, "CONNECT", idx, 20);
        };
        if let Some(l) = &self.links[slot_i] {
            return fail(r, "CONNECT", idx, if l.connected { 13 } else { 14 });
        }
        // Where the link really goes (see the module docs of `sim`).
        let loopback = host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost");
        let mut forced = None;
        if host.to_ascii_lowercase().ends_with(".invalid") {
            forced = Some(25);
        }
        if no_network {
            forced = Some(9);
        }
        let (thost, tport) = if loopback {
            (host.clone(), port)
        } else {
            (sh.broker_host.clone(), sh.broker_port)
        };
        if loopback
            && forced.is_none()
            && self.profile.refused_connect_fails_at_once()
            && super::tcp::loopback_listener(tport) == Some(false)
        {
            // Nobody listens: the kernel refuses the connect at once.
            return fail(r, "CONNECT", idx, 3);
        }
        // SSL client: TLS per the SSL context (see `tls`), the server checked
        // against the host as the host wrote it, even when redirected.
        let mut tls_cfg = None;
        if server_type == 1 && forced.is_none() {
            let ctx = usize::from(s.ssl_ctx.unwrap_or(idx));
            if let Some(c) = self.ssl.get(ctx) {
                // A file the authmode needs that is not set or not uploaded: 33.
                match self.tls_setup(&c.files(), |n| n.to_owned(), &host, true) {
                    Ok(cfg) => tls_cfg = Some(cfg),
                    Err(code) => forced = Some(code),
                }
            }
        }
        let s = &self.cmqtt.slots[slot_i];
        let mut opts = MqttOptions::new(client_id, thost, tport);
        opts.set_keep_alive(Duration::from_secs(keepalive as u64));
        opts.set_clean_session(clean == 1);
        opts.set_manual_acks(true);
        opts.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
        if let Some(u) = &user {
            opts.set_credentials(u.clone(), pass.clone().unwrap_or_default());
        }
        if let (Some(t), Some((m, q))) = (&s.will_topic, &s.will_msg) {
            match String::from_utf8(t.clone()) {
                Ok(t) => {
                    opts.set_last_will(LastWill::new(t, m.clone(), qos(*q), false));
                }
                Err(_) => forced = forced.or(Some(2)),
            }
        }
        let gen = self.next_gen;
        self.next_gen += 1;
        let mut info = format!("\"{addr}\",{keepalive},{clean}");
        if let Some(u) = &user {
            info.push_str(&format!(",\"{u}\""));
            if let Some(p) = &pass {
                info.push_str(&format!(",\"{p}\""));
            }
        }
        let start = link::Start {
            opts,
            tls: tls_cfg,
            had_login: user.is_some(),
            forced_error: forced,
            info,
        };
        let Some(link) = link::spawn(sh, idx, gen, format!("vmodem-link-{idx}"), start) else {
            return fail(r, "CONNECT", idx, 4);
        };
        self.links[slot_i] = Some(link);
        r.ok()
    }

    fn publish(&mut self, a: &str, r: &mut Resp) {
        let args = split_args(a);
        let (Some(idx), Some(q), Some(timeout)) =
            (self.idx(&args), int(&args, 1, 0, 2), int(&args, 2, 60, 180))
        else {
            return r.error();
        };
        let (Some(retain), Some(_dup)) = (opt_int(&args, 3, 0, 1, 0), opt_int(&args, 4, 0, 1, 0))
        else {
            return r.error();
        };
        if args.len() > 5 {
            return r.error();
        }
        let s = &mut self.cmqtt.slots[usize::from(idx)];
        if s.acquired.is_none() {
            return fail(r, "PUB", idx, 20);
        }
        // "The topic and payload will be clean after execute AT+CMQTTPUB."
        let topic = s.topic.take();
        let payload = s.payload.take().unwrap_or_default();
        let Some(link) = self.links[usize::from(idx)]
            .as_ref()
            .filter(|l| l.connected && !l.disconnecting)
        else {
            return fail(r, "PUB", idx, 11);
        };
        let Some(topic) = topic else {
            return fail(r, "PUB", idx, 18);
        };
        let Ok(topic) = String::from_utf8(topic) else {
            return fail(r, "PUB", idx, 2);
        };
        if topic.contains(['+', '#']) {
            return fail(r, "PUB", idx, 12);
        }
        // QoS 0 has no acknowledgement to wait for: once the link has the message, the
        // modem reports it sent, as a real module does within microseconds.
        let queued_as = if q == 0 { link::ANSWERED } else { q as u8 };
        lock(&link.pending)
            .pubs
            .push_back((queued_as, Duration::from_secs(timeout as u64)));
        if link
            .client
            .try_publish(topic, qos(q as u8), retain == 1, payload)
            .is_err()
        {
            lock(&link.pending).pubs.pop_back();
            return fail(r, "PUB", idx, 14);
        }
        r.ok();
        if q == 0 {
            r.urc_after(format!("+CMQTTPUB: {idx},0"));
        }
    }

    fn subscribe(&mut self, a: &str, r: &mut Resp) -> Next {
        let args = split_args(a);
        let Some(idx) = self.idx(&args) else {
            r.error();
            return Next::Line;
        };
        if args.len() >= 3 {
            // One-shot: AT+CMQTTSUB=<idx>,<len>,<qos>[,<dup>]
            let (Some(len), Some(q), Some(_dup), true) = (
                num(&args, 1),
                int(&args, 2, 0, 2),
                opt_int(&args, 3, 0, 1, 0),
                args.len() <= 4,
            ) else {
                r.error();
                return Next::Line;
            };
            let kind = DataKind::SubOne(idx, q as u8);
            return self.prompt_for("SUB", idx, len, TOPIC_MAX, kind, r);
        }
        // AT+CMQTTSUB=<idx>[,<dup>]: the topics given by AT+CMQTTSUBTOPIC.
        if let Some(topics) = self.listed_topics("SUB", &args, idx, |s| &mut s.sub_topics, r) {
            self.send_subscribe(idx, topics, r);
        }
        Next::Line
    }

    /// `AT+CMQTT<cmd>=<idx>,<len>[,<qos>]` (with `with_qos`): the commands that take
    /// `len` bytes of `kind(idx, qos)` after the prompt, `len` within 1..=`max`.
    fn data_write(
        &self,
        cmd: &str,
        a: &str,
        max: usize,
        with_qos: bool,
        kind: impl FnOnce(u8, u8) -> DataKind,
        r: &mut Resp,
    ) -> Next {
        let args = split_args(a);
        let (arity, q) = if with_qos {
            (3, int(&args, 2, 0, 2))
        } else {
            (2, Some(0))
        };
        let (Some(idx), Some(len), Some(q)) = (self.idx(&args), num(&args, 1), q) else {
            r.error();
            return Next::Line;
        };
        if args.len() != arity {
            r.error();
            return Next::Line;
        }
        self.prompt_for(cmd, idx, len, max, kind(idx, q as u8), r)
    }

    /// Prompts for `len` bytes of `kind` once `len` is within 1..=`max` (else error 22),
    /// the client acquired (else 20) and, for a one-shot SUB / UNSUB, connected (else 11).
    fn prompt_for(
        &self,
        cmd: &str,
        idx: u8,
        len: i64,
        max: usize,
        kind: DataKind,
        r: &mut Resp,
    ) -> Next {
        let need_link = matches!(kind, DataKind::SubOne(..) | DataKind::UnsubOne(..));
        if !(1..=max as i64).contains(&len) {
            return failn(r, cmd, idx, 22);
        }
        let i = usize::from(idx);
        if self.cmqtt.slots[i].acquired.is_none() {
            return failn(r, cmd, idx, 20);
        }
        if need_link && !self.is_connected(i) {
            return failn(r, cmd, idx, 11);
        }
        r.prompt();
        Next::Data(parser::DataKind::Cmqtt(kind), len as usize)
    }

    /// `AT+CMQTT<cmd>=<idx>[,<dup>]` (SUB / UNSUB): takes the topics listed before in the
    /// slot's `list`; `None` once answered with an error.
    fn listed_topics<T>(
        &mut self,
        cmd: &str,
        args: &[Arg],
        idx: u8,
        list: impl FnOnce(&mut Slot) -> &mut Vec<T>,
        r: &mut Resp,
    ) -> Option<Vec<T>> {
        if opt_int(args, 1, 0, 1, 0).is_none() {
            r.error();
            return None;
        }
        let i = usize::from(idx);
        if self.cmqtt.slots[i].acquired.is_none() {
            fail(r, cmd, idx, 20);
            return None;
        }
        let topics = std::mem::take(list(&mut self.cmqtt.slots[i]));
        if !self.is_connected(i) {
            fail(r, cmd, idx, 11);
            return None;
        }
        if topics.is_empty() {
            fail(r, cmd, idx, 18);
            return None;
        }
        Some(topics)
    }

    /// The topic of a one-shot SUB / UNSUB arrived: `true` when it passes the UTF-8
    /// check and the link is still up, `false` once answered with an error.
    fn one_shot_ready(&self, cmd: &str, idx: u8, topic: &[u8], r: &mut Resp) -> bool {
        let Some(s) = self.cmqtt.slots.get(usize::from(idx)) else {
            r.error();
            return false;
        };
        if !s.utf8_ok(topic) {
            fail(r, cmd, idx, 2);
            return false;
        }
        if !self.is_connected(usize::from(idx)) {
            fail(r, cmd, idx, 11);
            return false;
        }
        true
    }

    fn is_connected(&self, i: usize) -> bool {
        self.links[i]
            .as_ref()
            .is_some_and(|l| l.connected && !l.disconnecting)
    }

    fn send_subscribe(&mut self, idx: u8, topics: Vec<(Vec<u8>, u8)>, r: &mut Resp) {
        let mut filters = Vec::with_capacity(topics.len());
        for (t, q) in topics {
            match String::from_utf8(t) {
                Ok(t) => filters.push(SubscribeFilter::new(t, qos(q))),
                Err(_) => return fail(r, "SUB", idx, 2),
            }
        }
        let Some(link) = self.links[usize::from(idx)].as_ref() else {
            return fail(r, "SUB", idx, 11);
        };
        let timeout = Duration::from_secs(u64::from(self.cmqtt.slots[usize::from(idx)].optimeout));
        lock(&link.pending).subs.push_back(timeout);
        if link.client.try_subscribe_many(filters).is_err() {
            lock(&link.pending).subs.pop_back();
            return fail(r, "SUB", idx, 12);
        }
        r.ok()
    }

    fn unsubscribe(&mut self, a: &str, r: &mut Resp) -> Next {
        let args = split_args(a);
        let Some(idx) = self.idx(&args) else {
            r.error();
            return Next::Line;
        };
        if args.len() >= 3 {
            // One-shot: AT+CMQTTUNSUB=<idx>,<len>,<dup>
            let (Some(len), Some(_dup), true) =
                (num(&args, 1), opt_int(&args, 2, 0, 1, 0), args.len() <= 4)
            else {
                r.error();
                return Next::Line;
            };
            let kind = DataKind::UnsubOne(idx);
            return self.prompt_for("UNSUB", idx, len, TOPIC_MAX, kind, r);
        }
        if let Some(topics) = self.listed_topics("UNSUB", &args, idx, |s| &mut s.unsub_topics, r) {
            self.send_unsubscribe(idx, topics, r);
        }
        Next::Line
    }

    fn send_unsubscribe(&mut self, idx: u8, topics: Vec<Vec<u8>>, r: &mut Resp) {
        let mut names = Vec::with_capacity(topics.len());
        for t in topics {
            match String::from_utf8(t) {
                Ok(t) => names.push(t),
                Err(_) => return fail(r, "UNSUB", idx, 2),
            }
        }
        let group = self.cmqtt.next_group;
        self.cmqtt.next_group += 1;
        let timeout = Duration::from_secs(u64::from(self.cmqtt.slots[usize::from(idx)].optimeout));
        let Some(link) = self.links[usize::from(idx)].as_ref() else {
            return fail(r, "UNSUB", idx, 11);
        };
        // rumqttc sends one UNSUBSCRIBE per topic; the result is reported
        // once all of them are acknowledged.
        let n = names.len();
        for name in names {
            lock(&link.pending).unsubs.push_back((group, n, timeout));
            if link.client.try_unsubscribe(name).is_err() {
                lock(&link.pending).unsubs.pop_back();
                return fail(r, "UNSUB", idx, 14);
            }
        }
        r.ok()
    }

    /// The data typed after a CMQTT prompt.
    fn cmqtt_data_done(&mut self, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
        match kind {
            DataKind::WillTopic(idx) | DataKind::Topic(idx) | DataKind::UnsubTopic(idx) => {
                let cmd = match kind {
                    DataKind::WillTopic(_) => "WILLTOPIC",
                    DataKind::Topic(_) => "TOPIC",
                    _ => "UNSUBTOPIC",
                };
                let Some(s) = self.cmqtt.slots.get_mut(usize::from(idx)) else {
                    return r.error();
                };
                if !s.utf8_ok(&data) {
                    return fail(r, cmd, idx, 2);
                }
                match kind {
                    DataKind::WillTopic(_) => s.will_topic = Some(data),
                    DataKind::Topic(_) => s.topic = Some(data),
                    _ => s.unsub_topics.push(data),
                }
                r.ok()
            }
            DataKind::WillMsg(idx, q) => {
                let Some(s) = self.cmqtt.slots.get_mut(usize::from(idx)) else {
                    return r.error();
                };
                if !s.utf8_ok(&data) {
                    return fail(r, "WILLMSG", idx, 2);
                }
                s.will_msg = Some((data, q));
                r.ok()
            }
            DataKind::Payload(idx) => {
                let Some(s) = self.cmqtt.slots.get_mut(usize::from(idx)) else {
                    return r.error();
                };
                if !s.utf8_ok(&data) {
                    return fail(r, "PAYLOAD", idx, 2);
                }
                s.payload = Some(data);
                r.ok()
            }
            DataKind::SubTopic(idx, q) => {
                let Some(s) = self.cmqtt.slots.get_mut(usize::from(idx)) else {
                    return r.error();
                };
                if !s.utf8_ok(&data) {
                    return fail(r, "SUBTOPIC", idx, 2);
                }
                s.sub_topics.push((data, q));
                r.ok()
            }
            DataKind::SubOne(idx, q) => {
                if self.one_shot_ready("SUB", idx, &data, r) {
                    self.send_subscribe(idx, vec![(data, q)], r)
                }
            }
            DataKind::UnsubOne(idx) => {
                if self.one_shot_ready("UNSUB", idx, &data, r) {
                    self.send_unsubscribe(idx, vec![data], r)
                }
            }
        }
    }
}

fn failn(r: &mut Resp, cmd: &str, idx: u8, err: u8) -> Next {
    fail(r, cmd, idx, err);
    Next::Line
}

/// `+CMQTT<cmd>: <idx>,<err>` then `ERROR`.
fn fail(r: &mut Resp, cmd: &str, idx: u8, err: u8) {
    r.line(&format!("+CMQTT{cmd}: {idx},{err}"));
    r.error();
}

/// "tcp://host[:port]" → (host, port); port defaults to 1883.
fn parse_server(addr: &str) -> Option<(String, u16)> {
    let lower = addr.to_ascii_lowercase();
    if !lower.starts_with("tcp://") {
        return None;
    }
    let rest = addr[6..].trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (rest, 1883),
    };
    if host.is_empty() || port == 0 {
        return None;
    }
    Some((host.to_owned(), port))
}

impl Modem {
    /// "The setting will be cleared after AT+CMQTTCONNECT failed or
    /// AT+CMQTTDISC" (AT+CMQTTSSLCFG).
    pub fn clear_ssl_after_disc(&mut self, idx: u8) {
        if let Some(s) = self.cmqtt.slots.get_mut(usize::from(idx)) {
            s.ssl_ctx = None;
        }
    }
}

/// The CMQTT family (see [`SimFamily`]).
pub(crate) struct Cmqtt;

impl SimFamily for Cmqtt {
    fn execute(
        &self,
        m: &mut Modem,
        sh: &Arc<Shared>,
        name: &str,
        form: &Form<'_>,
        r: &mut Resp,
    ) -> Option<Next> {
        let cmd = name.strip_prefix("CMQTT")?;
        Some(m.cmqtt(sh, cmd, *form, r))
    }

    fn data_done(&self, m: &mut Modem, kind: parser::DataKind, data: Vec<u8>, r: &mut Resp) {
        match kind {
            parser::DataKind::Cmqtt(k) => m.cmqtt_data_done(k, data, r),
            _ => r.error(),
        }
    }

    fn link_event(
        &self,
        sh: &Shared,
        m: &mut Modem,
        idx: u8,
        ev: LinkEvent<'_>,
        out: &mut Vec<u8>,
    ) {
        cmqtt_event(m, idx, ev, out, sh.part_size())
    }

    /// CMQTT links on context 1 report `+CMQTTCONNLOST: <idx>,3` ("Network is closed",
    /// seeds/003 §2.2.2.1; when, a guess), or `+CMQTTCONNECT: <idx>,3` while still
    /// connecting.
    fn context_down(&self, m: &mut Modem, cid: u8, _by_network: bool, r: &mut Resp) {
        if cid != 1 {
            return;
        }
        for idx in 0..m.profile.clients {
            if let Some(l) = m.take_link(idx) {
                if l.connected {
                    r.urc_after(format!("+CMQTTCONNLOST: {idx},3"));
                } else {
                    // A failed connect clears the SSL binding (§2.1.5).
                    m.clear_ssl_after_disc(idx);
                    r.urc_after(format!("+CMQTTCONNECT: {idx},3"));
                }
                drop(l);
            }
        }
    }

    fn link_causes(&self) -> RangeInclusive<u8> {
        1..=3
    }

    /// `+CMQTTCONNLOST: <idx>,<cause>`: 1 closed passively, 2 reset, 3 network closed.
    fn link_lost(&self, _m: &mut Modem, idx: u8, cause: u8) -> String {
        format!("+CMQTTCONNLOST: {idx},{cause}")
    }
}

/// A link event in CMQTT words (called under the state lock by `link::report`).
fn cmqtt_event(st: &mut Modem, idx: u8, ev: LinkEvent<'_>, out: &mut Vec<u8>, part: usize) {
    let mut line = |l: String| {
        out.extend_from_slice(format!("\r\n{l}\r\n").as_bytes());
    };
    match ev {
        LinkEvent::Connected => {
            st.set_connected(idx);
            line(format!("+CMQTTCONNECT: {idx},0"));
        }
        LinkEvent::ConnectFailed(code) => {
            st.clear_link(idx);
            st.clear_ssl_after_disc(idx);
            line(format!("+CMQTTCONNECT: {idx},{code}"));
        }
        LinkEvent::Published { .. } => line(format!("+CMQTTPUB: {idx},0")),
        LinkEvent::PublishTimedOut { .. } => line(format!("+CMQTTPUB: {idx},17")),
        LinkEvent::Subscribed { failed, .. } => {
            line(format!("+CMQTTSUB: {idx},{}", u8::from(failed)))
        }
        LinkEvent::SubscribeTimedOut { .. } => line(format!("+CMQTTSUB: {idx},17")),
        LinkEvent::Unsubscribed { .. } => line(format!("+CMQTTUNSUB: {idx},0")),
        LinkEvent::UnsubscribeTimedOut { .. } => line(format!("+CMQTTUNSUB: {idx},17")),
        LinkEvent::Disconnected => {
            st.clear_link(idx);
            st.clear_ssl_after_disc(idx);
            line(format!("+CMQTTDISC: {idx},0"));
        }
        LinkEvent::Lost(cause) => {
            st.clear_link(idx);
            line(format!("+CMQTTCONNLOST: {idx},{cause}"));
        }
        LinkEvent::Message(p) => cmqtt_message(idx, p, part, out),
    }
}

/// Writes one received PUBLISH as a `+CMQTTRX*` block:
///
/// ```text
/// \r\n+CMQTTRXSTART: i,<topic_total>,<payload_total>\r\n
/// \r\n+CMQTTRXTOPIC: i,<n>\r\n<n bytes>\r\n          (one per part)
/// \r\n+CMQTTRXPAYLOAD: i,<n>\r\n<n bytes>\r\n        (one per part; none for an empty payload)
/// \r\n+CMQTTRXEND: i\r\n
/// ```
///
/// An empty payload gives `payload_total` 0 and no `+CMQTTRXPAYLOAD` part, as
/// in the manual's example 3.5.
fn cmqtt_message(idx: u8, p: &Publish, part: usize, out: &mut Vec<u8>) {
    let part = part.max(1);
    let topic = p.topic.as_bytes();
    let payload = &p.payload[..];
    out.reserve(topic.len() + payload.len() + 128);
    out.extend_from_slice(
        format!(
            "\r\n+CMQTTRXSTART: {idx},{},{}\r\n",
            topic.len(),
            payload.len()
        )
        .as_bytes(),
    );
    for piece in topic.chunks(part) {
        out.extend_from_slice(format!("\r\n+CMQTTRXTOPIC: {idx},{}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    for piece in payload.chunks(part) {
        out.extend_from_slice(format!("\r\n+CMQTTRXPAYLOAD: {idx},{}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n+CMQTTRXEND: {idx}\r\n").as_bytes());
}
