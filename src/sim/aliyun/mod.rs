//! The Alibaba-cloud firmware of SIMCom modems: `AT+CM*` (MQTT to the Alibaba IoT
//! platform) and `AT+CC*` (CoAP), for the profiles `sim7600-aliyun` (manual seeds/000) and
//! `sim7000-aliyun` (manual seeds/002, with `AT+CMAUTOYIELD` and `AT+CMSTATUS?`).
//!
//! The MQTT side logs in to the broker as the firmware logs in to the platform: client id
//! `<pk>.<dn>|securemode=3,signmethod=hmacsha1,timestamp=<ms>|`, user name `<dn>&<pk>` and
//! the HMAC-SHA1 password of the platform's scheme, so a broker that checks them can. Topics
//! are used as given (the platform's `/<pk>/<dn>/...` names). Nothing reaches the host
//! unasked: broker events queue up and come out during `AT+CMYIELD` windows (`OK` first,
//! then `+CMYIELD:` lines for the window's length, during which commands wait, as on the
//! firmware, whose SDK call blocks the AT task) or at each `AT+CMAUTOYIELD` tick.
//!
//! The CoAP side keeps an authenticated session after `AT+CCAUTH` and answers each
//! `AT+CCSEND` with the manual's response codes; a send answered 0x45 is published to the
//! broker on `/<pk>/<dn>/<topic>` (a topic starting with `/` is used as given), so tests can
//! watch it with any MQTT client. Fault injection forces result codes.
//!
//! Decisions where the manuals are silent: parameter errors (ranges, lengths, quoting)
//! answer `ERROR`; MQTT commands before any `AT+CMCONN` answer `+CME ERROR: -2`
//! (NULL_VALUE_ERROR), while the link is down `+CME ERROR: -27` (MQTT_STATE_ERROR); a topic
//! with wildcards in `AT+CMPUB` answers `+CME ERROR: -41`. A failed `AT+CMCONN` answers
//! `ERROR` (revision 1, seeds/000 §3.3 "If failed: ERROR") or `+CME ERROR: -14`
//! (revision 2, MQTT_NETWORK_ERROR of seeds/000's tables); `AT+CMCONN` while connected is
//! such a failure too (revision 2: -27, MQTT_STATE_ERROR, a guess: no manual lists
//! AT+CMCONN's codes). Quoted parameters are taken as printed, with no escapes: a `"`
//! inside one ends it ("中间不能带"", seeds/000 §3.2, §3.4), so the line is refused;
//! only `AT+CCSEND`'s message takes `\"` for a quote (its example in seeds/000 §4.5 and
//! seeds/002). `AT+CMPARA?` prints one line:
//! `+CMPARA: "TIMEOUT":<v>,"CLEAN":<v>,"KEEPALIVE":<v>[,"MQTTVERSION":<v>]`.
//! `AT+CMPARA="TIMEOUT"` takes 500-5000 on revision 1 (seeds/000 §3.2's range; its example
//! value 20000 is revision 2's example, outside that range) and 500-180000 on revision 2.
//!
//! The bearer (every manual example starts with it): revision 1 has `AT+CAUTONET=<0|1>`
//! (seeds/000 §5.1, "重启模块后生效": kept across restarts, effective from the next one;
//! on by default here); revision 2 has `AT+CNACT=<0|1>[,"<apn>"]` answering `OK` then
//! `+APP PDP: ACTIVE` / `DEACTIVE`, and `AT+CNACT?` answering `+CNACT: <0|1>,"<ip>"`
//! (seeds/002 §3; down after power-up). `AT+CMCONN` without it fails as above.

use std::collections::VecDeque;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, ConnectReturnCode, Event, Incoming, MqttOptions, QoS};

use super::args::{int_arg, quoted_arg, split_args_strict, str_arg, Arg, Cmd, Form, Resp};
use super::modem::Modem;
use super::modem::SimFamily;
use super::parser::Next;
use super::profile::Profile;
use super::{lock, Shared, SimError, VirtualModem};

mod coap;
use coap::*;
mod yields;
use yields::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rev {
    V1,
    V2,
}

pub(crate) static SIM7600_ALIYUN: Profile = Profile {
    name: "sim7600-aliyun",
    family: super::profile::Family::Aliyun,
    manufacturer: "SIMCOM INCORPORATED",
    model: "SIMCOM_SIM7600CE-T",
    revision: "SIM7600M21-A_ALI_V2.0",
    imei: "867584030000041",
    imsi: "460001234567893",
    iccid: "89860012345678901237",
    clients: 1,
    client_id_max: 64,
    server_addr_len: (1, 256),
    ssl_ctx_max: 0,
    payload_max: 1024,
    act: 7,
    boot_urcs: &["RDY", "+CPIN: READY", "SMS DONE", "PB DONE"],
};

pub(crate) static SIM7000_ALIYUN: Profile = Profile {
    name: "sim7000-aliyun",
    family: super::profile::Family::Aliyun,
    manufacturer: "SIMCOM INCORPORATED",
    model: "SIMCOM_SIM7000C",
    revision: "1351B05SIM7000C_ALI",
    imei: "866123060000058",
    imsi: "460041234567894",
    iccid: "89860412345678901238",
    clients: 1,
    client_id_max: 64,
    server_addr_len: (1, 256),
    ssl_ctx_max: 0,
    payload_max: 512,
    act: 9,
    boot_urcs: &["RDY", "+CPIN: READY", "SMS Ready"],
};

pub(crate) static PROFILES: [&Profile; 2] = [&SIM7600_ALIYUN, &SIM7000_ALIYUN];

fn rev_of(profile: &Profile) -> Option<Rev> {
    match profile.name {
        "sim7600-aliyun" => Some(Rev::V1),
        "sim7000-aliyun" => Some(Rev::V2),
        _ => None,
    }
}

/// A report waiting for the next yield.
#[derive(Debug, Clone)]
enum Ev {
    Status(i32),
    /// A received message, with what acknowledges it to the broker once it is written to
    /// the host: a restart, a `AT+CMDISCONN` or a lost link before then leaves it with the
    /// broker, which sends it again on the resumed session.
    Message(String, Vec<u8>, Box<(AsyncClient, rumqttc::Publish)>),
}

#[derive(Default)]
struct LinkShared {
    /// Reports with the time they reach the modem (the network timing's delay after the
    /// broker sent them); a yield window writes those whose time has come, in order.
    events: Mutex<VecDeque<(Instant, Ev)>>,
    connected: AtomicBool,
}

impl LinkShared {
    /// Queues a report that reaches the modem after `delay`, never before one queued first.
    fn report(&self, delay: Duration, e: Ev) {
        let mut q = lock(&self.events);
        let due = Instant::now() + delay;
        let due = q.back().map_or(due, |(last, _)| due.max(*last));
        q.push_back((due, e));
    }
}

struct MqttLink {
    client: AsyncClient,
    kill: Option<flume::Sender<()>>,
    shared: Arc<LinkShared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for MqttLink {
    fn drop(&mut self) {
        // Dropping the kill sender wakes the link thread, which drops its socket.
        self.kill.take();
        self.thread.take();
    }
}

/// Forced results (fault injection).
#[derive(Default, Clone)]
struct CoapFaults {
    /// `<resp_code>` of the next sends.
    response: Option<u8>,
    /// Error code of the next `AT+CCAUTH`.
    auth_error: Option<i32>,
    /// Error code of the next `AT+CCSEND`.
    send_error: Option<i32>,
}

struct Coap {
    pk: String,
    dn: String,
    ds: String,
    authed: bool,
    /// Result lines for `AT+CCYIELD` (manual receive).
    pending: VecDeque<String>,
    forward: Option<MqttLink>,
}

pub(crate) struct State {
    rev: Rev,
    auth: Option<(String, String, String)>,
    timeout_ms: u32,
    clean: bool,
    keepalive_ms: u32,
    mqtt_version: u8,
    /// Set by `AT+CMCONN`, cleared by `AT+CMDISCONN`: the SDK object exists.
    object: bool,
    link: Option<MqttLink>,
    /// Last link's shared part (kept after a loss to report it).
    link_shared: Arc<LinkShared>,
    subs: Vec<(String, u8)>,
    /// A yield window to run once the response is written.
    window: Option<Duration>,
    autoyield: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    coap: Option<Coap>,
    faults: CoapFaults,
    /// Whether the MQTT login carries a timestamp (the firmware's way); off, the signature
    /// is stable, so a broker can hold it in a password file.
    pub(crate) sign_timestamp: bool,
    /// Revision 1: the saved `AT+CAUTONET` setting (effective from the next start).
    pub(crate) autonet: bool,
    /// Whether the wireless bearer is up now.
    bearer: bool,
}

impl State {
    pub(crate) fn for_profile(profile: &Profile) -> Option<State> {
        let rev = rev_of(profile)?;
        Some(State {
            rev,
            auth: None,
            timeout_ms: if rev == Rev::V1 { 2000 } else { 30_000 },
            clean: false,
            keepalive_ms: 60_000,
            mqtt_version: 4,
            object: false,
            link: None,
            link_shared: Arc::new(LinkShared::default()),
            subs: Vec::new(),
            window: None,
            autoyield: None,
            coap: None,
            faults: CoapFaults::default(),
            sign_timestamp: true,
            autonet: true,
            bearer: rev == Rev::V1,
        })
    }

    /// Power-up with the saved `AT+CAUTONET` setting.
    pub(crate) fn boot_with_autonet(&mut self, autonet: bool) {
        self.autonet = autonet;
        if self.rev == Rev::V1 {
            self.bearer = autonet;
        }
    }

    /// The module lost its registration (`AT+CFUN=0/4`, `AT+COPS=2`): the bearer goes down
    /// and the MQTT link with it.
    pub(crate) fn network_lost(&mut self) {
        self.bearer = false;
        self.link = None;
    }

    /// Registered again: revision 1 brings the bearer up by itself when `AT+CAUTONET` is
    /// on (seeds/000 §5.1); revision 2 waits for `AT+CNACT=1`.
    pub(crate) fn network_back(&mut self) {
        if self.rev == Rev::V1 && self.autonet {
            self.bearer = true;
        }
    }

    /// Drops every link abruptly (reboot, close).
    pub(crate) fn kill_links(&mut self) {
        self.link = None;
        if let Some(c) = self.coap.as_mut() {
            c.forward = None;
        }
        self.stop_autoyield();
    }

    fn stop_autoyield(&mut self) {
        if let Some((stop, _t)) = self.autoyield.take() {
            stop.store(true, Ordering::SeqCst);
        }
    }

    fn connected(&self) -> bool {
        self.link.is_some() && self.link_shared.connected.load(Ordering::SeqCst)
    }

    /// The link a `CMSUB` or `CMUNSUB` goes out on, or its `+CME ERROR` code: -2 without
    /// the MQTT object, -27 while it is not connected.
    fn subscription_link(&self) -> Result<&MqttLink, i32> {
        if !self.object {
            return Err(-2);
        }
        self.live_link().ok_or(-27)
    }

    /// The MQTT link, while it is connected.
    fn live_link(&self) -> Option<&MqttLink> {
        self.link
            .as_ref()
            .filter(|l| l.shared.connected.load(Ordering::SeqCst))
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.stop_autoyield();
    }
}

/// `"<ProductKey>","<DeviceName>","<DeviceSecret>"` (AT+CMAUTH, AT+CCINIT): each quoted,
/// not empty, and at most 11, 32 and 64 characters long.
fn triple_args(a: &str) -> Option<(String, String, String)> {
    let args = split_args_strict(a, false)?;
    match (
        str_arg(&args, 0, 11),
        str_arg(&args, 1, 32),
        str_arg(&args, 2, 64),
    ) {
        (Some(pk), Some(dn), Some(ds)) if args.len() == 3 => Some((pk, dn, ds)),
        _ => None,
    }
}

const MQTT_NAMES: [&str; 10] = [
    "CMAUTH",
    "CMPARA",
    "CMCONN",
    "CMPUB",
    "CMSUB",
    "CMUNSUB",
    "CMYIELD",
    "CMDISCONN",
    "CMAUTOYIELD",
    "CMSTATUS",
];
const COAP_NAMES: [&str; 5] = ["CCINIT", "CCDEINIT", "CCAUTH", "CCSEND", "CCYIELD"];

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

impl Modem {
    /// Handles the Alibaba commands; `None` when `name` is not one of them.
    pub(crate) fn aliyun_command(
        &mut self,
        sh: &Arc<Shared>,
        name: &str,
        form: &Form<'_>,
        r: &mut Resp,
    ) -> Option<()> {
        let registered = self.registered();
        let st = st_mut(&mut self.fam).as_mut()?;
        if bearer_command(st, registered, name, form, r) {
            return Some(());
        }
        if name.starts_with("CMQTT") {
            // Not on this firmware.
            r.error();
            return Some(());
        }
        let v2_only = matches!(name, "CMAUTOYIELD" | "CMSTATUS");
        if !MQTT_NAMES.contains(&name) && !COAP_NAMES.contains(&name) {
            return None;
        }
        if v2_only && st.rev == Rev::V1 {
            r.error();
            return Some(());
        }
        if name.starts_with("CC") {
            coap_command(st, sh, name, form, r);
        } else {
            mqtt_command(st, sh, name, form, r);
        }
        Some(())
    }
}

/// `AT+CAUTONET` (revision 1) and `AT+CNACT` (revision 2); `false` for other commands.
/// `registered`: the module is on the network; without it `AT+CNACT=1` answers `ERROR` (a
/// guess: the manuals show only the successful activation).
fn bearer_command(
    st: &mut State,
    registered: bool,
    name: &str,
    form: &Form<'_>,
    r: &mut Resp,
) -> bool {
    match (st.rev, name, form) {
        (Rev::V1, "CAUTONET", Form::Write(a)) => match a.trim() {
            "0" | "1" => {
                st.autonet = a.trim() == "1";
                r.ok()
            }
            _ => r.error(),
        },
        (Rev::V1, "CAUTONET", Form::Read) => {
            r.line(&format!("+CAUTONET: {}", u8::from(st.autonet)));
            r.ok()
        }
        (Rev::V1, "CAUTONET", Form::Test) => {
            r.line("+CAUTONET: (0,1)");
            r.ok()
        }
        (Rev::V2, "CNACT", Form::Write(a)) => {
            let Some(args) = split_args_strict(a, false) else {
                r.error();
                return true;
            };
            let apn_ok = match args.get(1) {
                None => true,
                Some(Arg {
                    text: apn,
                    quoted: true,
                }) => apn.len() <= 64,
                Some(_) => false,
            };
            match int_arg(&args, 0, 0, 1) {
                Some(1) if !registered => r.error(),
                Some(v) if apn_ok && args.len() <= 2 => {
                    let up = v == 1;
                    r.ok();
                    if up != st.bearer {
                        st.bearer = up;
                        if !up {
                            st.link = None;
                        }
                        let word = if up { "ACTIVE" } else { "DEACTIVE" };
                        r.urc_after(format!("+APP PDP: {word}"));
                    }
                }
                _ => r.error(),
            }
        }
        (Rev::V2, "CNACT", Form::Read) => {
            let ip = if st.bearer {
                "10.181.182.177"
            } else {
                "0.0.0.0"
            };
            r.line(&format!("+CNACT: {},\"{ip}\"", u8::from(st.bearer)));
            r.ok()
        }
        (Rev::V2, "CNACT", Form::Test) => {
            r.line("+CNACT: (0,1),\"APN\"");
            r.ok()
        }
        _ => return false,
    }
    true
}

fn test_line(st: &State, name: &str) -> Option<&'static str> {
    Some(match name {
        "CMAUTH" | "CCINIT" => "\"productKey\",\"deviceName\",\"deviceSecret\"",
        "CMPARA" => "\"MQTTParamTag\",\"MQTTParamValue\"",
        "CMPUB" => "\"topic\",qos,\"message\"",
        "CMSUB" => "\"topic\",qos",
        "CMUNSUB" => "\"topic\"",
        "CCDEINIT" if st.rev == Rev::V1 => "\"productKey\",\"deviceName\",\"deviceSecret\"",
        _ => return None,
    })
}

fn mqtt_command(st: &mut State, sh: &Arc<Shared>, name: &str, form: &Form<'_>, r: &mut Resp) {
    if let Form::Test = form {
        if let Some(t) = test_line(st, name) {
            r.line(&format!("+{name}: {t}"));
        }
        return r.ok();
    }
    let cme = |r: &mut Resp, code: i32| r.line(&format!("+CME ERROR: {code}"));
    match (name, form) {
        ("CMAUTH", Form::Write(a)) => match triple_args(a) {
            Some(triple) => {
                st.auth = Some(triple);
                r.ok()
            }
            None => r.error(),
        },
        ("CMAUTH", Form::Read) => {
            let (pk, dn, ds) = st.auth.clone().unwrap_or_default();
            r.line(&format!("+CMAUTH: \"{pk}\",\"{dn}\",\"{ds}\""));
            r.ok()
        }
        ("CMPARA", Form::Write(a)) => {
            let Some(args) = split_args_strict(a, false) else {
                return r.error();
            };
            let Some(tag) = quoted_arg(&args, 0) else {
                return r.error();
            };
            let (lo, hi) = if st.rev == Rev::V1 {
                (500, 5000)
            } else {
                (500, 180_000)
            };
            let ok = match tag.as_str() {
                "TIMEOUT" => int_arg(&args, 1, lo, hi).map(|v| st.timeout_ms = v as u32),
                "CLEAN" => int_arg(&args, 1, 0, 1).map(|v| st.clean = v == 1),
                "KEEPALIVE" => {
                    int_arg(&args, 1, 60_000, 180_000).map(|v| st.keepalive_ms = v as u32)
                }
                "MQTTVERSION" if st.rev == Rev::V1 => {
                    int_arg(&args, 1, 3, 4).map(|v| st.mqtt_version = v as u8)
                }
                _ => None,
            };
            if ok.is_some() && args.len() == 2 {
                r.ok()
            } else {
                r.error()
            }
        }
        ("CMPARA", Form::Read) => {
            let mut line = format!(
                "+CMPARA: \"TIMEOUT\":{},\"CLEAN\":{},\"KEEPALIVE\":{}",
                st.timeout_ms, st.clean as u8, st.keepalive_ms
            );
            if st.rev == Rev::V1 {
                line.push_str(&format!(",\"MQTTVERSION\":{}", st.mqtt_version));
            }
            r.line(&line);
            r.ok()
        }
        ("CMCONN", Form::Exec) => {
            let fail = |r: &mut Resp, rev: Rev| match rev {
                Rev::V1 => r.error(),
                Rev::V2 => r.line("+CME ERROR: -14"),
            };
            let Some((pk, dn, ds)) = st.auth.clone() else {
                return fail(r, st.rev);
            };
            if !st.bearer {
                return fail(r, st.rev);
            }
            if st.connected() {
                return match st.rev {
                    Rev::V1 => r.error(),
                    Rev::V2 => cme(r, -27),
                };
            }
            st.link = None;
            let opts = login(st, sh, &pk, &dn, &ds);
            let shared = Arc::new(LinkShared::default());
            let (tx, rx) = flume::bounded(1);
            st.subs.clear();
            let Some(link) = spawn_link(sh, opts, shared.clone(), false, Vec::new(), Some(tx))
            else {
                return fail(r, st.rev);
            };
            let wait = Duration::from_millis(st.timeout_ms.max(5000) as u64);
            match rx.recv_timeout(wait) {
                Ok(true) => {
                    st.link = Some(link);
                    st.link_shared = shared;
                    st.object = true;
                    r.ok()
                }
                _ => {
                    drop(link);
                    fail(r, st.rev)
                }
            }
        }
        ("CMPUB", Form::Write(a)) => {
            let Some(args) = split_args_strict(a, false) else {
                return r.error();
            };
            let max = sh.profile.payload_max;
            let (Some(topic), Some(q), Some(msg)) = (
                str_arg(&args, 0, 159),
                int_arg(&args, 1, 0, 1),
                quoted_arg(&args, 2),
            ) else {
                return r.error();
            };
            if args.len() != 3 || msg.is_empty() || msg.len() > max {
                return r.error();
            }
            if !st.object {
                return cme(r, -2);
            }
            if topic.contains(['+', '#']) {
                return cme(r, -41);
            }
            let Some(link) = st.live_link() else {
                return cme(r, -27);
            };
            if link
                .client
                .try_publish(topic, qos(q as u8), false, msg.into_bytes())
                .is_err()
            {
                return cme(r, -42);
            }
            sh.stats.published.fetch_add(1, Ordering::Relaxed);
            r.ok()
        }
        ("CMSUB", Form::Write(a)) => {
            let args = split_args_strict(a, false).filter(|args| args.len() == 2);
            let Some((topic, q)) =
                args.and_then(|a| Some((str_arg(&a, 0, 159)?, int_arg(&a, 1, 0, 1)?)))
            else {
                return r.error();
            };
            let link = match st.subscription_link() {
                Ok(link) => link,
                Err(code) => return cme(r, code),
            };
            if link
                .client
                .try_subscribe(topic.clone(), qos(q as u8))
                .is_err()
            {
                return cme(r, -42);
            }
            st.subs.retain(|(t, _)| *t != topic);
            st.subs.push((topic, q as u8));
            r.ok()
        }
        ("CMUNSUB", Form::Write(a)) => {
            let args = split_args_strict(a, false).filter(|args| args.len() == 1);
            let Some(topic) = args.and_then(|a| str_arg(&a, 0, 159)) else {
                return r.error();
            };
            let link = match st.subscription_link() {
                Ok(link) => link,
                Err(code) => return cme(r, code),
            };
            if link.client.try_unsubscribe(topic.clone()).is_err() {
                return cme(r, -42);
            }
            st.subs.retain(|(t, _)| *t != topic);
            r.ok()
        }
        ("CMYIELD", Form::Exec | Form::Write(_)) => {
            let Some(ms) = wait_arg(form, 10..=120_000, 2000) else {
                return r.error();
            };
            if !st.object {
                return cme(r, -2);
            }
            st.window = Some(Duration::from_millis(ms.unsigned_abs()));
            r.ok()
        }
        ("CMAUTOYIELD", Form::Write(a)) => {
            let Some(args) = split_args_strict(a, false) else {
                return r.error();
            };
            let secs = int_arg(&args, 0, 0, 180);
            let ms = if args.len() > 1 {
                int_arg(&args, 1, 10, 60_000)
            } else {
                Some(2000)
            };
            let (Some(secs), Some(ms)) = (secs, ms) else {
                return r.error();
            };
            if args.len() > 2 {
                return r.error();
            }
            st.stop_autoyield();
            if secs > 0 {
                let stop = Arc::new(AtomicBool::new(false));
                let s2 = stop.clone();
                let sh2 = Arc::clone(sh);
                let spawned = thread::Builder::new()
                    .name("vmodem-autoyield".into())
                    .spawn(move || {
                        autoyield_loop(
                            sh2,
                            s2,
                            Duration::from_secs(secs as u64),
                            Duration::from_millis(ms as u64),
                        )
                    });
                match spawned {
                    Ok(t) => st.autoyield = Some((stop, t)),
                    Err(_) => return r.error(),
                }
            }
            r.ok()
        }
        ("CMSTATUS", Form::Read) => r.answer(&format!("+CMSTATUS: {}", st.connected() as u8)),
        ("CMDISCONN", Form::Exec) => {
            if !st.object {
                return cme(r, -2);
            }
            if let Some(link) = st.link.take() {
                let _ = link.client.try_disconnect();
                // Let the DISCONNECT go out before the link is dropped.
                thread::sleep(Duration::from_millis(20));
            }
            st.object = false;
            st.subs.clear();
            lock(&st.link_shared.events).clear();
            r.ok()
        }
        _ => r.error(),
    }
}
/// The one optional argument of `AT+CMYIELD[=<ms>]` and `AT+CCAUTH[=<ms>]`: milliseconds
/// within `range`, `default` for the execute form; `None` for anything else.
fn wait_arg(form: &Form<'_>, range: RangeInclusive<i64>, default: i64) -> Option<i64> {
    match form {
        Form::Write(a) => {
            let args = split_args_strict(a, false)?;
            int_arg(&args, 0, *range.start(), *range.end()).filter(|_| args.len() == 1)
        }
        _ => Some(default),
    }
}

/// `VirtualModem::drop_link` on an Alibaba profile: the MQTT link is cut without
/// DISCONNECT; the next yield reports `+CMYIELD: 1` and the one after reconnects.
fn drop_link(vm: &VirtualModem) -> Option<Result<(), SimError>> {
    let mut m = vm.shared.state();
    let st = st_mut(&mut m.fam).as_mut()?;
    let Some(link) = st.link.take() else {
        return Some(Err(SimError::NoLink(0)));
    };
    let was = link.shared.connected.swap(false, Ordering::SeqCst);
    drop(link);
    if was {
        st.link_shared.report(vm.shared.net.draw(), Ev::Status(1));
    }
    Some(Ok(()))
}

/// The Alibaba-cloud family (see [`SimFamily`]). Its MQTT link runs here and reports
/// through `AT+CMYIELD`, not through `link::report`.
pub(crate) struct Aliyun;

super::modem::sim_family!(Aliyun, Option<State>, &PROFILES, |p| State::for_profile(p));

impl SimFamily for Aliyun {
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next> {
        m.aliyun_command(sh, c.name, &c.form, r)
            .map(|()| Next::Line)
    }

    fn network_lost(&self, m: &mut Modem, _r: &mut Resp) {
        if let Some(a) = st_mut(&mut m.fam).as_mut() {
            a.network_lost();
        }
    }

    /// The revision 1 firmware brings its bearer up by itself when `AT+CAUTONET` is on.
    fn network_back(&self, m: &mut Modem) {
        if let Some(a) = st_mut(&mut m.fam).as_mut() {
            a.network_back();
        }
    }

    fn kill_links(&self, m: &mut Modem) {
        if let Some(a) = st_mut(&mut m.fam).as_mut() {
            a.kill_links();
        }
    }

    fn after_reset(&self, old: &mut Modem, new: &mut Modem) {
        let (Some(old), Some(new)) = (st(&old.fam).as_ref(), st_mut(&mut new.fam).as_mut()) else {
            return;
        };
        // AT+CAUTONET is saved and takes effect at the next start (seeds/000 §5.1).
        new.boot_with_autonet(old.autonet);
        // How the virtual modem signs (a test setting, not the module's state) stays.
        new.sign_timestamp = old.sign_timestamp;
    }

    fn after_command(&self, sh: &Arc<Shared>) {
        after_command(sh)
    }

    /// The firmware reports a lost link as yield status 1, whatever the cause.
    fn link_causes(&self) -> RangeInclusive<u8> {
        1..=3
    }

    fn link_lost(&self, _m: &mut Modem, _idx: u8, _cause: u8) -> String {
        String::new()
    }

    /// The MQTT link is cut without DISCONNECT; the next yield reports `+CMYIELD: 1`.
    fn drop_link(&self, vm: &VirtualModem, _idx: u8, _cause: u8) -> Result<(), SimError> {
        drop_link(vm).unwrap_or(Ok(()))
    }
}
