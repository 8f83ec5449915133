//! The u-blox `AT+UMQTT` / `AT+UMQTTC` command set of the virtual modem (profile
//! `sara-r5`), with the PSD profile commands (`AT+UPSD`, `AT+UPSDA`) the login needs and the
//! security commands (`AT+USECMNG`, `AT+USECPRF`) TLS needs.
//!
//! Behaviour follows ubxlib (u-blox's own driver), the SparkFun SARA-R5 library and field
//! logs (see src/dialect/umqtt.rs and docs/fidelity.md, where every choice names its
//! source or says "guess"). In short:
//!
//! * Profile setters answer a bare `OK`; `AT+UMQTT=<op>` alone reads the value back as
//!   `+UMQTT: <op>,<value>`. `AT+UMQTT=12` (clean session) is refused: SARA-R5 has no
//!   session retention.
//! * `AT+UMQTTC=1` answers `+CME ERROR: operation not allowed` until the PSD profile is
//!   mapped and active (`AT+UPSD=0,100,<cid>`, `AT+UPSDA=0,3`), and while another MQTT
//!   operation waits for its result. Results come as `+UUMQTTC: <op>,<result>...` once the
//!   broker answered.
//! * Keep-alive pings go out only after `AT+UMQTTC=8,1`, switched off at every login: a
//!   client that never switches them on is dropped by the broker (1.5 x keep-alive).
//! * Received messages are stored (acknowledged to the broker when the host reads them)
//!   and announced with `+UUMQTTC: 6,<unread>`; `AT+UMQTTC=6,1` reads the oldest. With
//!   [`STORE_MAX`] stored the link stops taking more (a guess: the limit is not known).
//! * Link loss: `+UUMQTTC: 0,101`; fault injection takes the causes 100-102.

use std::collections::VecDeque;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use md5::{Digest, Md5};
use rumqttc::{LastWill, MqttOptions, SubscribeFilter};

use super::args::{decode_hex, int, opt_int, split_args, Arg, Cmd, Form, Resp};
use super::conn::{LinkEvent, OutPublish};
use super::link;
use super::link::qos;
use super::modem::Modem;
use super::modem::{own_data, refuse_if, FamilyData, SimFamily};
use super::parser::{self, Next};
use super::profile::{Family, Profile};
use super::ssl::{self, TlsFiles};
use super::{lock, Shared};

mod mqtt;
use mqtt::*;

/// SARA-R510M8S. The revision is a guess (no log shows one); boot prints `RDY`, a guess
/// too (the client's restart detection listens for it).
pub(crate) static SARA_R5: Profile = Profile {
    name: "sara-r5",
    family: Family::Umqtt,
    manufacturer: "u-blox",
    model: "SARA-R510M8S",
    revision: "03.15",
    imei: "357520070000041",
    imsi: "901281234567894",
    iccid: "89882280666032717624",
    clients: 1,
    client_id_max: 256,
    server_addr_len: (1, 256),
    ssl_ctx_max: 4,
    payload_max: PAYLOAD_MAX,
    act: 7,
    boot_urcs: &["RDY"],
};

pub(crate) static PROFILES: [&Profile; 1] = [&SARA_R5];

/// Binary publish (`AT+UMQTTC=9`) and text publish: ubxlib's limits.
const PAYLOAD_MAX: usize = 1024;
/// Topic names and filters, will topic and will message: ubxlib's limits.
const TOPIC_MAX: usize = 256;
const WILL_MAX: usize = 256;
/// Stored received messages before the link stops taking more (a guess).
pub(crate) const STORE_MAX: usize = 64;
/// `AT+USECPRF` profiles 0-4.
const SEC_PROFILES: usize = 5;
/// The address the PSD profile gets (as `AT+CGPADDR` reports context 1).
const IP: &str = "10.49.14.68";

#[derive(Clone, Default)]
struct Cfg {
    client_id: String,
    host: Option<(String, u16)>,
    user: Option<String>,
    pass: Option<String>,
    keepalive: u16,
    will_qos: u8,
    will_retain: bool,
    will_topic: String,
    will_msg: Vec<u8>,
    secure: (bool, u8),
}

#[derive(Clone, Default)]
struct SecPrf {
    level: u8,
    version: u8,
    ca: String,
    cert: String,
    key: String,
    server_name: String,
}

struct Stored {
    qos: u8,
    topic: String,
    payload: Vec<u8>,
    /// The link generation it came on and the packet to acknowledge once read.
    ack: Option<(u64, rumqttc::Publish)>,
}

pub(crate) struct State {
    /// `AT+UPSD=0,100,<cid>`: the PDP context PSD profile 0 is mapped to.
    psd_cid: Option<u8>,
    /// `AT+UPSDA=0,3` done (and the context still up).
    psd_active: bool,
    cfg: Cfg,
    /// The MQTT operation waiting for its `+UUMQTTC` result.
    busy: Option<u8>,
    /// The filter of the subscribe in flight (echoed in its result).
    sub_filter: String,
    /// `+UMQTTER: <class>,<code>` of the last failure.
    error: (u16, u16),
    stored: VecDeque<Stored>,
    sec: Vec<SecPrf>,
}

impl State {
    fn new() -> State {
        State {
            psd_cid: None,
            psd_active: false,
            cfg: Cfg {
                keepalive: 60,
                ..Cfg::default()
            },
            busy: None,
            sub_filter: String::new(),
            error: (0, 0),
            stored: VecDeque::new(),
            sec: vec![SecPrf::default(); SEC_PROFILES],
        }
    }
}

/// What the host sends after a prompt.
pub(crate) enum DataKind {
    Publish {
        qos: u8,
        retain: bool,
        topic: String,
    },
    Import {
        kind: u8,
        name: String,
    },
}

/// `+CME ERROR: operation not allowed` (3).
fn not_allowed(m: &Modem, r: &mut Resp) {
    m.cme(r, 3)
}

fn text(a: &Arg) -> String {
    a.text.clone()
}

fn upsd(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let (Some(0), Some(param)) = (int(&args, 0, 0, 6), int(&args, 1, 0, 100)) else {
        return r.error();
    };
    match (param, args.len()) {
        (100, 2) => {
            let cid = st(&m.fam).psd_cid.unwrap_or(0);
            r.answer(&format!("+UPSD: 0,100,{cid}"))
        }
        (100, 3) => match int(&args, 2, 0, 8) {
            Some(cid) => {
                st_mut(&mut m.fam).psd_cid = (cid > 0).then_some(cid as u8);
                r.ok()
            }
            None => r.error(),
        },
        // IP type and the other parameters are taken as they are.
        (_, 3) => r.ok(),
        _ => r.error(),
    }
}

fn upsda(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let (Some(0), Some(action), 2) = (int(&args, 0, 0, 6), int(&args, 1, 0, 6), args.len()) else {
        return r.error();
    };
    match action {
        3 => {
            let s = st(&m.fam);
            let Some(cid) = s.psd_cid.filter(|_| !s.psd_active) else {
                return not_allowed(m, r);
            };
            if !m.active.contains(&cid) && !m.context_up(cid) {
                // Not registered, or the context is not defined (a guess at the answer).
                return m.cme(r, 30);
            }
            st_mut(&mut m.fam).psd_active = true;
            r.ok();
            r.net_after(format!("+UUPSDA: 0,\"{IP}\""));
        }
        4 => {
            st_mut(&mut m.fam).psd_active = false;
            logout_abruptly(m, r);
            r.ok();
        }
        _ => r.ok(),
    }
}

/// `AT+UMQTT=<op>[,...]`: a profile setter, or with `<op>` alone its value.
fn umqtt(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let Some(op) = int(&args, 0, 0, 15) else {
        return r.error();
    };
    let c = &mut st_mut(&mut m.fam).cfg;
    if args.len() == 1 {
        let value = match op {
            0 => format!("\"{}\"", c.client_id),
            2 | 3 => match &c.host {
                Some((h, p)) => format!("\"{h}\",{p}"),
                None => "\"\",1883".into(),
            },
            10 => c.keepalive.to_string(),
            11 if c.secure.0 => format!("1,{}", c.secure.1),
            11 => "0".into(),
            _ => return r.error(),
        };
        return r.answer(&format!("+UMQTT: {op},{value}"));
    }
    let s = |i: usize, max: usize| args.get(i).filter(|v| v.text.len() <= max).map(text);
    let ok = match op {
        0 => s(1, 256)
            .filter(|v| !v.is_empty() && args.len() == 2)
            .map(|v| c.client_id = v),
        2 | 3 => match (s(1, 256), opt_int(&args, 2, 1, 65535, 1883)) {
            (Some(h), Some(p)) if !h.is_empty() && args.len() <= 3 => {
                c.host = Some((h, p as u16));
                Some(())
            }
            _ => None,
        },
        4 => s(1, 256).filter(|_| args.len() <= 3).map(|u| {
            c.user = (!u.is_empty()).then_some(u);
            c.pass = s(2, 256).filter(|p| !p.is_empty());
        }),
        6 => int(&args, 1, 0, 2).map(|q| c.will_qos = q as u8),
        7 => int(&args, 1, 0, 1).map(|v| c.will_retain = v == 1),
        8 => s(1, TOPIC_MAX).map(|t| c.will_topic = t),
        9 => match (s(1, 2 * WILL_MAX), opt_int(&args, 2, 0, 1, 0)) {
            (Some(msg), Some(0)) if msg.len() <= WILL_MAX => {
                c.will_msg = msg.into_bytes();
                Some(())
            }
            (Some(hex), Some(1)) => decode_hex(&hex).map(|b| c.will_msg = b),
            _ => None,
        },
        10 => int(&args, 1, 0, 65535).map(|v| c.keepalive = v as u16),
        11 => match (
            int(&args, 1, 0, 1),
            opt_int(&args, 2, 0, SEC_PROFILES as i64 - 1, 0),
        ) {
            (Some(on), Some(prf)) => {
                c.secure = (on == 1, prf as u8);
                Some(())
            }
            _ => None,
        },
        // 1 local port: SARA-R412M-02B only; 12 clean session: SARA-R5 has no session
        // retention (ubxlib).
        _ => None,
    };
    match ok {
        Some(()) => r.ok(),
        None if op == 12 || op == 1 => m.cme(r, 4),
        None => r.error(),
    }
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `AT+USECMNG=<op>,...`: 0 import (prompt, data, MD5), 2 remove, 3 list, 4 MD5.
fn usecmng(m: &mut Modem, a: &str, r: &mut Resp) -> Next {
    let args = split_args(a);
    let kind = int(&args, 1, 0, 2);
    let name = args
        .get(2)
        .map(text)
        .filter(|n| !n.is_empty() && n.len() <= 200);
    match (int(&args, 0, 0, 4), kind, name) {
        (Some(0), Some(kind), Some(name)) => match int(&args, 3, 1, 16384) {
            Some(len) if args.len() <= 5 => {
                r.prompt();
                Next::Data(
                    parser::DataKind::family(DataKind::Import {
                        kind: kind as u8,
                        name,
                    }),
                    len as usize,
                )
            }
            _ => {
                r.error();
                Next::Line
            }
        },
        (Some(2), Some(_), Some(name)) => {
            if m.certs.remove(&name).is_some() {
                r.ok()
            } else {
                r.error()
            }
            Next::Line
        }
        (Some(4), Some(kind), Some(name)) => {
            match m.certs.get(&name) {
                Some(d) => r.answer(&format!("+USECMNG: 4,{kind},\"{name}\",\"{}\"", md5_hex(d))),
                None => r.error(),
            }
            Next::Line
        }
        (Some(3), _, _) => {
            for (n, d) in &m.certs {
                r.line(&format!("\"{n}\",{}", d.len()));
            }
            r.ok();
            Next::Line
        }
        _ => {
            r.error();
            Next::Line
        }
    }
}

/// `AT+USECPRF=<prf>[,<op>,<value>]`.
fn usecprf(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let Some(prf) = int(&args, 0, 0, SEC_PROFILES as i64 - 1) else {
        return r.error();
    };
    let p = &mut st_mut(&mut m.fam).sec[prf as usize];
    if args.len() == 1 {
        *p = SecPrf::default();
        return r.ok();
    }
    let name = || args.get(2).map(text);
    let ok = match int(&args, 1, 0, 14) {
        Some(0) => int(&args, 2, 0, 3).map(|v| p.level = v as u8),
        Some(1) => int(&args, 2, 0, 4).map(|v| p.version = v as u8),
        Some(3) => name().map(|n| p.ca = n),
        Some(4) | Some(10) => name().map(|n| p.server_name = n),
        Some(5) => name().map(|n| p.cert = n),
        Some(6) => name().map(|n| p.key = n),
        // Cipher suite, key password, PSK...: taken, not used.
        Some(_) if args.len() == 3 => Some(()),
        _ => None,
    };
    match ok {
        Some(()) => r.ok(),
        None => r.error(),
    }
}

/// The TLS set-up of security profile `prf` for a link to `host`: validation level 0
/// none, 1-3 the server against the trusted root; a client certificate and key when both
/// are named. `Err`: the link's connect failure code.
fn tls_for(m: &Modem, prf: u8, host: &str) -> Result<(rustls::ClientConfig, u16), u8> {
    let p = &st(&m.fam).sec[usize::from(prf)];
    let client = !p.cert.is_empty() && !p.key.is_empty();
    let authmode = match (p.level > 0, client) {
        (true, true) => 2,
        (true, false) => 1,
        (false, true) => 3,
        (false, false) => 0,
    };
    // USECPRF 1: 0 any, 1-3 TLS 1.0-1.2, 4 TLS 1.3; CSSLCFG sslversion: 4 all.
    let sslversion = match p.version {
        1..=3 => p.version,
        _ => 4,
    };
    let files = TlsFiles {
        sslversion,
        authmode,
        cacert: &p.ca,
        clientcert: &p.cert,
        clientkey: &p.key,
        negotiatetime: 60,
    };
    let name = if p.server_name.is_empty() {
        host
    } else {
        &p.server_name
    };
    ssl::tls_setup(&m.certs, &files, |n| n.to_string(), name, true)
}

/// Handles the u-blox commands; `None` for a command this module does not know.
fn execute(
    m: &mut Modem,
    sh: &Arc<Shared>,
    name: &str,
    form: &Form<'_>,
    r: &mut Resp,
) -> Option<Next> {
    let next = match (name, form) {
        // u-blox prints the revision alone (a guess: no log shows AT+CGMR).
        ("CGMR" | "GMR", Form::Exec) => {
            r.answer(m.profile.revision);
            Next::Line
        }
        ("UPSD", Form::Write(a)) => {
            upsd(m, a, r);
            Next::Line
        }
        ("UPSDA", Form::Write(a)) => {
            upsda(m, a, r);
            Next::Line
        }
        // The test answers are not known: OK, without ranges (a guess).
        ("UMQTT" | "UMQTTC" | "UPSD" | "UPSDA" | "USECMNG" | "USECPRF", Form::Test) => {
            r.ok();
            Next::Line
        }
        ("UMQTT", Form::Write(a)) => {
            umqtt(m, a, r);
            Next::Line
        }
        ("UMQTTC", Form::Write(a)) => umqttc(m, sh, a, r),
        ("UMQTTER", Form::Exec) => {
            let (c1, c2) = st(&m.fam).error;
            r.answer(&format!("+UMQTTER: {c1},{c2}"));
            Next::Line
        }
        ("USECMNG", Form::Write(a)) => usecmng(m, a, r),
        ("USECPRF", Form::Write(a)) => {
            usecprf(m, a, r);
            Next::Line
        }
        _ => return None,
    };
    Some(next)
}

/// The u-blox family (see [`SimFamily`]).
pub(crate) struct Umqtt;

super::modem::sim_family!(Umqtt, State, &PROFILES, |_| State::new());

impl SimFamily for Umqtt {
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next> {
        if let Some(next) = execute(m, sh, c.name, &c.form, r) {
            return Some(next);
        }
        // Other vendors' MQTT and file commands.
        refuse_if(
            c.name.starts_with("CMQTT") || c.name.starts_with("QMT") || c.name == "CCERTDOWN",
            r,
        )
    }

    fn data_done(&self, m: &mut Modem, kind: FamilyData, data: Vec<u8>, r: &mut Resp) {
        own_data(kind, r, |k: DataKind, r| data_done(m, k, data, r))
    }

    fn link_event(&self, _sh: &Shared, m: &mut Modem, idx: u8, ev: LinkEvent, out: &mut Vec<u8>) {
        link_event(m, idx, ev, out)
    }

    fn stores_messages(&self, _m: &Modem, _idx: u8) -> bool {
        true
    }

    fn has_free_buffer(&self, m: &Modem, _idx: u8) -> bool {
        st(&m.fam).stored.len() < STORE_MAX
    }

    /// The PSD profile's context went: the login goes with it (`+UUMQTTC: 0,101`), and
    /// by the network `+UUPSDD: 0` (a guess at both).
    fn context_down(&self, m: &mut Modem, cid: u8, by_network: bool, r: &mut Resp) {
        let s = st(&m.fam);
        if s.psd_cid != Some(cid) || !s.psd_active {
            return;
        }
        st_mut(&mut m.fam).psd_active = false;
        logout_abruptly(m, r);
        if by_network {
            r.urc_after("+UUPSDD: 0".into());
        }
    }

    fn link_causes(&self) -> RangeInclusive<u8> {
        100..=102
    }

    /// `+UUMQTTC: 0,<cause>` with the SARA-R5 codes 100-102.
    fn link_lost(&self, m: &mut Modem, _idx: u8, cause: u8) -> String {
        st_mut(&mut m.fam).busy = None;
        format!("+UUMQTTC: 0,{cause}")
    }
}
