//! The Alibaba firmware's MQTT commands (`AT+CM*`) and what its link reports. The link is
//! the core's (`link`, in the client slot [`MQTT`]); its events are not written when they
//! happen but queued for the yield windows (`yields`), each with its network delay.

use rumqttc::SubscribeFilter;

use super::*;
use crate::sim::conn::{Link, LinkEvent, OutPublish};
use crate::sim::link::{self, qos};

/// The slot of the MQTT link in `Modem::links` (the firmware's one client).
pub(super) const MQTT: usize = 0;

/// The slot of the CoAP forward link, after the client's (`SimFamily::extra_links`).
pub(super) const FORWARD: usize = 1;

/// How long a link waits for an acknowledgement: the firmware reports one whenever it
/// comes, with no timeout of its own; a day stands for never.
pub(super) const NO_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The tag of a resubscription after a reconnect: its SUBACK is not reported.
const RESUB: u16 = 1;

/// The largest payload the firmware receives: the link's packet limit (`login`); the
/// firmware's own is not documented.
pub(super) const RECEIVE_MAX: usize = 256 * 1024;

/// Starts a link to the broker in link slot `slot` (reports through `link::report`).
pub(super) fn spawn(
    sh: &Arc<Shared>,
    m: &mut Modem,
    slot: usize,
    opts: MqttOptions,
) -> Option<Link> {
    let start = link::Start {
        opts,
        tls: None,
        // The firmware words every failure to connect alike.
        had_login: false,
        forced_error: None,
        info: String::new(),
    };
    let name = format!("vmodem-ali-{}", sh.profile.name);
    link::spawn(sh, m, u8::try_from(slot).ok()?, name, start)
}

/// The MQTT link, while it is connected.
pub(super) fn live_link(m: &Modem) -> Option<&Link> {
    m.links.get(MQTT)?.as_ref().filter(|l| l.connected)
}

pub(super) fn connected(m: &Modem) -> bool {
    live_link(m).is_some()
}

/// The final result of a failed `AT+CMCONN`: `ERROR` (revision 1, seeds/000 §3.3) or
/// `+CME ERROR: -14` (revision 2).
fn conn_failed(rev: Rev) -> &'static str {
    match rev {
        Rev::V1 => "ERROR",
        Rev::V2 => "+CME ERROR: -14",
    }
}

/// Takes the MQTT link out of its slot (dropped by the caller: without DISCONNECT unless
/// retired); an `AT+CMCONN` still waiting for it fails, and its final result comes back.
pub(super) fn take_link(m: &mut Modem) -> (Option<Link>, Option<&'static str>) {
    let link = m.links.get_mut(MQTT).and_then(Option::take);
    let failed = st_mut(&mut m.fam)
        .as_mut()
        .filter(|s| s.conn_wait)
        .map(|s| {
            s.conn_wait = false;
            conn_failed(s.rev)
        });
    (link, failed)
}

/// The link a `CMSUB` or `CMUNSUB` goes out on, or its `+CME ERROR` code: -2 without the
/// MQTT object, -27 while it is not connected.
fn subscription_link(m: &Modem) -> Result<&Link, i32> {
    if !st(&m.fam).as_ref().is_some_and(|s| s.object) {
        return Err(-2);
    }
    live_link(m).ok_or(-27)
}

fn cme(r: &mut Resp, code: i32) {
    r.line(&format!("+CME ERROR: {code}"))
}

/// `AT+CM*` but their test forms (`aliyun_command`).
pub(super) fn mqtt_command(m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) {
    let form = &c.form;
    match (c.name, form) {
        ("CMCONN", Form::Exec) => return cmconn(m, sh, r),
        ("CMPUB", Form::Write(a)) => return cmpub(m, sh, a, r),
        ("CMSUB", Form::Write(a)) => return cmsub(m, a, r),
        ("CMUNSUB", Form::Write(a)) => return cmunsub(m, a, r),
        ("CMSTATUS", Form::Read) => {
            return r.answer(&format!("+CMSTATUS: {}", connected(m) as u8));
        }
        ("CMDISCONN", Form::Exec) => return cmdisconn(m, r),
        _ => {}
    }
    let Some(st) = st_mut(&mut m.fam).as_mut() else {
        return r.error();
    };
    match (c.name, form) {
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
        _ => r.error(),
    }
}

/// `AT+CMCONN`: no answer until the link reports its CONNACK or its failure
/// ([`link_event`]); the bound on the wait is the link's connection timeout (5 s).
fn cmconn(m: &mut Modem, sh: &Arc<Shared>, r: &mut Resp) {
    let connected = connected(m);
    let Some(st) = st_mut(&mut m.fam).as_mut() else {
        return r.error();
    };
    let fail = conn_failed(st.rev);
    let Some((pk, dn, ds)) = st.auth.clone() else {
        return r.line(fail);
    };
    if !st.bearer {
        return r.line(fail);
    }
    // Connected, or (a guess: the firmware's AT task is blocked meanwhile) connecting.
    if connected || st.conn_wait {
        return match st.rev {
            Rev::V1 => r.error(),
            Rev::V2 => cme(r, -27),
        };
    }
    // A link still trying to reconnect goes.
    m.links[MQTT] = None;
    let opts = login(st, sh, &pk, &dn, &ds);
    st.subs.clear();
    let Some(link) = spawn(sh, m, MQTT, opts) else {
        return r.line(fail);
    };
    m.links[MQTT] = Some(link);
    if let Some(st) = st_mut(&mut m.fam).as_mut() {
        st.conn_wait = true;
    }
}

fn cmpub(m: &mut Modem, sh: &Shared, a: &str, r: &mut Resp) {
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
    if !st(&m.fam).as_ref().is_some_and(|s| s.object) {
        return cme(r, -2);
    }
    if topic.contains(['+', '#']) {
        return cme(r, -41);
    }
    let Some(link) = live_link(m) else {
        return cme(r, -27);
    };
    // The acknowledgement of QoS 1 is reported as `+CMYIELD: 9` ([`link_event`]).
    let publish = OutPublish::new(topic, q as u8, false, msg);
    if !link.queue_publish(publish, NO_TIMEOUT, None) {
        return cme(r, -42);
    }
    r.ok()
}

fn cmsub(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args_strict(a, false).filter(|args| args.len() == 2);
    let Some((topic, q)) = args.and_then(|a| Some((str_arg(&a, 0, 159)?, int_arg(&a, 1, 0, 1)?)))
    else {
        return r.error();
    };
    let link = match subscription_link(m) {
        Ok(link) => link,
        Err(code) => return cme(r, code),
    };
    let filter = SubscribeFilter::new(topic.clone(), qos(q as u8));
    if !link.queue_subscribe([filter], NO_TIMEOUT, None) {
        return cme(r, -42);
    }
    if let Some(st) = st_mut(&mut m.fam).as_mut() {
        st.subs.retain(|(t, _)| *t != topic);
        st.subs.push((topic, q as u8));
    }
    r.ok()
}

fn cmunsub(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args_strict(a, false).filter(|args| args.len() == 1);
    let Some(topic) = args.and_then(|a| str_arg(&a, 0, 159)) else {
        return r.error();
    };
    let group = m.next_gen;
    m.next_gen += 1;
    let link = match subscription_link(m) {
        Ok(link) => link,
        Err(code) => return cme(r, code),
    };
    if !link.queue_unsubscribe(topic.clone(), (group, 1), NO_TIMEOUT, None) {
        return cme(r, -42);
    }
    if let Some(st) = st_mut(&mut m.fam).as_mut() {
        st.subs.retain(|(t, _)| *t != topic);
    }
    r.ok()
}

/// `AT+CMDISCONN`: DISCONNECT goes out on a connected link (which then ends by itself),
/// the MQTT object and the reports not yet printed are gone; `OK` 20 ms later.
fn cmdisconn(m: &mut Modem, r: &mut Resp) {
    if !st(&m.fam).as_ref().is_some_and(|s| s.object) {
        return cme(r, -2);
    }
    let (link, failed) = take_link(m);
    if let Some(f) = failed {
        r.line(f);
    }
    if let Some(link) = link {
        link.retire();
        // Let the DISCONNECT go out before the answer: a host connecting again at once
        // must not race it to the broker.
        thread::sleep(Duration::from_millis(20));
    }
    if let Some(st) = st_mut(&mut m.fam).as_mut() {
        st.object = false;
        st.subs.clear();
        st.events.clear();
    }
    r.ok()
}

/// A link event of the MQTT link (under the state lock, from `link::report`): the final
/// result of a waiting `AT+CMCONN` is written to `out`; everything else is queued for the
/// yield windows with its network delay, as the firmware reports only there.
pub(super) fn link_event(sh: &Shared, m: &mut Modem, ev: LinkEvent<'_>, out: &mut Vec<u8>) {
    // Still there for every event but a lost or failed link's (the core took it).
    let link = m.links.get(MQTT).and_then(Option::as_ref);
    let Some(st) = st_mut(&mut m.fam).as_mut() else {
        return;
    };
    let mut result = |st: &mut State, ok: bool| {
        if std::mem::take(&mut st.conn_wait) {
            let line = if ok { "OK" } else { conn_failed(st.rev) };
            out.extend_from_slice(format!("\r\n{line}\r\n").as_bytes());
            true
        } else {
            false
        }
    };
    // The network timing's next delay, drawn for each report queued.
    let delay = || sh.net.draw();
    match ev {
        LinkEvent::Connected => {
            if result(st, true) {
                // AT+CMCONN's connection: the SDK object exists now, and what the last
                // link left unreported is gone with it.
                st.object = true;
                st.events.clear();
                return;
            }
            // The SDK reconnected inside a yield: the subscriptions again, their SUBACKs
            // not reported, then `+CMYIELD: 2`.
            if let Some(link) = link {
                for (t, q) in &st.subs {
                    let filter = SubscribeFilter::new(t.clone(), qos(*q));
                    link.queue_subscribe([filter], NO_TIMEOUT, Some(RESUB));
                }
            }
            st.report(delay(), Ev::Status(2));
        }
        LinkEvent::ConnectFailed(_) => {
            result(st, false);
        }
        LinkEvent::Published { .. } => st.report(delay(), Ev::Status(9)),
        LinkEvent::Subscribed { tag: RESUB, .. } => {}
        LinkEvent::Subscribed { failed, .. } => {
            st.report(delay(), Ev::Status(if failed { 5 } else { 3 }))
        }
        LinkEvent::Unsubscribed { .. } => st.report(delay(), Ev::Status(6)),
        LinkEvent::Lost(_) => st.report(delay(), Ev::Status(1)),
        LinkEvent::Message(p) => {
            if let Some(link) = link {
                st.report(delay(), Ev::Message(link.gen, Box::new(p.clone())));
            }
        }
        LinkEvent::PublishTimedOut { .. }
        | LinkEvent::SubscribeTimedOut { .. }
        | LinkEvent::UnsubscribeTimedOut { .. }
        | LinkEvent::Disconnected => {}
    }
}

/// `VirtualModem::drop_link` on an Alibaba profile: the MQTT link is cut without
/// DISCONNECT; the next yield reports `+CMYIELD: 1` and the one after reconnects.
pub(super) fn drop_link(vm: &VirtualModem) -> Result<(), SimError> {
    let sh = &vm.shared;
    let mut m = sh.state();
    let (link, failed) = take_link(&mut m);
    if let Some(f) = failed {
        sh.write_net(format!("\r\n{f}\r\n").into_bytes());
    }
    let Some(link) = link else {
        return Err(SimError::NoLink(0));
    };
    let was = link.connected;
    drop(link);
    if let (true, Some(st)) = (was, st_mut(&mut m.fam).as_mut()) {
        st.report(sh.net.draw(), Ev::Status(1));
    }
    Ok(())
}
