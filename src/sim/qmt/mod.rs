//! The Quectel `AT+QMT*` command set of the virtual modem (profiles ec20, ec25, eg91, bg96),
//! with the file commands (`AT+QFUPL/QFDEL/QFLST`) and `AT+QSSLCFG` that TLS needs.
//!
//! Behaviour follows the EC2x/EG9x/EM05 and BG96 MQTT application notes (see
//! src/dialect/qmt.rs for the sources). Choices where they are silent:
//!
//! * `AT+QMTOPEN` answers `OK` at once, then `+QMTOPEN: <idx>,<result>` after a real TCP
//!   connection attempt to where the link will go (same rules as CMQTT, see `hosts`): 0
//!   reachable, 4 for a name that does not resolve, 5 refused or unreachable, 2 if the index is
//!   already open. The MQTT link itself is made at `AT+QMTCONN` (rumqttc does TCP and
//!   CONNECT together). It activates the client's PDP context itself when it is down, as
//!   the modules do (result 3 "failed to activate PDP" when the module is not registered).
//! * `AT+QMTCFG` writes are refused with `ERROR` while the index is open, as the notes say.
//! * Commands on an index that is not open/connected answer `ERROR`.
//! * Buffer mode keeps five buffers per client (`<recv_id>` 0-4). With all five holding
//!   unread messages the link stops reading its socket (a guess: the notes do not say what
//!   happens when they are full), so further messages stay with the broker and the network,
//!   not in a hidden queue; the next one comes, with its `+QMTRECV: <idx>,<recv_id>` notice,
//!   once the host has read a buffer. Nothing is dropped.
//! * `"version"` 3 (MQTT 3.1) is accepted but the link speaks 3.1.1 (rumqttc has no 3.1).
//! * `"aliauth"`: the link logs in with user `<device_name>&<product_key>` and the device
//!   secret as password (the real module sends an HMAC signature; a test broker cannot
//!   check one anyway).
//! * TLS: files, `AT+QSSLCFG` and the `"ssl"` binding are complete; the files a
//!   `seclevel` needs are checked at `AT+QMTOPEN` (result -1 when missing) and the link to
//!   the broker is real TLS built from them (`super::tls`); a TLS failure at connect is
//!   `+QMTCONN: <idx>,2`.
//! * `+QMTSTAT: <idx>,1` reports a link lost after CONNACK; other codes come from fault
//!   injection (`VirtualModem::drop_link`).

use std::net::{TcpStream, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, SubscribeFilter};

use super::args::{int, num, opt_int, split_args, Arg, Cmd, Form, Resp};
use super::conn::{Link, LinkEvent, OutPublish};
use super::link;
use super::link::qos;
use super::modem::Modem;
use super::modem::{own_data, refuse_if, FamilyData, SimFamily};
use super::parser::{self, Next};
use super::profile::Profile;
use super::ssl::{self, set_file_name, TlsFiles};
use super::{Shared, SimError, VirtualModem};

mod mqtt;
use mqtt::*;
mod net;
use net::*;

const BUFFERS: usize = 5;
const TOPIC_MAX: usize = 255;
const FILE_MAX: usize = 10240;

#[derive(Clone)]
struct WillCfg {
    qos: u8,
    retain: bool,
    topic: String,
    msg: String,
}

#[derive(Clone)]
struct Cfg {
    version: u8,
    pdpcid: u8,
    ssl: (bool, u8),
    keepalive: u16,
    clean: bool,
    pkt_timeout: u8,
    retries: u8,
    notice: bool,
    will: Option<WillCfg>,
    recv_mode: u8,
    len_enable: bool,
    aliauth: Option<(String, String, String)>,
}

impl Default for Cfg {
    fn default() -> Self {
        Cfg {
            version: 4,
            pdpcid: 1,
            ssl: (false, 0),
            keepalive: 120,
            clean: true,
            pkt_timeout: 5,
            retries: 3,
            notice: false,
            will: None,
            recv_mode: 0,
            len_enable: false,
            aliauth: None,
        }
    }
}

struct Stored {
    msgid: u16,
    topic: String,
    payload: Vec<u8>,
    /// The link generation it came on and the packet to acknowledge once the host has
    /// read it (buffer mode): a modem that restarts or loses the link before then leaves
    /// it with the broker, which sends it again on the resumed session.
    ack: Option<(u64, rumqttc::Publish)>,
}

#[derive(Default)]
struct QSlot {
    cfg: Cfg,
    /// (host given, port given, where the link goes)
    opened: Option<(String, u16, String, u16)>,
    buffers: [Option<Stored>; BUFFERS],
}

#[derive(Clone, Default)]
struct SslCfg {
    sslversion: u8,
    seclevel: u8,
    ciphersuite: String,
    ignorelocaltime: u8,
    negotiatetime: u16,
    cacert: String,
    clientcert: String,
    clientkey: String,
}

pub(crate) struct State {
    slots: Vec<QSlot>,
    ssl: Vec<SslCfg>,
}

impl State {
    pub fn new(profile: &Profile) -> State {
        State {
            slots: (0..profile.clients).map(|_| QSlot::default()).collect(),
            ssl: vec![
                SslCfg {
                    sslversion: 4,
                    ciphersuite: "0xFFFF".into(),
                    negotiatetime: 300,
                    ..SslCfg::default()
                };
                usize::from(profile.ssl_ctx_max) + 1
            ],
        }
    }

    /// The PDP context of an open client (for `+QIURC: "pdpdeact"`).
    pub fn is_open_on(&self, idx: u8, cid: u8) -> bool {
        self.slots
            .get(usize::from(idx))
            .is_some_and(|s| s.opened.is_some() && s.cfg.pdpcid == cid)
    }

    /// The network of `idx` is gone (link lost, PDP deactivated, fault injection).
    pub fn close_network(&mut self, idx: u8) {
        if let Some(s) = self.slots.get_mut(usize::from(idx)) {
            s.opened = None;
        }
    }
}

/// What the host sends after a prompt.
pub(crate) enum DataKind {
    Publish {
        idx: u8,
        msgid: u16,
        qos: u8,
        retain: bool,
        topic: String,
        ex: bool,
    },
    File(String),
}

fn unquote(a: &Arg) -> String {
    a.text.clone()
}

fn idx_of(m: &Modem, args: &[Arg]) -> Option<u8> {
    int(args, 0, 0, i64::from(m.profile.clients) - 1).map(|v| v as u8)
}

fn file_key(name: &str) -> String {
    // "UFS:" is the default storage; "ca.pem" and "UFS:ca.pem" are the same file.
    let n = name.strip_prefix("UFS:").unwrap_or(name);
    format!("UFS:{n}")
}

/// Handles the Quectel commands; `None` for a command this module does not know.
pub(crate) fn execute(
    m: &mut Modem,
    sh: &Arc<Shared>,
    name: &str,
    form: &Form<'_>,
    r: &mut Resp,
) -> Option<Next> {
    let next = match (name, form) {
        ("QMTCFG", Form::Test) => {
            let n = m.profile.clients - 1;
            for l in [
                format!("+QMTCFG: \"version\",(0-{n}),(3,4)"),
                format!("+QMTCFG: \"pdpcid\",(0-{n}),(1-16)"),
                format!("+QMTCFG: \"ssl\",(0-{n}),(0,1),(0-5)"),
                format!("+QMTCFG: \"keepalive\",(0-{n}),(0-3600)"),
                format!("+QMTCFG: \"session\",(0-{n}),(0,1)"),
                format!("+QMTCFG: \"timeout\",(0-{n}),(1-60),(1-10),(0,1)"),
                format!("+QMTCFG: \"will\",(0-{n}),(0,1),(0-2),(0,1),\"will_topic\",\"will_msg\""),
                format!("+QMTCFG: \"recv/mode\",(0-{n}),(0,1),(0,1)"),
                format!(
                    "+QMTCFG: \"aliauth\",(0-{n}),\"productkey\",\"devicename\",\"devicesecret\""
                ),
            ] {
                r.line(&l);
            }
            r.ok();
            Next::Line
        }
        ("QMTCFG", Form::Write(a)) => {
            cfg(m, a, r);
            Next::Line
        }
        ("QMTOPEN", Form::Test) => {
            r.line(&format!(
                "+QMTOPEN: (0-{}),\"<host_name>\",(0-65535)",
                m.profile.clients - 1
            ));
            r.ok();
            Next::Line
        }
        ("QMTOPEN", Form::Read) => {
            for (i, s) in st_mut(&mut m.fam).slots.iter().enumerate() {
                if let Some((h, p, _, _)) = &s.opened {
                    r.line(&format!("+QMTOPEN: {i},\"{h}\",{p}"));
                }
            }
            r.ok();
            Next::Line
        }
        ("QMTOPEN", Form::Write(a)) => {
            open(m, sh, a, r);
            Next::Line
        }
        ("QMTCLOSE", Form::Write(a)) => {
            let args = split_args(a);
            match (idx_of(m, &args), args.len()) {
                (Some(idx), 1) if st_mut(&mut m.fam).slots[usize::from(idx)].opened.is_some() => {
                    // Closing drops the link without DISCONNECT; its thread reports nothing
                    // once the link is no longer current.
                    drop(m.take_link(idx));
                    st_mut(&mut m.fam).close_network(idx);
                    r.ok();
                    r.net_after(format!("+QMTCLOSE: {idx},0"));
                }
                _ => r.error(),
            }
            Next::Line
        }
        ("QMTCONN", Form::Read) => {
            for (i, s) in st_mut(&mut m.fam).slots.iter().enumerate() {
                if s.opened.is_none() {
                    continue;
                }
                // 1 initializing, 2 connecting, 3 connected, 4 disconnecting
                let state = match &m.links[i] {
                    None => 1,
                    Some(l) if l.disconnecting => 4,
                    Some(l) if l.connected => 3,
                    Some(_) => 2,
                };
                r.line(&format!("+QMTCONN: {i},{state}"));
            }
            r.ok();
            Next::Line
        }
        ("QMTCONN", Form::Write(a)) => {
            conn(m, sh, a, r);
            Next::Line
        }
        ("QMTDISC", Form::Write(a)) => {
            let args = split_args(a);
            match (idx_of(m, &args), args.len()) {
                (Some(idx), 1) => disc(m, idx, r),
                _ => r.error(),
            }
            Next::Line
        }
        ("QMTSUB", Form::Write(a)) => {
            sub(m, a, r);
            Next::Line
        }
        ("QMTUNS", Form::Write(a)) => {
            uns(m, a, r);
            Next::Line
        }
        // BG95/BG96/BG77 notes have only AT+QMTPUB (with the length); EC2x/EG9x have both.
        ("QMTPUBEX", _) if !has_pubex(m.profile) => {
            r.error();
            Next::Line
        }
        ("QMTPUBEX" | "QMTPUB", Form::Test) => {
            r.line(&format!(
                "+{name}: (0-{}),<msgid>,(0-2),(0,1),\"topic\",(1-{})",
                m.profile.clients - 1,
                m.profile.payload_max
            ));
            r.ok();
            Next::Line
        }
        ("QMTPUBEX", Form::Write(a)) => publish(m, a, true, r),
        ("QMTPUB", Form::Write(a)) => publish(m, a, false, r),
        ("QMTRECV", Form::Test) => {
            r.line(&format!("+QMTRECV: (0-{}),(0-4)", m.profile.clients - 1));
            r.ok();
            Next::Line
        }
        ("QMTRECV", Form::Read) => {
            for (i, s) in st_mut(&mut m.fam).slots.iter().enumerate() {
                let flags: Vec<String> = s
                    .buffers
                    .iter()
                    .map(|b| u8::from(b.is_some()).to_string())
                    .collect();
                r.line(&format!("+QMTRECV: {i},{}", flags.join(",")));
            }
            r.ok();
            Next::Line
        }
        ("QMTRECV", Form::Write(a)) => {
            recv(m, sh, a, r);
            Next::Line
        }
        ("QFUPL", Form::Write(a)) => {
            let args = split_args(a);
            let name = args.first().map(unquote).unwrap_or_default();
            match int(&args, 1, 1, FILE_MAX as i64) {
                Some(len) if !name.is_empty() && name.len() <= 80 && args.len() <= 4 => {
                    if m.certs.contains_key(&file_key(&name)) {
                        // 407: file already exists
                        r.line("+CME ERROR: 407");
                        Next::Line
                    } else {
                        r.line("CONNECT");
                        Next::Data(
                            parser::DataKind::family(DataKind::File(file_key(&name))),
                            len as usize,
                        )
                    }
                }
                _ => {
                    r.line("+CME ERROR: 421");
                    Next::Line
                }
            }
        }
        ("QFDEL", Form::Write(a)) => {
            let args = split_args(a);
            let name = args.first().map(unquote).unwrap_or_default();
            if name == "*" || name == "UFS:*" {
                m.certs.clear();
                r.ok();
            } else if m.certs.remove(&file_key(&name)).is_some() {
                r.ok();
            } else {
                // 405: file not found
                r.line("+CME ERROR: 405");
            }
            Next::Line
        }
        ("QFLST", Form::Exec | Form::Write(_)) => {
            for (n, d) in &m.certs {
                r.line(&format!("+QFLST: \"{n}\",{}", d.len()));
            }
            r.ok();
            Next::Line
        }
        ("QSSLCFG", Form::Write(a)) => {
            sslcfg(m, a, r);
            Next::Line
        }
        ("QIACT" | "QIDEACT" | "QICSGP" | "QCCID" | "QNWINFO", f) => {
            network(m, name, f, r);
            Next::Line
        }
        _ => return None,
    };
    Some(next)
}

fn cfg(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let key = args
        .first()
        .map(|a| a.text.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(idx) = int(&args, 1, 0, i64::from(m.profile.clients) - 1) else {
        return r.error();
    };
    let i = idx as usize;
    let query = args.len() == 2;
    if !query && st_mut(&mut m.fam).slots[i].opened.is_some() {
        // "If MQTT connection is not established ... OK; else ... ERROR"
        return r.error();
    }
    let c = &mut st_mut(&mut m.fam).slots[i].cfg;
    let ok = match key.as_str() {
        "version" if query => {
            r.line(&format!("+QMTCFG: \"version\",{}", c.version));
            true
        }
        "version" => int(&args, 2, 3, 4).map(|v| c.version = v as u8).is_some(),
        "pdpcid" if query => {
            r.line(&format!("+QMTCFG: \"pdpcid\",{}", c.pdpcid));
            true
        }
        "pdpcid" => int(&args, 2, 1, 16).map(|v| c.pdpcid = v as u8).is_some(),
        "ssl" if query => {
            r.line(&format!(
                "+QMTCFG: \"ssl\",{},{}",
                u8::from(c.ssl.0),
                c.ssl.1
            ));
            true
        }
        "ssl" => match (int(&args, 2, 0, 1), opt_int(&args, 3, 0, 5, 0)) {
            (Some(e), Some(ctx)) => {
                c.ssl = (e == 1, ctx as u8);
                true
            }
            _ => false,
        },
        "keepalive" if query => {
            r.line(&format!("+QMTCFG: \"keepalive\",{}", c.keepalive));
            true
        }
        "keepalive" => int(&args, 2, 0, 3600)
            .map(|v| c.keepalive = v as u16)
            .is_some(),
        "session" if query => {
            r.line(&format!("+QMTCFG: \"session\",{}", u8::from(c.clean)));
            true
        }
        "session" => int(&args, 2, 0, 1).map(|v| c.clean = v == 1).is_some(),
        "timeout" if query => {
            r.line(&format!(
                "+QMTCFG: \"timeout\",{},{},{}",
                c.pkt_timeout,
                c.retries,
                u8::from(c.notice)
            ));
            true
        }
        "timeout" => match (
            int(&args, 2, 1, 60),
            // seeds/004 §3.2.1 test response: `(1-60),(1-10),(0,1)`.
            opt_int(&args, 3, 1, 10, i64::from(c.retries)),
            opt_int(&args, 4, 0, 1, i64::from(c.notice)),
        ) {
            (Some(t), Some(n), Some(x)) => {
                c.pkt_timeout = t as u8;
                c.retries = n as u8;
                c.notice = x == 1;
                true
            }
            _ => false,
        },
        "will" if query => {
            match &c.will {
                Some(w) => r.line(&format!(
                    "+QMTCFG: \"will\",1,{},{},\"{}\",\"{}\"",
                    w.qos,
                    u8::from(w.retain),
                    w.topic,
                    w.msg
                )),
                None => r.line("+QMTCFG: \"will\",0"),
            }
            true
        }
        // AT+QMTCFG="will",<idx>[,<will_fg>[,<will_qos>,<will_retain>,"<will_topic>",
        // "<will_msg>"]]: the flag off may come with the other fields (as pico_lte sends
        // it), which are then checked and dropped.
        "will" => match int(&args, 2, 0, 1) {
            Some(0) if args.len() == 3 => {
                c.will = None;
                true
            }
            Some(0) if args.len() == 7 => match (int(&args, 3, 0, 2), int(&args, 4, 0, 1)) {
                (Some(_), Some(_)) if args[5].text.len() <= 256 && args[6].text.len() <= 256 => {
                    c.will = None;
                    true
                }
                _ => false,
            },
            Some(1) if args.len() == 7 => match (int(&args, 3, 0, 2), int(&args, 4, 0, 1)) {
                (Some(q), Some(ret))
                    if (1..=256).contains(&args[5].text.len()) && args[6].text.len() <= 256 =>
                {
                    c.will = Some(WillCfg {
                        qos: q as u8,
                        retain: ret == 1,
                        topic: args[5].text.clone(),
                        msg: args[6].text.clone(),
                    });
                    true
                }
                _ => false,
            },
            _ => false,
        },
        "recv/mode" if query => {
            r.line(&format!(
                "+QMTCFG: \"recv/mode\",{},{}",
                c.recv_mode,
                u8::from(c.len_enable)
            ));
            true
        }
        "recv/mode" => match (
            int(&args, 2, 0, 1),
            opt_int(&args, 3, 0, 1, i64::from(c.len_enable)),
        ) {
            (Some(mode), Some(len)) => {
                c.recv_mode = mode as u8;
                c.len_enable = len == 1;
                true
            }
            _ => false,
        },
        "aliauth" if query => {
            match &c.aliauth {
                Some((pk, dn, ds)) => {
                    r.line(&format!("+QMTCFG: \"aliauth\",\"{pk}\",\"{dn}\",\"{ds}\""))
                }
                None => r.line("+QMTCFG: \"aliauth\""),
            }
            true
        }
        "aliauth" if args.len() == 5 => {
            c.aliauth = Some((
                args[2].text.clone(),
                args[3].text.clone(),
                args[4].text.clone(),
            ));
            true
        }
        _ => false,
    };
    if ok {
        r.ok()
    } else {
        r.error()
    }
}

/// Data typed after a prompt.
pub(crate) fn data_done(m: &mut Modem, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
    match kind {
        DataKind::File(name) => {
            // +QFUPL: <upload_size>,<checksum>: 16-bit XOR of the data as big-endian words.
            let mut sum: u16 = 0;
            for pair in data.chunks(2) {
                let hi = u16::from(pair[0]) << 8;
                let lo = pair.get(1).copied().map(u16::from).unwrap_or(0);
                sum ^= hi | lo;
            }
            r.line(&format!("+QFUPL: {},{sum:x}", data.len()));
            m.certs.insert(name, data);
            r.ok()
        }
        DataKind::Publish {
            idx,
            msgid,
            qos: q,
            retain,
            topic,
            ex,
        } => {
            let name = if ex { "QMTPUBEX" } else { "QMTPUB" };
            let timeout = op_timeout(m, idx);
            r.ok();
            let Some(link) = connected_link(m, idx) else {
                return r.urc_after(format!("+{name}: {idx},{msgid},2"));
            };
            // QoS 0 is reported sent at once (as the CMQTT virtual modem does).
            if !link.queue_publish(
                OutPublish::new(topic, q, retain, data),
                timeout,
                Some((msgid, ex)),
            ) {
                r.urc_after(format!("+{name}: {idx},{msgid},2"));
            } else if q == 0 {
                r.net_after(format!("+{name}: {idx},{msgid},0"));
            }
        }
    }
}

/// A link event in QMT words (called under the state lock by `link::report`).
pub(crate) fn link_event(m: &mut Modem, idx: u8, ev: LinkEvent<'_>, out: &mut Vec<u8>) {
    let mut line = |l: String| out.extend_from_slice(format!("\r\n{l}\r\n").as_bytes());
    match ev {
        LinkEvent::Connected => line(format!("+QMTCONN: {idx},0,0")),
        LinkEvent::ConnectFailed(code) => match code {
            // CMQTT 27-31 are the CONNACK refusals 1-5.
            27..=31 => line(format!("+QMTCONN: {idx},0,{}", code - 26)),
            _ => line(format!("+QMTCONN: {idx},2")),
        },
        LinkEvent::Published { tag, ex } => {
            let name = if ex { "QMTPUBEX" } else { "QMTPUB" };
            line(format!("+{name}: {idx},{tag},0"));
        }
        LinkEvent::PublishTimedOut { tag, ex } => {
            let name = if ex { "QMTPUBEX" } else { "QMTPUB" };
            line(format!("+{name}: {idx},{tag},2"));
        }
        LinkEvent::Subscribed { tag, granted, .. } => {
            let g: Vec<String> = granted.iter().map(u8::to_string).collect();
            line(format!("+QMTSUB: {idx},{tag},0,{}", g.join(",")));
        }
        LinkEvent::SubscribeTimedOut { tag } => line(format!("+QMTSUB: {idx},{tag},2")),
        LinkEvent::Unsubscribed { tag } => line(format!("+QMTUNS: {idx},{tag},0")),
        LinkEvent::UnsubscribeTimedOut { tag } => line(format!("+QMTUNS: {idx},{tag},2")),
        LinkEvent::Disconnected => {
            st_mut(&mut m.fam).close_network(idx);
            line(format!("+QMTDISC: {idx},0"));
        }
        LinkEvent::Lost(_) => {
            st_mut(&mut m.fam).close_network(idx);
            line(format!("+QMTSTAT: {idx},1"));
        }
        LinkEvent::Message(p) => {
            let gen = m.links[usize::from(idx)].as_ref().map(|l| l.gen);
            let stored = Stored {
                msgid: p.pkid,
                topic: p.topic.clone(),
                payload: p.payload.to_vec(),
                ack: gen.map(|g| (g, p.clone())),
            };
            let Some(slot) = st_mut(&mut m.fam).slots.get_mut(usize::from(idx)) else {
                return;
            };
            if slot.cfg.recv_mode == 0 {
                message_line(idx, &stored, slot.cfg.len_enable, out);
            } else if let Some(id) = slot.buffers.iter().position(Option::is_none) {
                slot.buffers[id] = Some(stored);
                line(format!("+QMTRECV: {idx},{id}"));
            }
            // No free buffer: not reached, the link stops reading first (`has_free_buffer`).
        }
    }
}

/// The Quectel family (see [`SimFamily`]).
pub(crate) struct Qmt;

super::modem::sim_family!(Qmt, State, &super::profile::QMT, State::new);

impl SimFamily for Qmt {
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next> {
        if let Some(next) = execute(m, sh, c.name, &c.form, r) {
            return Some(next);
        }
        // SIMCom's commands: Quectel uploads files with AT+QFUPL.
        refuse_if(c.name.starts_with("CMQTT") || c.name == "CCERTDOWN", r)
    }

    fn data_done(&self, m: &mut Modem, kind: FamilyData, data: Vec<u8>, r: &mut Resp) {
        own_data(kind, r, |k: DataKind, r| data_done(m, k, data, r))
    }

    fn link_event(&self, _sh: &Shared, m: &mut Modem, idx: u8, ev: LinkEvent, out: &mut Vec<u8>) {
        link_event(m, idx, ev, out)
    }

    fn stores_messages(&self, m: &Modem, idx: u8) -> bool {
        stores_messages(m, idx)
    }

    fn has_free_buffer(&self, m: &Modem, idx: u8) -> bool {
        has_free_buffer(m, idx)
    }

    /// `by_network`: `+QIURC: "pdpdeact",<cid>`, as the BG96 does after `AT+CFUN` (field
    /// `bg96_tinygsm157_pdpdeact_rdy.at`); otherwise the host deactivated it (`AT+QIDEACT`,
    /// `AT+CGACT=0`) and each client open on it reports `+QMTSTAT: <idx>,1` (a guess: no
    /// manual shows it).
    fn context_down(&self, m: &mut Modem, cid: u8, by_network: bool, r: &mut Resp) {
        for idx in 0..m.profile.clients {
            if st_mut(&mut m.fam).is_open_on(idx, cid) {
                drop(m.take_link(idx));
                st_mut(&mut m.fam).close_network(idx);
                if !by_network {
                    r.urc_after(format!("+QMTSTAT: {idx},1"));
                }
            }
        }
        if by_network {
            r.urc_after(format!("+QIURC: \"pdpdeact\",{cid}"));
        }
    }

    fn link_causes(&self) -> RangeInclusive<u8> {
        1..=7
    }

    /// `+QMTSTAT: <idx>,<cause>` with the `+QMTSTAT` codes 1-7.
    fn link_lost(&self, m: &mut Modem, idx: u8, cause: u8) -> String {
        st_mut(&mut m.fam).close_network(idx);
        format!("+QMTSTAT: {idx},{cause}")
    }
}
