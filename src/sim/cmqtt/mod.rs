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

use super::args::{int, num, opt_int, split_args, Arg, Cmd, Form, Resp};
use super::conn::{LinkEvent, OutPublish};
use super::link::{self, qos};
use super::modem::Modem;
use super::modem::{own_data, FamilyData, SimFamily};
use super::parser::{self, Next};
use super::profile::Profile;
use super::profile::{TOPIC_MAX, WILL_MAX};
use super::Shared;

mod mqtt;

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

    /// The parameters `a` and the client index they start with; `None` after `ERROR` for
    /// an index out of range.
    fn idx_args(&self, a: &str, r: &mut Resp) -> Option<(Vec<Arg>, u8)> {
        let args = split_args(a);
        let idx = self.idx(&args);
        if idx.is_none() {
            r.error();
        }
        Some((args, idx?))
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
        if !st_mut(&mut self.fam).started && cmd != "START" {
            // "if you don't execute AT+CMQTTSTART, the Write/Read Command of
            // any other MQTT will return ERROR immediately."
            r.error();
            return Next::Line;
        }
        match (cmd, form) {
            ("START", Form::Exec) => {
                if st_mut(&mut self.fam).started {
                    r.line("+CMQTTSTART: 23");
                    r.error();
                } else if !self.context_up(1) {
                    // "start MQTT service by activating PDP context" (seeds/003 §2.1.1):
                    // without a network it cannot; `OK` then the failure form with 7
                    // "network open fail" (§2.2.1; which code, a guess).
                    r.ok();
                    r.urc_after("+CMQTTSTART: 7".to_owned());
                } else {
                    st_mut(&mut self.fam).started = true;
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
                // A client still acquired: 21 "client not released" (seeds/003 §2.2.1;
                // AT+CMQTTREL "must be called after AT+CMQTTDISC and before AT+CMQTTSTOP",
                // §2.1.4, 001 §3.2.4). The failure form is each manual's: 003 §2.1.2 `OK`
                // then `+CMQTTSTOP: <err>`, 001 §3.2.2 `+CMQTTSTOP: <err>` then `ERROR`.
                if st_mut(&mut self.fam)
                    .slots
                    .iter()
                    .any(|s| s.acquired.is_some())
                {
                    if self.profile.stop_failure_then_error() {
                        r.line("+CMQTTSTOP: 21");
                        r.error();
                    } else {
                        r.ok();
                        r.urc_after("+CMQTTSTOP: 21".to_owned());
                    }
                    return Next::Line;
                }
                let slots = st_mut(&mut self.fam)
                    .slots
                    .iter_mut()
                    .zip(self.links.iter_mut());
                for (s, link) in slots {
                    if let Some(l) = link.take() {
                        // Its generation is no longer current, so the link
                        // thread reports nothing.
                        l.retire();
                    }
                    *s = Slot::default();
                }
                st_mut(&mut self.fam).started = false;
                r.ok();
                r.urc_after("+CMQTTSTOP: 0".to_owned());
            }
            ("ACCQ", Form::Read) => {
                let all = self.profile.clients > 1;
                for (i, s) in st_mut(&mut self.fam).slots.iter().enumerate() {
                    match &s.acquired {
                        Some((id, ty)) => r.line(&format!("+CMQTTACCQ: {i},\"{id}\",{ty}")),
                        None if all => r.line(&format!("+CMQTTACCQ: {i},\"\",0")),
                        None => {}
                    }
                }
                r.ok()
            }
            ("ACCQ", Form::Write(a)) => {
                let Some((args, idx)) = self.idx_args(a, r) else {
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
                let s = &mut st_mut(&mut self.fam).slots[usize::from(idx)];
                if s.acquired.is_some() {
                    return failn(r, "ACCQ", idx, 19);
                }
                s.acquired = Some((id, ty as u8));
                r.ok()
            }
            ("REL", Form::Read) => r.ok(),
            ("REL", Form::Write(a)) => {
                let Some((_, idx)) = self.idx_args(a, r) else {
                    return Next::Line;
                };
                let s = &mut st_mut(&mut self.fam).slots[usize::from(idx)];
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
                for (i, s) in st_mut(&mut self.fam).slots.iter().enumerate() {
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
                        st_mut(&mut self.fam).slots[usize::from(i)].ssl_ctx = Some(c as u8);
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
                let Some((args, idx)) = self.idx_args(a, r) else {
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
                let s = &mut st_mut(&mut self.fam).slots[usize::from(idx)];
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
            ("SUB", Form::Read) => {
                // `+CMQTTSUB: [<topic>]`, "the topics you have subscribed" (seeds/001
                // §3.2.13): one line per subscribed topic, of every client in index order;
                // the bare prefix when there is none (003 has no read form: its sibling's).
                let topics: Vec<&String> = self
                    .links
                    .iter()
                    .filter_map(Option::as_ref)
                    .flat_map(|l| l.subscribed.iter())
                    .collect();
                if topics.is_empty() {
                    r.line("+CMQTTSUB:");
                }
                for t in topics {
                    r.line(&format!("+CMQTTSUB: {t}"));
                }
                r.ok()
            }
            ("SUB", Form::Write(a)) => return self.subscribe(a, r),
            ("UNSUB", Form::Write(a)) => return self.unsubscribe(a, r),
            ("CFG", Form::Read) => {
                for (i, s) in st_mut(&mut self.fam).slots.iter().enumerate() {
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
                if st_mut(&mut self.fam).slots[idx].acquired.is_none() || args.len() != 3 {
                    r.error();
                    return Next::Line;
                }
                match key.as_str() {
                    "checkutf8" => match int(&args, 2, 0, 1) {
                        Some(v) => {
                            st_mut(&mut self.fam).slots[idx].check_utf8 = v == 1;
                            r.ok()
                        }
                        None => r.error(),
                    },
                    "optimeout" => match int(&args, 2, 20, 120) {
                        Some(v) => {
                            st_mut(&mut self.fam).slots[idx].optimeout = v as u32;
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

impl Modem {
    /// "The setting will be cleared after AT+CMQTTCONNECT failed or
    /// AT+CMQTTDISC" (AT+CMQTTSSLCFG).
    pub fn clear_ssl_after_disc(&mut self, idx: u8) {
        if let Some(s) = st_mut(&mut self.fam).slots.get_mut(usize::from(idx)) {
            s.ssl_ctx = None;
        }
    }
}

/// The CMQTT family (see [`SimFamily`]).
pub(crate) struct Cmqtt;

super::modem::sim_family!(Cmqtt, State, &super::profile::CMQTT, State::new);

impl SimFamily for Cmqtt {
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next> {
        let cmd = c.name.strip_prefix("CMQTT")?;
        Some(m.cmqtt(sh, cmd, c.form, r))
    }

    fn data_done(&self, m: &mut Modem, kind: FamilyData, data: Vec<u8>, r: &mut Resp) {
        own_data(kind, r, |k: DataKind, r| m.cmqtt_data_done(k, data, r))
    }

    fn link_event(&self, sh: &Shared, m: &mut Modem, idx: u8, ev: LinkEvent, out: &mut Vec<u8>) {
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
        LinkEvent::Connected => line(format!("+CMQTTCONNECT: {idx},0")),
        LinkEvent::ConnectFailed(code) => {
            st.clear_ssl_after_disc(idx);
            line(format!("+CMQTTCONNECT: {idx},{code}"));
        }
        LinkEvent::Published { .. } => line(format!("+CMQTTPUB: {idx},0")),
        LinkEvent::PublishTimedOut { .. } => line(format!("+CMQTTPUB: {idx},17")),
        LinkEvent::Subscribed { failed, .. } => {
            st.sub_settled(idx, !failed);
            line(format!("+CMQTTSUB: {idx},{}", u8::from(failed)))
        }
        LinkEvent::SubscribeTimedOut { .. } => {
            st.sub_settled(idx, false);
            line(format!("+CMQTTSUB: {idx},17"))
        }
        LinkEvent::Unsubscribed { .. } => line(format!("+CMQTTUNSUB: {idx},0")),
        LinkEvent::UnsubscribeTimedOut { .. } => line(format!("+CMQTTUNSUB: {idx},17")),
        LinkEvent::Disconnected => {
            st.clear_ssl_after_disc(idx);
            line(format!("+CMQTTDISC: {idx},0"));
        }
        LinkEvent::Lost(cause) => line(format!("+CMQTTCONNLOST: {idx},{cause}")),
        LinkEvent::Message(p) => cmqtt_message(idx, p, part, out),
    }
}

/// Writes one received PUBLISH as a `+CMQTTRX*` block:
///
/// ```text
/// \r\n+CMQTTRXSTART: i,<topic_total>,<payload_total>\r\n
/// +CMQTTRXTOPIC: i,<n>\r\n<n bytes>\r\n          (one per part)
/// +CMQTTRXPAYLOAD: i,<n>\r\n<n bytes>\r\n        (one per part; none for an empty payload)
/// +CMQTTRXEND: i\r\n
/// ```
///
/// One URC block, its lines back to back with no blank line between them, as the manual's
/// examples print it (seeds/003 §3.1, §3.5; 001 §4.1) and as the field capture
/// sim7600_lilygot76xx shows. An empty payload gives `payload_total` 0 and no
/// `+CMQTTRXPAYLOAD` part, as in the manual's example 3.5.
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
        out.extend_from_slice(format!("+CMQTTRXTOPIC: {idx},{}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    for piece in payload.chunks(part) {
        out.extend_from_slice(format!("+CMQTTRXPAYLOAD: {idx},{}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("+CMQTTRXEND: {idx}\r\n").as_bytes());
}
