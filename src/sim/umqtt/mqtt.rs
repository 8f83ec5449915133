//! `AT+UMQTTC`: login, logout, publish, subscribe, unsubscribe, read, ping switch; the
//! data after its prompts; link events as `+UUMQTTC` results.

use super::*;
use crate::sim::hosts::Route;

/// `+UMQTTER` class of MQTT operation failures (field ubxlib#202 and #71 show 13).
const CLASS: u16 = 13;
/// `+UMQTTER` codes: 33 timeout (ubxlib's retry list), 34 no service (idem), 8 cannot set
/// secure socket (SparkFun#50); the rest are guesses.
const TIMEOUT: u16 = 33;
const NO_SERVICE: u16 = 34;
const SECURE_SOCKET: u16 = 8;
/// A refusal by the broker or a failure without a documented code (a guess).
const REFUSED: u16 = 0;

fn connected(m: &Modem) -> Option<&crate::sim::conn::Link> {
    m.links[0]
        .as_ref()
        .filter(|l| l.connected && !l.disconnecting)
}

/// Drops the login without DISCONNECT (bearer gone) and reports `+UUMQTTC: 0,101`.
pub(super) fn logout_abruptly(m: &mut Modem, r: &mut Resp) {
    if let Some(l) = m.take_link(0) {
        let was_up = l.connected;
        drop(l);
        st_mut(&mut m.fam).busy = None;
        if was_up {
            r.urc_after("+UUMQTTC: 0,101".into());
        }
    }
}

/// Starts operation `op` (one at a time): `false` (answered) when another one waits.
fn start(m: &mut Modem, op: u8, r: &mut Resp) -> bool {
    if st(&m.fam).busy.is_some() {
        not_allowed(m, r);
        return false;
    }
    st_mut(&mut m.fam).busy = Some(op);
    true
}

fn failed(m: &mut Modem, code: u16) {
    let s = st_mut(&mut m.fam);
    s.busy = None;
    s.error = (CLASS, code);
}

pub(super) fn umqttc(m: &mut Modem, sh: &Arc<Shared>, a: &str, r: &mut Resp) -> Next {
    let args = split_args(a);
    let Some(op) = int(&args, 0, 0, 9) else {
        r.error();
        return Next::Line;
    };
    match op {
        0 => logout(m, r),
        1 => login(m, sh, r),
        2 => return publish_text(m, &args, r),
        4 => subscribe(m, &args, r),
        5 => unsubscribe(m, &args, r),
        6 => read(m, sh, &args, r),
        8 => ping(m, &args, r),
        9 => return publish_binary(m, &args, r),
        _ => r.error(),
    }
    Next::Line
}

fn login(m: &mut Modem, sh: &Arc<Shared>, r: &mut Resp) {
    let s = st(&m.fam);
    // Without an active PSD profile the module has no connection for MQTT (field
    // ubxlib#224); a login while one is up or an operation waits is refused too.
    let ready = s.psd_active && s.psd_cid.is_some_and(|c| m.active.contains(&c));
    if !ready || m.links[0].is_some() || s.cfg.host.is_none() || s.cfg.client_id.is_empty() {
        return not_allowed(m, r);
    }
    if !start(m, 1, r) {
        return;
    }
    let c = st(&m.fam).cfg.clone();
    let Some((host, port)) = c.host.clone() else {
        return not_allowed(m, r);
    };
    r.ok();
    let (thost, tport) = match sh.route(&host, port) {
        Route::Connect(h, p) => (h, p),
        Route::NoSuchName | Route::Unreachable => {
            failed(m, REFUSED);
            return r.net_after("+UUMQTTC: 1,0".into());
        }
    };
    let mut opts = MqttOptions::new(c.client_id.clone(), thost, tport);
    opts.set_keep_alive(Duration::from_secs(u64::from(c.keepalive)));
    // SARA-R5 keeps no session (ubxlib).
    opts.set_clean_session(true);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
    let had_login = c.user.is_some();
    if let Some(u) = &c.user {
        opts.set_credentials(u.clone(), c.pass.clone().unwrap_or_default());
    }
    if !c.will_topic.is_empty() {
        opts.set_last_will(LastWill::new(
            c.will_topic.clone(),
            c.will_msg.clone(),
            qos(c.will_qos),
            c.will_retain,
        ));
    }
    let (mut tls, mut forced_error) = (None, None);
    if c.secure.0 {
        match tls_for(m, c.secure.1, &host) {
            Ok(cfg) => tls = Some(cfg),
            Err(code) => forced_error = Some(code),
        }
    }
    let start = link::Start {
        opts,
        tls,
        had_login,
        forced_error,
        info: String::new(),
    };
    let Some(link) = link::spawn(sh, m, 0, "vmodem-umqtt-0".into(), start) else {
        failed(m, REFUSED);
        return r.net_after("+UUMQTTC: 1,0".into());
    };
    // Pings stay off until AT+UMQTTC=8,1.
    lock(&link.pending).pings = Some(false);
    m.links[0] = Some(link);
}

fn logout(m: &mut Modem, r: &mut Resp) {
    if m.links[0].as_ref().is_some_and(|l| !l.connected) {
        // The login is still in progress.
        return not_allowed(m, r);
    }
    if m.links[0].is_none() {
        // Not logged in: nothing to end (a guess at the answer).
        r.ok();
        return r.urc_after("+UUMQTTC: 0,0".into());
    }
    if !start(m, 0, r) {
        return;
    }
    match m.links[0].as_mut() {
        Some(l) if l.client.try_disconnect().is_ok() => {
            // The link thread reports +UUMQTTC: 0,1 once DISCONNECT is out.
            l.disconnecting = true;
            r.ok()
        }
        _ => {
            st_mut(&mut m.fam).busy = None;
            r.error()
        }
    }
}

fn topic_ok(t: &str, name: bool) -> bool {
    !t.is_empty() && t.len() <= TOPIC_MAX && !(name && t.contains(['+', '#']))
}

fn publish_text(m: &mut Modem, args: &[Arg], r: &mut Resp) -> Next {
    // AT+UMQTTC=2,<qos>,<retain>,<hex_mode>,"<topic>","<message>"
    let (Some(q), Some(retain), Some(hex)) =
        (int(args, 1, 0, 2), int(args, 2, 0, 1), int(args, 3, 0, 1))
    else {
        r.error();
        return Next::Line;
    };
    let topic = args.get(4).map(text).unwrap_or_default();
    let msg = args.get(5).map(text);
    let payload = match (msg, hex) {
        (Some(t), 0) if t.len() <= PAYLOAD_MAX => Some(t.into_bytes()),
        (Some(h), 1) if h.len() <= PAYLOAD_MAX => decode_hex(&h),
        _ => None,
    };
    let Some(payload) = payload.filter(|_| args.len() == 6 && topic_ok(&topic, true)) else {
        r.error();
        return Next::Line;
    };
    if connected(m).is_none() {
        not_allowed(m, r);
        return Next::Line;
    }
    if start(m, 2, r) {
        send(m, 2, q as u8, retain == 1, topic, payload, r);
    }
    Next::Line
}

fn publish_binary(m: &mut Modem, args: &[Arg], r: &mut Resp) -> Next {
    // AT+UMQTTC=9,<qos>,<retain>,"<topic>",<length>
    let (Some(q), Some(retain), Some(len)) = (
        int(args, 1, 0, 2),
        int(args, 2, 0, 1),
        int(args, 4, 1, PAYLOAD_MAX as i64),
    ) else {
        r.error();
        return Next::Line;
    };
    let topic = args.get(3).map(text).unwrap_or_default();
    if args.len() != 5 || !topic_ok(&topic, true) {
        r.error();
        return Next::Line;
    }
    if connected(m).is_none() {
        not_allowed(m, r);
        return Next::Line;
    }
    if !start(m, 9, r) {
        return Next::Line;
    }
    r.prompt();
    let kind = DataKind::Publish {
        qos: q as u8,
        retain: retain == 1,
        topic,
    };
    Next::Data(parser::DataKind::family(kind), len as usize)
}

/// Hands a publish to the link; its result comes as `+UUMQTTC: <op>,<1|0>`.
fn send(m: &mut Modem, op: u8, q: u8, retain: bool, topic: String, payload: Vec<u8>, r: &mut Resp) {
    r.ok();
    let Some(link) = connected(m) else {
        failed(m, NO_SERVICE);
        return r.urc_after(format!("+UUMQTTC: {op},0"));
    };
    // QoS 0 has nothing to wait for: sent once the link has it.
    let tag = Some((u16::from(op), false));
    if !link.queue_publish(
        OutPublish::new(topic, q, retain, payload),
        Duration::from_secs(60),
        tag,
    ) {
        failed(m, REFUSED);
        r.urc_after(format!("+UUMQTTC: {op},0"));
    } else if q == 0 {
        st_mut(&mut m.fam).busy = None;
        r.net_after(format!("+UUMQTTC: {op},1"));
    }
}

fn subscribe(m: &mut Modem, args: &[Arg], r: &mut Resp) {
    // AT+UMQTTC=4,<max_qos>,"<topic_filter>"
    let (Some(q), Some(filter), 3) = (int(args, 1, 0, 2), args.get(2).map(text), args.len()) else {
        return r.error();
    };
    if !filter_op_starts(m, &filter, 4, r) {
        return;
    }
    st_mut(&mut m.fam).sub_filter = filter.clone();
    let Some(link) = connected(m) else {
        return not_allowed(m, r);
    };
    let filter = SubscribeFilter::new(filter, qos(q as u8));
    let sent = link.queue_subscribe([filter], Duration::from_secs(60), Some(4));
    sent_or_error(m, sent, r)
}

fn unsubscribe(m: &mut Modem, args: &[Arg], r: &mut Resp) {
    // AT+UMQTTC=5,"<topic_filter>"
    let (Some(filter), 2) = (args.get(1).map(text), args.len()) else {
        return r.error();
    };
    if !filter_op_starts(m, &filter, 5, r) {
        return;
    }
    let group = m.next_gen << 16;
    let Some(link) = connected(m) else {
        return not_allowed(m, r);
    };
    let sent = link.queue_unsubscribe(filter, (group, 1), Duration::from_secs(60), Some(5));
    sent_or_error(m, sent, r)
}

/// The checks before `AT+UMQTTC=4` / `=5` (operation `op`) on `filter`: a valid filter,
/// a login, no other operation under way ([`start`]); `false` once refused.
fn filter_op_starts(m: &mut Modem, filter: &str, op: u8, r: &mut Resp) -> bool {
    if !topic_ok(filter, false) {
        r.error();
        return false;
    }
    if connected(m).is_none() {
        not_allowed(m, r);
        return false;
    }
    start(m, op, r)
}

/// Answers an operation begun with [`start`]: `OK` once the link took its request, else
/// `ERROR` with the operation no longer under way.
fn sent_or_error(m: &mut Modem, sent: bool, r: &mut Resp) {
    if sent {
        return r.ok();
    }
    st_mut(&mut m.fam).busy = None;
    r.error()
}

/// `AT+UMQTTC=8,<0|1>`: the keep-alive ping switch (refused with no inactivity timeout,
/// ubxlib).
fn ping(m: &mut Modem, args: &[Arg], r: &mut Resp) {
    let (Some(on), 2) = (int(args, 1, 0, 1), args.len()) else {
        return r.error();
    };
    if st(&m.fam).cfg.keepalive == 0 {
        return not_allowed(m, r);
    }
    let Some(link) = connected(m) else {
        return not_allowed(m, r);
    };
    lock(&link.pending).pings = Some(on == 1);
    r.ok()
}

/// `AT+UMQTTC=6[,1]`: the oldest stored message (`,1`) or all of them; nothing stored: a
/// bare `OK` (field SparkFun#48). What is left is announced again after a read, when
/// anything is (ubxlib: no URC after reading the last one).
fn read(m: &mut Modem, sh: &Arc<Shared>, args: &[Arg], r: &mut Resp) {
    let all = match (args.len(), int(args, 1, 0, 1)) {
        (1, _) => true,
        (2, Some(one)) => one == 0,
        _ => return r.error(),
    };
    let link = m.links[0].as_ref();
    let stored = &mut st_mut(&mut m.fam).stored;
    let n = if all {
        stored.len()
    } else {
        stored.len().min(1)
    };
    let taken: Vec<Stored> = stored.drain(..n).collect();
    let left = stored.len();
    for s in taken {
        r.raw(
            format!(
                "\r\n+UMQTTC: 6,{},{},{},\"{}\",{},\"",
                s.qos,
                s.topic.len() + s.payload.len(),
                s.topic.len(),
                s.topic,
                s.payload.len()
            )
            .as_bytes(),
        );
        r.raw(&s.payload);
        r.raw(b"\"\r\n");
        sh.stats
            .delivered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((gen, p)) = &s.ack {
            link::ack_stored(sh, link, *gen, p);
        }
    }
    r.ok();
    if n > 0 && left > 0 {
        r.urc_after(format!("+UUMQTTC: 6,{left}"));
    }
}

/// Data typed after a prompt.
pub(super) fn data_done(m: &mut Modem, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
    match kind {
        DataKind::Import { kind, name } => {
            r.line(&format!(
                "+USECMNG: 0,{kind},\"{name}\",\"{}\"",
                md5_hex(&data)
            ));
            m.certs.insert(name, data);
            r.ok()
        }
        DataKind::Publish {
            qos: q,
            retain,
            topic,
        } => send(m, 9, q, retain, topic, data, r),
    }
}

/// A link event as a `+UUMQTTC` URC (under the state lock, from `link::report`).
pub(super) fn link_event(m: &mut Modem, _idx: u8, ev: LinkEvent<'_>, out: &mut Vec<u8>) {
    let mut line = |l: String| out.extend_from_slice(format!("\r\n{l}\r\n").as_bytes());
    match ev {
        LinkEvent::Connected => {
            st_mut(&mut m.fam).busy = None;
            line("+UUMQTTC: 1,1".into());
        }
        LinkEvent::ConnectFailed(code) => {
            let code = match code {
                32 => SECURE_SOCKET,
                17 => TIMEOUT,
                _ => REFUSED,
            };
            failed(m, code);
            line("+UUMQTTC: 1,0".into());
        }
        LinkEvent::Published { tag, .. } => {
            st_mut(&mut m.fam).busy = None;
            line(format!("+UUMQTTC: {tag},1"));
        }
        LinkEvent::PublishTimedOut { tag, .. } => {
            failed(m, TIMEOUT);
            line(format!("+UUMQTTC: {tag},0"));
        }
        LinkEvent::Subscribed {
            failed: refused,
            granted,
            ..
        } => {
            let s = st_mut(&mut m.fam);
            let filter = std::mem::take(&mut s.sub_filter);
            if refused {
                failed(m, REFUSED);
                line("+UUMQTTC: 4,0".into());
            } else {
                s.busy = None;
                let g = granted.first().copied().unwrap_or(0);
                line(format!("+UUMQTTC: 4,1,{g},\"{filter}\""));
            }
        }
        LinkEvent::SubscribeTimedOut { .. } => {
            failed(m, TIMEOUT);
            line("+UUMQTTC: 4,0".into());
        }
        LinkEvent::Unsubscribed { .. } => {
            st_mut(&mut m.fam).busy = None;
            line("+UUMQTTC: 5,1".into());
        }
        LinkEvent::UnsubscribeTimedOut { .. } => {
            failed(m, TIMEOUT);
            line("+UUMQTTC: 5,0".into());
        }
        LinkEvent::Disconnected => {
            st_mut(&mut m.fam).busy = None;
            line("+UUMQTTC: 0,1".into());
        }
        LinkEvent::Lost(_) => {
            st_mut(&mut m.fam).busy = None;
            line("+UUMQTTC: 0,101".into());
        }
        LinkEvent::Message(p) => {
            let gen = m.links[0].as_ref().map(|l| l.gen);
            let s = st_mut(&mut m.fam);
            s.stored.push_back(Stored {
                qos: p.qos as u8,
                topic: p.topic.clone(),
                payload: p.payload.to_vec(),
                ack: gen.map(|g| (g, p.clone())),
            });
            line(format!("+UUMQTTC: 6,{}", s.stored.len()));
        }
    }
}
