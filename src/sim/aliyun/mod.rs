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
//! firmware, whose SDK call blocks the AT task) or at each `AT+CMAUTOYIELD` tick. The link is
//! the core's (`link`); `AT+CMCONN` is answered from its CONNACK event (`mqtt`), and a
//! received message is acknowledged to the broker once a yield wrote it.
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
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::MqttOptions;

use super::args::{int_arg, quoted_arg, split_args_strict, str_arg, Arg, Cmd, Form, Resp};
use super::conn::LinkEvent;
use super::modem::Modem;
use super::modem::SimFamily;
use super::parser::Next;
use super::profile::Profile;
use super::{Shared, SimError, VirtualModem};

mod coap;
use coap::*;
mod mqtt;
use mqtt::*;
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
    /// A received message and the generation of the link it came on, which acknowledges
    /// it to the broker once it is written to the host (the family stores its messages:
    /// `SimFamily::stores_messages`): a restart, a `AT+CMDISCONN` or a lost link before
    /// then leaves it with the broker, which sends it again on the resumed session.
    Message(u64, Box<rumqttc::Publish>),
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
    /// The forward link was started (it lives in the link slot [`FORWARD`] until this
    /// session ends; a forward link that failed is not started again).
    forward: bool,
}

pub(crate) struct State {
    rev: Rev,
    auth: Option<(String, String, String)>,
    /// `AT+CMPARA="TIMEOUT"`, stored and printed; `AT+CMCONN` waits as long as the link's
    /// connection timeout (5 s), which was always the shorter bound.
    timeout_ms: u32,
    clean: bool,
    keepalive_ms: u32,
    mqtt_version: u8,
    /// Set by `AT+CMCONN`, cleared by `AT+CMDISCONN`: the SDK object exists.
    object: bool,
    /// An `AT+CMCONN` waits for its CONNACK (its final result comes from the link event).
    conn_wait: bool,
    /// Reports with the time they reach the modem (the network timing's delay after the
    /// broker sent them); a yield window writes those whose time has come, in order.
    events: VecDeque<(Instant, Ev)>,
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
            conn_wait: false,
            events: VecDeque::new(),
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

    /// Registered again: revision 1 brings the bearer up by itself when `AT+CAUTONET` is
    /// on (seeds/000 §5.1); revision 2 waits for `AT+CNACT=1`.
    pub(crate) fn network_back(&mut self) {
        if self.rev == Rev::V1 && self.autonet {
            self.bearer = true;
        }
    }

    fn stop_autoyield(&mut self) {
        if let Some((stop, _t)) = self.autoyield.take() {
            stop.store(true, Ordering::SeqCst);
        }
    }

    /// Queues a report that reaches the modem after `delay`, never before one queued first.
    fn report(&mut self, delay: Duration, e: Ev) {
        let due = Instant::now() + delay;
        let due = self.events.back().map_or(due, |(last, _)| due.max(*last));
        self.events.push_back((due, e));
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
    /// Handles the Alibaba command `c`; `None` when it is not one of them.
    pub(crate) fn aliyun_command(
        &mut self,
        sh: &Arc<Shared>,
        c: Cmd<'_>,
        r: &mut Resp,
    ) -> Option<()> {
        let (name, form) = (c.name, &c.form);
        let registered = self.registered();
        let st = st_mut(&mut self.fam).as_mut()?;
        let (rev, bearer) = (st.rev, st.bearer);
        if bearer_command(st, registered, name, form, r) {
            if bearer && !st.bearer {
                // The MQTT link goes down with the bearer, silently.
                let (link, failed) = take_link(self);
                drop(link);
                if let Some(f) = failed {
                    r.urc_after(f.to_owned());
                }
            }
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
        if v2_only && rev == Rev::V1 {
            r.error();
            return Some(());
        }
        if let Form::Test = form {
            if let Some(t) = test_line(st, name) {
                r.line(&format!("+{name}: {t}"));
            }
            r.ok();
        } else if name.starts_with("CC") {
            coap_command(self, sh, c, r);
        } else {
            mqtt_command(self, sh, c, r);
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

/// The Alibaba-cloud family (see [`SimFamily`]). Its MQTT link is the core's (`link`);
/// what it reports waits in the family's queue for the yield windows (`AT+CMYIELD`).
pub(crate) struct Aliyun;

super::modem::sim_family!(Aliyun, Option<State>, &PROFILES, |p| State::for_profile(p));

impl SimFamily for Aliyun {
    fn execute(&self, m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) -> Option<Next> {
        m.aliyun_command(sh, c, r).map(|()| Next::Line)
    }

    /// The MQTT link's events are queued for the yield windows; the CoAP forward link's
    /// are not reported.
    fn link_event(&self, sh: &Shared, m: &mut Modem, idx: u8, ev: LinkEvent, out: &mut Vec<u8>) {
        if usize::from(idx) == MQTT {
            mqtt::link_event(sh, m, ev, out)
        }
    }

    /// Received messages wait for a yield window, and are acknowledged once it wrote them.
    fn stores_messages(&self, _m: &Modem, _idx: u8) -> bool {
        true
    }

    fn receive_max(&self, _profile: &Profile) -> usize {
        RECEIVE_MAX
    }

    /// The CoAP forward link ([`FORWARD`]).
    fn extra_links(&self) -> u8 {
        1
    }

    /// The module lost its registration (`AT+CFUN=0/4`, `AT+COPS=2`): the bearer goes down
    /// and the MQTT link with it, silently.
    fn network_lost(&self, m: &mut Modem, r: &mut Resp) {
        if let Some(a) = st_mut(&mut m.fam).as_mut() {
            a.bearer = false;
        }
        let (link, failed) = take_link(m);
        drop(link);
        if let Some(f) = failed {
            r.urc_after(f.to_owned());
        }
    }

    /// The revision 1 firmware brings its bearer up by itself when `AT+CAUTONET` is on.
    fn network_back(&self, m: &mut Modem) {
        if let Some(a) = st_mut(&mut m.fam).as_mut() {
            a.network_back();
        }
    }

    /// The links are the core's; the automatic yields stop.
    fn kill_links(&self, m: &mut Modem) {
        if let Some(a) = st_mut(&mut m.fam).as_mut() {
            a.stop_autoyield();
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
        drop_link(vm)
    }
}
