//! The AT engine: line/data parser and command execution.
//!
//! Framing follows the modems: every response line is sent as
//! `\r\n<line>\r\n`, a data prompt as `\r\n>`, the final result as
//! `\r\nOK\r\n` / `\r\nERROR\r\n`; echo (on until `ATE0`) repeats the command
//! line and its terminator. Choices where the manuals are silent or unclear:
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
//! * Data typed after `>` is echoed while echo is on (as SIMCom modems do);
//!   exactly <req_length> bytes are taken, binary-safe.
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
//! * `AT+CMEE` only changes errors of the generic commands
//!   (`+CME ERROR: 50` / `+CME ERROR: Incorrect parameters`, 3 / "operation
//!   not allowed"); CMQTT, CSSLCFG and CCERT errors keep the manual's plain
//!   `ERROR`. Unknown commands always answer `ERROR`.
//! * SSL (`server_type` 1): `AT+CSSLCFG`, `AT+CCERTDOWN`/`LIST`/`DELE` and
//!   `AT+CMQTTSSLCFG` configure a real TLS link to the broker (see `tls` for
//!   authmodes, versions and error codes); a file the authmode needs that is
//!   not set or not uploaded fails the connect with 33 before any socket is
//!   opened. An SSL client without `AT+CMQTTSSLCFG` uses the SSL context of
//!   its own index.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, SubscribeFilter};

use super::link::{self, Link};
use super::profile::{Family, Profile, TOPIC_MAX, WILL_MAX};
use super::tls;
use super::{lock, Shared};

const LINE_MAX: usize = 4096;
const CERT_MAX: usize = 10240;

#[derive(Clone)]
struct SslCtx {
    sslversion: u8,
    authmode: u8,
    ignorelocaltime: u8,
    negotiatetime: u16,
    cacert: String,
    clientcert: String,
    clientkey: String,
}

impl Default for SslCtx {
    fn default() -> Self {
        SslCtx {
            sslversion: 4,
            authmode: 0,
            ignorelocaltime: 1,
            negotiatetime: 300,
            cacert: String::new(),
            clientcert: String::new(),
            clientkey: String::new(),
        }
    }
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
    ssl_ctx: Option<u8>,
    pub(crate) link: Option<Link>,
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
            link: None,
        }
    }
}

impl Slot {
    /// A topic, payload or will passes the `checkUTF8` check.
    fn utf8_ok(&self, data: &[u8]) -> bool {
        !self.check_utf8 || std::str::from_utf8(data).is_ok()
    }
}

pub(crate) struct Modem {
    pub(crate) profile: &'static Profile,
    pub(crate) echo: bool,
    cmee: u8,
    /// n of +CREG, +CGREG, +CEREG
    reg_n: [u8; 3],
    pub(crate) cgdcont: BTreeMap<u8, (String, String)>,
    /// `AT+QICSGP` user name, password and authentication per context (its APN and type
    /// live in `cgdcont`, as on the module, where both commands define the same context).
    pub(crate) qicsgp_auth: BTreeMap<u8, (String, String, u8)>,
    /// `AT+CFUN` level: 1 full, 0 minimum, 4 flight mode (no radio: not registered).
    cfun: u8,
    /// `AT+COPS=2`: deregistered by the host until `AT+COPS=0/1/4`.
    deregistered: bool,
    /// `AT+CGATT=0`: detached from the packet domain.
    detached: bool,
    /// The PDP contexts that are up (cid).
    pub(crate) active: BTreeSet<u8>,
    started: bool,
    pub(crate) slots: Vec<Slot>,
    ssl: Vec<SslCtx>,
    /// Survive reboot: they live in the module's flash.
    pub(crate) certs: BTreeMap<String, Vec<u8>>,
    pub(crate) next_gen: u64,
    /// The Quectel `AT+QMT*` state (QMT profiles only).
    pub(crate) qmt: super::qmt::State,
    next_group: u64,
    /// The Alibaba-cloud command set, on the profiles that have it.
    pub(crate) aliyun: Option<super::aliyun::State>,
}

impl Modem {
    pub fn new(profile: &'static Profile) -> Modem {
        let mut cgdcont = BTreeMap::new();
        cgdcont.insert(1, ("IP".to_owned(), "CMNET".to_owned()));
        Modem {
            profile,
            echo: true,
            cmee: 0,
            reg_n: [0; 3],
            cgdcont,
            qicsgp_auth: BTreeMap::new(),
            cfun: 1,
            deregistered: false,
            detached: false,
            // Registered with context 1 up at power-on: hosts that never bring the bearer up
            // (the library's clients, the manuals' MQTT examples) keep working.
            active: BTreeSet::from([1]),
            started: false,
            slots: (0..profile.clients).map(|_| Slot::default()).collect(),
            ssl: vec![SslCtx::default(); usize::from(profile.ssl_ctx_max) + 1],
            certs: BTreeMap::new(),
            next_gen: 1,
            next_group: 1,
            qmt: super::qmt::State::new(profile),
            aliyun: super::aliyun::State::for_profile(profile),
        }
    }

    /// Power-on state (links must have been taken out first).
    pub fn reset(&mut self) {
        let certs = std::mem::take(&mut self.certs);
        let next_gen = self.next_gen;
        let autonet = self.aliyun.as_ref().map(|a| a.autonet);
        // How the virtual modem signs (a test setting, not the module's state) stays.
        let sign_timestamp = self.aliyun.as_ref().map(|a| a.sign_timestamp);
        *self = Modem::new(self.profile);
        self.certs = certs;
        self.next_gen = next_gen;
        // AT+CAUTONET is saved and takes effect at the next start (seeds/000 §5.1).
        if let (Some(a), Some(on)) = (self.aliyun.as_mut(), autonet) {
            a.boot_with_autonet(on);
        }
        if let (Some(a), Some(on)) = (self.aliyun.as_mut(), sign_timestamp) {
            a.sign_timestamp = on;
        }
    }

    pub fn take_link(&mut self, idx: u8) -> Option<Link> {
        self.slots.get_mut(usize::from(idx))?.link.take()
    }

    pub fn take_all_links(&mut self) -> Vec<Link> {
        if let Some(a) = self.aliyun.as_mut() {
            a.kill_links();
        }
        self.slots
            .iter_mut()
            .filter_map(|s| s.link.take())
            .collect()
    }

    pub fn link_gen(&self, idx: u8) -> Option<u64> {
        self.slots
            .get(usize::from(idx))?
            .link
            .as_ref()
            .map(|l| l.gen)
    }

    pub fn clear_link(&mut self, idx: u8) {
        if let Some(s) = self.slots.get_mut(usize::from(idx)) {
            s.link = None;
        }
    }

    pub fn set_connected(&mut self, idx: u8) {
        if let Some(l) = self
            .slots
            .get_mut(usize::from(idx))
            .and_then(|s| s.link.as_mut())
        {
            l.connected = true;
        }
    }

    /// Registered on the network: radio on (`AT+CFUN=1`) and not deregistered by the host
    /// (`AT+COPS=2`).
    pub(crate) fn registered(&self) -> bool {
        self.cfun == 1 && !self.deregistered
    }

    /// Attached to the packet domain, which a PDP context needs (`AT+CGATT=0` detaches).
    pub(crate) fn attached(&self) -> bool {
        self.registered() && !self.detached
    }

    /// The registration is gone (`AT+CFUN=0/4`, `AT+COPS=2`, `AT+CGATT=0`): every context
    /// goes down with the links on it, reported as the network taking them.
    fn network_lost(&mut self, r: &mut Resp) {
        let cids: Vec<u8> = self.active.iter().copied().collect();
        self.contexts_down(&cids, true, r);
        if let Some(a) = self.aliyun.as_mut() {
            a.network_lost();
        }
    }

    /// Brings context `cid` up; false when the module is not attached (or has no such
    /// context defined).
    pub(crate) fn context_up(&mut self, cid: u8) -> bool {
        if !self.attached() || !self.cgdcont.contains_key(&cid) {
            return false;
        }
        self.active.insert(cid);
        true
    }

    /// Contexts `cids` go down, and every MQTT link on them without DISCONNECT.
    /// `by_network`: the network took them (Quectel: `+QIURC: "pdpdeact",<cid>`, as the BG96
    /// does after `AT+CFUN`, field `bg96_tinygsm157_pdpdeact_rdy.at`); otherwise the host
    /// deactivated them (`AT+QIDEACT`, `AT+CGACT=0`) and each Quectel client open on them
    /// reports `+QMTSTAT: <idx>,1` (a guess: no manual shows it). CMQTT links on context 1
    /// report `+CMQTTCONNLOST: <idx>,3` ("Network is closed", seeds/003 §2.2.2.1; when, a
    /// guess), or `+CMQTTCONNECT: <idx>,3` while still connecting.
    pub(crate) fn contexts_down(&mut self, cids: &[u8], by_network: bool, r: &mut Resp) {
        for &cid in cids {
            if !self.active.remove(&cid) {
                continue;
            }
            match self.profile.family {
                Family::Qmt => {
                    for idx in 0..self.profile.clients {
                        if self.qmt.is_open_on(idx, cid) {
                            drop(self.take_link(idx));
                            self.qmt.close_network(idx);
                            if !by_network {
                                r.urc_after(format!("+QMTSTAT: {idx},1"));
                            }
                        }
                    }
                    if by_network {
                        r.urc_after(format!("+QIURC: \"pdpdeact\",{cid}"));
                    }
                }
                Family::Cmqtt if cid == 1 => {
                    for idx in 0..self.profile.clients {
                        if let Some(l) = self.take_link(idx) {
                            if l.connected {
                                r.urc_after(format!("+CMQTTCONNLOST: {idx},3"));
                            } else {
                                // A failed connect clears the SSL binding (§2.1.5).
                                self.clear_ssl_after_disc(idx);
                                r.urc_after(format!("+CMQTTCONNECT: {idx},3"));
                            }
                            drop(l);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Registered again: the Alibaba revision 1 firmware brings its bearer up by itself
    /// when `AT+CAUTONET` is on.
    fn network_back(&mut self) {
        if self.registered() {
            if let Some(a) = self.aliyun.as_mut() {
                a.network_back();
            }
        }
    }

    /// "The setting will be cleared after AT+CMQTTCONNECT failed or
    /// AT+CMQTTDISC" (AT+CMQTTSSLCFG).
    pub fn clear_ssl_after_disc(&mut self, idx: u8) {
        if let Some(s) = self.slots.get_mut(usize::from(idx)) {
            s.ssl_ctx = None;
        }
    }
}

/// What the host sends after a `>` prompt.
pub(crate) enum DataKind {
    WillTopic(u8),
    WillMsg(u8, u8),
    Topic(u8),
    Payload(u8),
    SubTopic(u8, u8),
    SubOne(u8, u8),
    UnsubTopic(u8),
    UnsubOne(u8),
    Cert(String),
    Qmt(super::qmt::DataKind),
}

pub(crate) enum Next {
    Line,
    Data(DataKind, usize),
    /// Data ended by Ctrl-Z (ESC cancels), at most this many bytes.
    DataUntilCtrlZ(DataKind, usize),
}

enum Mode {
    Line,
    Data {
        need: usize,
        buf: Vec<u8>,
        kind: DataKind,
    },
    CtrlZ {
        max: usize,
        buf: Vec<u8>,
        kind: DataKind,
    },
}

pub(crate) struct Parser {
    line: Vec<u8>,
    overflow: bool,
    mode: Mode,
    skip_lf: bool,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            line: Vec::new(),
            overflow: false,
            mode: Mode::Line,
            skip_lf: false,
        }
    }

    pub fn feed(&mut self, sh: &Arc<Shared>, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            match &mut self.mode {
                Mode::CtrlZ { max, buf, .. } => {
                    if self.skip_lf && buf.is_empty() && data[i] == b'\n' {
                        self.skip_lf = false;
                        i += 1;
                        continue;
                    }
                    self.skip_lf = false;
                    let b = data[i];
                    i += 1;
                    if sh.state().echo {
                        sh.write_frame(&[b]);
                    }
                    match b {
                        0x1a => {
                            if let Mode::CtrlZ { buf, kind, .. } =
                                std::mem::replace(&mut self.mode, Mode::Line)
                            {
                                finish_data(sh, kind, buf);
                            }
                        }
                        0x1b => {
                            // ESC: the modem drops the data and answers OK.
                            self.mode = Mode::Line;
                            let _st = sh.state();
                            sh.write_frame(b"\r\nOK\r\n");
                        }
                        _ if buf.len() < *max => buf.push(b),
                        _ => {}
                    }
                }
                Mode::Data { need, buf, .. } => {
                    // The LF of a CRLF-terminated command line, arriving in
                    // the same read as its CR, is not data.
                    if self.skip_lf && buf.is_empty() && data[i] == b'\n' {
                        self.skip_lf = false;
                        i += 1;
                        continue;
                    }
                    self.skip_lf = false;
                    let take = (*need - buf.len()).min(data.len() - i);
                    let chunk = &data[i..i + take];
                    buf.extend_from_slice(chunk);
                    i += take;
                    {
                        let st = sh.state();
                        if st.echo {
                            sh.write_frame(chunk);
                        }
                    }
                    if buf.len() == *need {
                        if let Mode::Data { buf, kind, .. } =
                            std::mem::replace(&mut self.mode, Mode::Line)
                        {
                            finish_data(sh, kind, buf);
                        }
                    }
                }
                Mode::Line => {
                    let b = data[i];
                    i += 1;
                    if b == b'\n' && self.skip_lf {
                        self.skip_lf = false;
                        continue;
                    }
                    self.skip_lf = false;
                    if b == b'\r' || b == b'\n' {
                        let line = std::mem::take(&mut self.line);
                        let overflow = std::mem::replace(&mut self.overflow, false);
                        self.skip_lf = b == b'\r';
                        match process_line(sh, line, b, overflow) {
                            Next::Data(kind, need) => {
                                self.mode = Mode::Data {
                                    need,
                                    buf: Vec::with_capacity(need),
                                    kind,
                                };
                            }
                            Next::DataUntilCtrlZ(kind, max) => {
                                self.mode = Mode::CtrlZ {
                                    max,
                                    buf: Vec::new(),
                                    kind,
                                };
                            }
                            Next::Line => {}
                        }
                    } else if self.line.len() < LINE_MAX {
                        self.line.push(b);
                    } else {
                        self.overflow = true;
                    }
                }
            }
        }
        self.skip_lf = false;
    }
}

/// Response under construction.
pub(crate) struct Resp {
    buf: Vec<u8>,
    /// Frames written after the response (e.g. `+CMQTTSTART: 0` after OK).
    after: Vec<String>,
}

impl Resp {
    pub(crate) fn line(&mut self, s: &str) {
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
    pub(crate) fn ok(&mut self) {
        self.line("OK");
    }
    pub(crate) fn error(&mut self) {
        self.line("ERROR");
    }
    /// One information line, then `OK`.
    pub(crate) fn answer(&mut self, s: &str) {
        self.line(s);
        self.ok();
    }
    pub(crate) fn urc_after(&mut self, s: String) {
        self.after.push(s);
    }
    pub(crate) fn prompt(&mut self) {
        self.buf.extend_from_slice(b"\r\n>");
    }
    /// Quectel's prompt: `>` and a space.
    pub(crate) fn prompt_space(&mut self) {
        self.buf.extend_from_slice(b"\r\n> ");
    }
    /// Bytes as they are (a raw payload inside a line).
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
}

fn process_line(sh: &Arc<Shared>, line: Vec<u8>, term: u8, overflow: bool) -> Next {
    {
        let st = sh.state();
        if st.echo {
            let mut e = line.clone();
            e.push(term);
            sh.write_frame(&e);
        }
    }
    let text = String::from_utf8_lossy(&line);
    let t = text.trim();
    if t.is_empty() {
        return Next::Line;
    }
    // Byte-wise: the line may hold anything the host sent (binary, invalid UTF-8).
    if !t
        .as_bytes()
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"AT"))
    {
        // Real modems ignore anything that does not start with AT.
        return Next::Line;
    }
    sh.stats.commands.fetch_add(1, Ordering::Relaxed);
    let (delay, refuse) = {
        let f = lock(&sh.faults);
        (f.delay, f.refuse.clone())
    };
    if !delay.is_zero() && !sh.pause(delay) {
        return Next::Line;
    }
    if let Some((prefix, reply)) = refuse {
        if t.to_ascii_uppercase().starts_with(&prefix) {
            let _st = sh.state();
            sh.write_frame(format!("\r\n{reply}\r\n").as_bytes());
            return Next::Line;
        }
    }
    let mut st = sh.state();
    let mut r = Resp {
        buf: Vec::new(),
        after: Vec::new(),
    };
    let too_long = st.profile.line_max().is_some_and(|max| t.len() - 2 > max);
    let next = if overflow || too_long {
        r.error();
        Next::Line
    } else {
        st.execute(sh, &t[2..], &mut r)
    };
    sh.write_frame(&r.buf);
    for u in r.after {
        sh.write_frame(format!("\r\n{u}\r\n").as_bytes());
    }
    drop(st);
    super::aliyun::after_command(sh);
    next
}

fn finish_data(sh: &Arc<Shared>, kind: DataKind, data: Vec<u8>) {
    let mut st = sh.state();
    let mut r = Resp {
        buf: Vec::new(),
        after: Vec::new(),
    };
    st.data_done(sh, kind, data, &mut r);
    sh.write_frame(&r.buf);
    for u in r.after {
        sh.write_frame(format!("\r\n{u}\r\n").as_bytes());
    }
}

/// One parsed parameter.
pub(crate) struct Arg {
    pub(crate) text: String,
    /// Whether the parameter was written between quotes (a string parameter must be).
    pub(crate) quoted: bool,
}

pub(crate) fn split_args(s: &str) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut had_quote = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                had_quote = true;
            }
            ',' if !quoted => {
                out.push(Arg {
                    text: std::mem::take(&mut cur).trim().to_owned(),
                    quoted: std::mem::take(&mut had_quote),
                });
            }
            _ => cur.push(c),
        }
    }
    out.push(Arg {
        text: cur.trim().to_owned(),
        quoted: had_quote,
    });
    out
}

/// Integer parameter `i` within `lo..=hi`.
pub(crate) fn int(args: &[Arg], i: usize, lo: i64, hi: i64) -> Option<i64> {
    let v: i64 = args.get(i)?.text.parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

/// Optional integer: `default` when absent or empty, None when invalid.
pub(crate) fn opt_int(args: &[Arg], i: usize, lo: i64, hi: i64, default: i64) -> Option<i64> {
    match args.get(i) {
        None => Some(default),
        Some(a) if a.text.is_empty() => Some(default),
        Some(_) => int(args, i, lo, hi),
    }
}

pub(crate) fn num(args: &[Arg], i: usize) -> Option<i64> {
    args.get(i)?.text.parse().ok()
}

pub(crate) enum Form<'a> {
    Exec,
    Read,
    Test,
    Write(&'a str),
}

fn cme_text(code: u16) -> &'static str {
    match code {
        3 => "operation not allowed",
        30 => "no network service",
        4 => "operation not supported",
        _ => "Incorrect parameters",
    }
}

impl Modem {
    pub(crate) fn cme(&self, r: &mut Resp, code: u16) {
        match self.cmee {
            1 => r.line(&format!("+CME ERROR: {code}")),
            2 => r.line(&format!("+CME ERROR: {}", cme_text(code))),
            _ => r.error(),
        }
    }

    fn execute(&mut self, sh: &Arc<Shared>, body: &str, r: &mut Resp) -> Next {
        if body.is_empty() {
            r.ok();
            return Next::Line;
        }
        if let Some(ext) = body.strip_prefix('+') {
            let end = ext.find(['=', '?']).unwrap_or(ext.len());
            let name = ext[..end].to_ascii_uppercase();
            let rest = &ext[end..];
            let form = if rest.is_empty() {
                Form::Exec
            } else if rest == "?" {
                Form::Read
            } else if rest == "=?" {
                Form::Test
            } else if let Some(a) = rest.strip_prefix('=') {
                Form::Write(a)
            } else {
                r.error();
                return Next::Line;
            };
            let quectel = self.profile.family == Family::Qmt;
            if quectel {
                if let Some(next) = super::qmt::execute(self, sh, &name, &form, r) {
                    return next;
                }
            }
            if self.aliyun_command(sh, &name, &form, r).is_some() {
                return Next::Line;
            }
            if let Some(cmd) = name.strip_prefix("CMQTT") {
                if quectel {
                    r.error();
                    return Next::Line;
                }
                return self.cmqtt(sh, cmd, form, r);
            }
            if let ("CCERTDOWN", Form::Write(a)) = (name.as_str(), &form) {
                if quectel {
                    r.error();
                    return Next::Line;
                }
                return self.certdown(a, r);
            }
            self.generic(&name, form, r);
            return Next::Line;
        }
        self.basic(&body.to_ascii_uppercase(), r);
        Next::Line
    }

    fn basic(&mut self, b: &str, r: &mut Resp) {
        let p = self.profile;
        match b {
            "E0" => {
                self.echo = false;
                r.ok()
            }
            "E1" | "E" => {
                self.echo = true;
                r.ok()
            }
            // Quectel: three lines (field `bg96_tinygsm157_pdpdeact_rdy.at`; BG96 and EC2x
            // AT manuals, ATI).
            "I" | "I0" if p.family == Family::Qmt => {
                r.line(p.manufacturer);
                r.line(p.model);
                r.line(&format!("Revision: {}", p.revision));
                r.ok()
            }
            "I" | "I0" => {
                r.line(&format!("Manufacturer: {}", p.manufacturer));
                r.line(&format!("Model: {}", p.model));
                r.line(&format!("Revision: {}", p.revision));
                r.line(&format!("IMEI: {}", p.imei));
                r.line("+GCAP: +CGSM,+FCLASS,+DS");
                r.ok()
            }
            "Z" | "Z0" | "&F" | "&F0" => {
                self.echo = true;
                self.cmee = 0;
                r.ok()
            }
            "V1" | "Q0" | "&W" | "&W0" | "&D0" | "&D1" | "&D2" | "&C0" | "&C1" | "H" | "H0" => {
                r.ok()
            }
            _ => r.error(),
        }
    }

    fn generic(&mut self, name: &str, form: Form<'_>, r: &mut Resp) {
        let p = self.profile;
        match (name, form) {
            ("CGMI" | "GMI", Form::Exec) => r.answer(p.manufacturer),
            ("CGMM" | "GMM", Form::Exec) => r.answer(p.model),
            // Quectel prints the revision alone (BG96 / EC2x AT manuals, AT+CGMR and AT+GMR).
            ("CGMR" | "GMR", Form::Exec) if p.family == Family::Qmt => r.answer(p.revision),
            ("CGMR" | "GMR", Form::Exec) => r.answer(&format!("+CGMR: {}", p.revision)),
            ("CGSN" | "GSN", Form::Exec) => r.answer(p.imei),
            ("CIMI", Form::Exec) => r.answer(p.imsi),
            ("CICCID", Form::Exec) => r.answer(&format!("+ICCID: {}", p.iccid)),
            ("CCID", Form::Exec | Form::Read) => r.answer(&format!("+CCID: {}", p.iccid)),
            ("CPIN", Form::Read) => r.answer("+CPIN: READY"),
            ("CSQ", Form::Exec) => r.answer("+CSQ: 23,0"),
            ("CSQ", Form::Test) => r.answer("+CSQ: (0-31,99),(0-7,99)"),
            ("CREG" | "CGREG" | "CEREG", f) => {
                let i = match name {
                    "CREG" => 0,
                    "CGREG" => 1,
                    _ => 2,
                };
                // <stat> 1 registered (home), 0 not registered and not searching (radio off
                // or deregistered with AT+COPS=2); the packet-domain ones also 0 after
                // AT+CGATT=0 (3GPP TS 27.007, +CREG / +CGREG / +CEREG).
                let stat = if i == 0 {
                    u8::from(self.registered())
                } else {
                    u8::from(self.attached())
                };
                match f {
                    Form::Read => r.answer(&format!("+{name}: {},{stat}", self.reg_n[i])),
                    Form::Test => r.answer(&format!("+{name}: (0-2)")),
                    Form::Write(a) => match int(&split_args(a), 0, 0, 2) {
                        Some(n) => {
                            self.reg_n[i] = n as u8;
                            r.ok()
                        }
                        None => self.cme(r, 50),
                    },
                    Form::Exec => {
                        self.reg_n[i] = 0;
                        r.ok()
                    }
                }
            }
            ("COPS", Form::Read) if self.deregistered => r.answer("+COPS: 2"),
            ("COPS", Form::Read) if !self.registered() => r.answer("+COPS: 0"),
            ("COPS", Form::Read) => r.answer(&format!("+COPS: 0,0,\"CHINA MOBILE\",{}", p.act)),
            ("COPS", Form::Test) => {
                r.line(&format!(
                    "+COPS: (2,\"CHINA MOBILE\",\"CMCC\",\"46000\",{}),,(0-4),(0-2)",
                    p.act
                ));
                r.ok()
            }
            // <mode> 0/1/4 register (again), 2 deregisters, 3 only sets the format
            // (27.007 §7.3).
            ("COPS", Form::Write(a)) => match int(&split_args(a), 0, 0, 4) {
                Some(2) => {
                    r.ok();
                    if !self.deregistered {
                        self.deregistered = true;
                        self.network_lost(r);
                    }
                }
                Some(3) => r.ok(),
                Some(_) if self.cfun == 1 => {
                    self.deregistered = false;
                    self.network_back();
                    r.ok()
                }
                // No radio: the registration cannot be made.
                Some(_) => self.cme(r, 30),
                None => self.cme(r, 50),
            },
            ("CGATT", Form::Read) => r.answer(&format!("+CGATT: {}", u8::from(self.attached()))),
            ("CGATT", Form::Test) => r.answer("+CGATT: (0,1)"),
            ("CGATT", Form::Write(a)) => match int(&split_args(a), 0, 0, 1) {
                Some(0) => {
                    r.ok();
                    if !self.detached {
                        self.detached = true;
                        self.network_lost(r);
                    }
                }
                Some(_) if self.registered() => {
                    self.detached = false;
                    self.network_back();
                    r.ok()
                }
                Some(_) => self.cme(r, 30),
                None => self.cme(r, 50),
            },
            ("CGDCONT", Form::Write(a)) => {
                let args = split_args(a);
                let Some(cid) = int(&args, 0, 1, 15) else {
                    return self.cme(r, 50);
                };
                if args.len() == 1 {
                    self.cgdcont.remove(&(cid as u8));
                    return r.ok();
                }
                let ty = args[1].text.to_ascii_uppercase();
                if !matches!(ty.as_str(), "IP" | "IPV6" | "IPV4V6" | "PPP" | "NON-IP") {
                    return self.cme(r, 50);
                }
                let apn = args.get(2).map(|a| a.text.clone()).unwrap_or_default();
                self.cgdcont.insert(cid as u8, (ty, apn));
                r.ok()
            }
            ("CGDCONT", Form::Read) => {
                for (cid, (ty, apn)) in &self.cgdcont {
                    r.line(&format!(
                        "+CGDCONT: {cid},\"{ty}\",\"{apn}\",\"0.0.0.0\",0,0,0,0"
                    ));
                }
                r.ok()
            }
            ("CGDCONT", Form::Test) => {
                r.line("+CGDCONT: (1-15),\"IP\",,,(0-2),(0-4),(0-1),(0-1)");
                r.line("+CGDCONT: (1-15),\"IPV6\",,,(0-2),(0-4),(0-1),(0-1)");
                r.line("+CGDCONT: (1-15),\"IPV4V6\",,,(0-2),(0-4),(0-1),(0-1)");
                r.ok()
            }
            ("CGSOCKCONT", Form::Write(a)) => {
                let args = split_args(a);
                if int(&args, 0, 1, 24).is_none() {
                    return self.cme(r, 50);
                }
                r.ok()
            }
            ("CGSOCKCONT", Form::Read) => {
                for (cid, (ty, apn)) in &self.cgdcont {
                    r.line(&format!(
                        "+CGSOCKCONT: {cid},\"{ty}\",\"{apn}\",\"0.0.0.0\",0,0"
                    ));
                }
                r.ok()
            }
            ("CGACT", Form::Read) => {
                for cid in self.cgdcont.keys() {
                    r.line(&format!(
                        "+CGACT: {cid},{}",
                        u8::from(self.active.contains(cid))
                    ));
                }
                r.ok()
            }
            // AT+CGACT=<state>[,<cid>[,<cid>...]]: no cid = every defined context; a context
            // already in the state stays so; activation needs the packet domain (27.007
            // §10.1.10); an undefined cid is an error.
            ("CGACT", Form::Write(a)) => {
                let args = split_args(a);
                let Some(state) = int(&args, 0, 0, 1) else {
                    return self.cme(r, 50);
                };
                let mut cids = Vec::new();
                for i in 1..args.len() {
                    match int(&args, i, 1, 15) {
                        Some(c) if self.cgdcont.contains_key(&(c as u8)) => cids.push(c as u8),
                        _ => return self.cme(r, 50),
                    }
                }
                if cids.is_empty() {
                    cids = self.cgdcont.keys().copied().collect();
                }
                if state == 1 {
                    if !self.attached() {
                        return self.cme(r, 30);
                    }
                    for c in cids {
                        self.context_up(c);
                    }
                    r.ok()
                } else {
                    r.ok();
                    self.contexts_down(&cids, false, r);
                }
            }
            ("CGACT", Form::Test) => r.answer("+CGACT: (0,1)"),
            ("CGPADDR", Form::Exec | Form::Write(_)) => {
                for cid in self.cgdcont.keys() {
                    if *cid == 1 && self.active.contains(cid) {
                        r.line("+CGPADDR: 1,10.49.14.68");
                    } else {
                        r.line(&format!("+CGPADDR: {cid},0.0.0.0"));
                    }
                }
                r.ok()
            }
            ("CFUN", Form::Read) => r.answer(&format!("+CFUN: {}", self.cfun)),
            // 0 minimum functionality and 4 flight mode switch the radio off: the module
            // deregisters and its contexts go down; 1 switches it on and registers again
            // (at once here), contexts staying down until the host (or AT+QMTOPEN,
            // AT+CMQTTSTART) brings them up. 5-7 are taken and change nothing here.
            ("CFUN", Form::Write(a)) => match int(&split_args(a), 0, 0, 7) {
                Some(f @ (0 | 4)) => {
                    r.ok();
                    let was = self.registered();
                    self.cfun = f as u8;
                    if was {
                        self.network_lost(r);
                    }
                }
                Some(1) => {
                    self.cfun = 1;
                    self.network_back();
                    r.ok()
                }
                Some(_) => r.ok(),
                None => self.cme(r, 50),
            },
            ("CFUN", Form::Test) => r.answer("+CFUN: (0,1,4),(0-1)"),
            ("IPR", Form::Read) => r.answer("+IPR: 115200"),
            ("IPR", Form::Test) => {
                r.answer("+IPR: (0,300,600,1200,2400,4800,9600,19200,38400,57600,115200,230400,460800,921600,3000000,3200000,3686400)");
            }
            ("IPR", Form::Write(a)) => match num(&split_args(a), 0) {
                Some(
                    0 | 300 | 600 | 1200 | 2400 | 4800 | 9600 | 19200 | 38400 | 57600 | 115200
                    | 230400 | 460800 | 921600 | 3000000 | 3200000 | 3686400,
                ) => r.ok(),
                _ => self.cme(r, 50),
            },
            ("CMEE", Form::Read) => r.answer(&format!("+CMEE: {}", self.cmee)),
            ("CMEE", Form::Test) => r.answer("+CMEE: (0-2)"),
            ("CMEE", Form::Write(a)) => match int(&split_args(a), 0, 0, 2) {
                Some(n) => {
                    self.cmee = n as u8;
                    r.ok()
                }
                None => self.cme(r, 50),
            },
            ("CMEE", Form::Exec) => {
                self.cmee = 0;
                r.ok()
            }
            ("CSSLCFG", f) => self.csslcfg(f, r),
            ("CCERTLIST", Form::Exec) => {
                for name in self.certs.keys() {
                    r.line(&format!("+CCERTLIST: \"{name}\""));
                }
                r.ok()
            }
            ("CCERTDELE", Form::Write(a)) => {
                let args = split_args(a);
                let name = args.first().map(|a| a.text.as_str()).unwrap_or("");
                if self.certs.remove(name).is_some() {
                    r.ok()
                } else {
                    r.error()
                }
            }
            _ => r.error(),
        }
    }

    fn csslcfg(&mut self, f: Form<'_>, r: &mut Resp) {
        let max = self.profile.ssl_ctx_max;
        match f {
            Form::Test => {
                r.line(&format!("+CSSLCFG: \"sslversion\",(0-{max}),(0-4)"));
                r.line(&format!("+CSSLCFG: \"authmode\",(0-{max}),(0-3)"));
                r.line(&format!("+CSSLCFG: \"ignorelocaltime\",(0-{max}),(0-1)"));
                r.line(&format!("+CSSLCFG: \"negotiatetime\",(0-{max}),(10-300)"));
                r.line(&format!("+CSSLCFG: \"cacert\",(0-{max}),(5-108)"));
                r.line(&format!("+CSSLCFG: \"clientcert\",(0-{max}),(5-108)"));
                r.line(&format!("+CSSLCFG: \"clientkey\",(0-{max}),(5-108)"));
                r.ok()
            }
            Form::Write(a) => {
                let args = split_args(a);
                // `AT+CSSLCFG=<ctx>` reads one context.
                if args.len() == 1 {
                    return match int(&args, 0, 0, i64::from(max)) {
                        Some(c) => {
                            self.csslcfg_line(c as usize, r);
                            r.ok()
                        }
                        None => r.error(),
                    };
                }
                let key = args[0].text.to_ascii_lowercase();
                let Some(ctx) = int(&args, 1, 0, i64::from(max)) else {
                    return r.error();
                };
                let c = &mut self.ssl[ctx as usize];
                let ok = match key.as_str() {
                    "sslversion" => int(&args, 2, 0, 4).map(|v| c.sslversion = v as u8),
                    "authmode" => int(&args, 2, 0, 3).map(|v| c.authmode = v as u8),
                    // The manual's own example spells it "ignorlocaltime".
                    "ignorelocaltime" | "ignorlocaltime" => {
                        int(&args, 2, 0, 1).map(|v| c.ignorelocaltime = v as u8)
                    }
                    "negotiatetime" => int(&args, 2, 10, 300).map(|v| c.negotiatetime = v as u16),
                    "cacert" | "clientcert" | "clientkey" => match args.get(2) {
                        Some(v) if !v.text.is_empty() && v.text.len() <= 108 => {
                            let v = v.text.clone();
                            match key.as_str() {
                                "cacert" => c.cacert = v,
                                "clientcert" => c.clientcert = v,
                                _ => c.clientkey = v,
                            }
                            Some(())
                        }
                        _ => None,
                    },
                    "enablesni" => int(&args, 2, 0, 1).map(|_| ()),
                    _ => None,
                };
                if ok.is_some() {
                    r.ok()
                } else {
                    r.error()
                }
            }
            Form::Read => {
                for i in 0..self.ssl.len() {
                    self.csslcfg_line(i, r);
                }
                r.ok()
            }
            Form::Exec => r.error(),
        }
    }

    fn csslcfg_line(&self, i: usize, r: &mut Resp) {
        if let Some(c) = self.ssl.get(i) {
            r.line(&format!(
                "+CSSLCFG: {i},{},{},{},{},\"{}\",\"{}\",\"{}\"",
                c.sslversion,
                c.authmode,
                c.ignorelocaltime,
                c.negotiatetime,
                c.cacert,
                c.clientcert,
                c.clientkey
            ));
        }
    }

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
        if !self.started && cmd != "START" {
            // "if you don't execute AT+CMQTTSTART, the Write/Read Command of
            // any other MQTT will return ERROR immediately."
            r.error();
            return Next::Line;
        }
        match (cmd, form) {
            ("START", Form::Exec) => {
                if self.started {
                    r.line("+CMQTTSTART: 23");
                    r.error();
                } else if !self.context_up(1) {
                    // "start MQTT service by activating PDP context" (seeds/003 §2.1.1):
                    // without a network it cannot; `OK` then the failure form with 7
                    // "network open fail" (§2.2.1; which code, a guess).
                    r.ok();
                    r.urc_after("+CMQTTSTART: 7".to_owned());
                } else {
                    self.started = true;
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
                for s in self.slots.iter_mut() {
                    if let Some(l) = s.link.take() {
                        // Its generation is no longer current, so the link
                        // thread reports nothing.
                        l.retire();
                    }
                    *s = Slot::default();
                }
                self.started = false;
                r.ok();
                r.urc_after("+CMQTTSTOP: 0".to_owned());
            }
            ("ACCQ", Form::Read) => {
                let all = self.profile.clients > 1;
                for (i, s) in self.slots.iter().enumerate() {
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
                let s = &mut self.slots[usize::from(idx)];
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
                let s = &mut self.slots[usize::from(idx)];
                if s.acquired.is_none() {
                    if self.profile.rel_of_free_client_is_ok() {
                        r.ok();
                        return Next::Line;
                    }
                    return failn(r, "REL", idx, 20);
                }
                if s.link.is_some() {
                    // Still connected: DISC first.
                    return failn(r, "REL", idx, 14);
                }
                *s = Slot::default();
                r.ok()
            }
            ("SSLCFG", Form::Read) => {
                for (i, s) in self.slots.iter().enumerate() {
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
                        self.slots[usize::from(i)].ssl_ctx = Some(c as u8);
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
                for (i, s) in self.slots.iter().enumerate() {
                    match &s.link {
                        Some(l) if l.connected => r.line(&format!("+CMQTTCONNECT: {i},{}", l.info)),
                        _ => r.line(&format!("+CMQTTCONNECT: {i}")),
                    }
                }
                r.ok()
            }
            ("CONNECT", Form::Write(a)) => self.connect(sh, a, r),
            ("DISC", Form::Read) => {
                for (i, s) in self.slots.iter().enumerate() {
                    let state = match &s.link {
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
                let s = &mut self.slots[usize::from(idx)];
                if s.acquired.is_none() {
                    return failn(r, cmd, idx, 20);
                }
                match s.link.as_mut() {
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
                for (i, s) in self.slots.iter().enumerate() {
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
                if self.slots[idx].acquired.is_none() || args.len() != 3 {
                    r.error();
                    return Next::Line;
                }
                match key.as_str() {
                    "checkutf8" => match int(&args, 2, 0, 1) {
                        Some(v) => {
                            self.slots[idx].check_utf8 = v == 1;
                            r.ok()
                        }
                        None => r.error(),
                    },
                    "optimeout" => match int(&args, 2, 20, 120) {
                        Some(v) => {
                            self.slots[idx].optimeout = v as u32;
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
        let s = &self.slots[slot_i];
        let Some((client_id, server_type)) = s.acquired.clone() else {
            return fail(r, "CONNECT", idx, 20);
        };
        if let Some(l) = &s.link {
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
                let file = |n: &str| -> Option<&[u8]> {
                    if n.is_empty() {
                        None
                    } else {
                        self.certs.get(n).map(Vec::as_slice)
                    }
                };
                let setup = tls::Setup {
                    sslversion: c.sslversion,
                    authmode: c.authmode,
                    cacert: file(&c.cacert),
                    clientcert: file(&c.clientcert),
                    clientkey: file(&c.clientkey),
                    server_name: &host,
                };
                let (need_ca, need_client) = tls::needs(c.authmode);
                let missing = (need_ca && setup.cacert.is_none())
                    || (need_client && (setup.clientcert.is_none() || setup.clientkey.is_none()));
                if missing {
                    forced = Some(tls::NOT_SET_CERTIFICATE);
                } else {
                    match tls::client_config(&setup) {
                        Ok(cfg) => tls_cfg = Some((cfg, c.negotiatetime)),
                        Err(code) => forced = Some(code),
                    }
                }
            }
        }
        let s = &self.slots[slot_i];
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
        self.slots[slot_i].link = Some(link);
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
        let s = &mut self.slots[usize::from(idx)];
        if s.acquired.is_none() {
            return fail(r, "PUB", idx, 20);
        }
        // "The topic and payload will be clean after execute AT+CMQTTPUB."
        let topic = s.topic.take();
        let payload = s.payload.take().unwrap_or_default();
        let Some(link) = s.link.as_ref().filter(|l| l.connected && !l.disconnecting) else {
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
        if self.slots[i].acquired.is_none() {
            return failn(r, cmd, idx, 20);
        }
        if need_link && !self.is_connected(i) {
            return failn(r, cmd, idx, 11);
        }
        r.prompt();
        Next::Data(kind, len as usize)
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
        if self.slots[i].acquired.is_none() {
            fail(r, cmd, idx, 20);
            return None;
        }
        let topics = std::mem::take(list(&mut self.slots[i]));
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
        let Some(s) = self.slots.get(usize::from(idx)) else {
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
        self.slots[i]
            .link
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
        let Some(link) = self.slots[usize::from(idx)].link.as_ref() else {
            return fail(r, "SUB", idx, 11);
        };
        let timeout = Duration::from_secs(u64::from(self.slots[usize::from(idx)].optimeout));
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
        let group = self.next_group;
        self.next_group += 1;
        let timeout = Duration::from_secs(u64::from(self.slots[usize::from(idx)].optimeout));
        let Some(link) = self.slots[usize::from(idx)].link.as_ref() else {
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

    fn data_done(&mut self, _sh: &Arc<Shared>, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
        match kind {
            DataKind::WillTopic(idx) | DataKind::Topic(idx) | DataKind::UnsubTopic(idx) => {
                let cmd = match kind {
                    DataKind::WillTopic(_) => "WILLTOPIC",
                    DataKind::Topic(_) => "TOPIC",
                    _ => "UNSUBTOPIC",
                };
                let Some(s) = self.slots.get_mut(usize::from(idx)) else {
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
                let Some(s) = self.slots.get_mut(usize::from(idx)) else {
                    return r.error();
                };
                if !s.utf8_ok(&data) {
                    return fail(r, "WILLMSG", idx, 2);
                }
                s.will_msg = Some((data, q));
                r.ok()
            }
            DataKind::Payload(idx) => {
                let Some(s) = self.slots.get_mut(usize::from(idx)) else {
                    return r.error();
                };
                if !s.utf8_ok(&data) {
                    return fail(r, "PAYLOAD", idx, 2);
                }
                s.payload = Some(data);
                r.ok()
            }
            DataKind::SubTopic(idx, q) => {
                let Some(s) = self.slots.get_mut(usize::from(idx)) else {
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
            DataKind::Cert(name) => {
                self.certs.insert(name, data);
                r.ok()
            }
            DataKind::Qmt(k) => super::qmt::data_done(self, k, data, r),
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

pub(crate) fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
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
    /// `AT+CCERTDOWN="name",len` (handled here so the prompt logic stays in
    /// one place).
    fn certdown(&mut self, a: &str, r: &mut Resp) -> Next {
        let args = split_args(a);
        let name = args.first().map(|a| a.text.clone()).unwrap_or_default();
        let len = int(&args, 1, 1, CERT_MAX as i64);
        let lname = name.to_ascii_lowercase();
        match len {
            Some(len)
                if args.len() == 2
                    && !name.is_empty()
                    && name.len() <= 108
                    && (lname.ends_with(".pem") || lname.ends_with(".der")) =>
            {
                r.prompt();
                Next::Data(DataKind::Cert(name), len as usize)
            }
            _ => {
                r.error();
                Next::Line
            }
        }
    }
}
