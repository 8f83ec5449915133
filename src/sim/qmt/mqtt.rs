//! The Quectel MQTT commands proper: `AT+QMTOPEN`, `AT+QMTCONN`, `AT+QMTDISC`,
//! `AT+QMTSUB`, `AT+QMTUNS`, `AT+QMTPUB(EX)` and `AT+QMTRECV`.

use super::*;
use crate::sim::hosts::Route;

pub(super) fn open(m: &mut Modem, sh: &Arc<Shared>, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let (Some(idx), Some(port), 3) = (idx_of(m, &args), int(&args, 2, 0, 65535), args.len()) else {
        return r.error();
    };
    let host = unquote(&args[1]);
    let (lo, hi) = m.profile.server_addr_len;
    if host.len() < lo || host.len() > hi {
        return r.error();
    }
    r.ok();
    let i = usize::from(idx);
    if st_mut(&mut m.fam).slots[i].opened.is_some() {
        return r.urc_after(format!("+QMTOPEN: {idx},2"));
    }
    let (ssl_on, ctx) = st_mut(&mut m.fam).slots[i].cfg.ssl;
    if ssl_on {
        let c = &st_mut(&mut m.fam).ssl[usize::from(ctx)];
        let has = |n: &str| !n.is_empty() && m.certs.contains_key(&file_key(n));
        let ok = match c.seclevel {
            0 => true,
            1 => has(&c.cacert),
            _ => has(&c.cacert) && has(&c.clientcert) && has(&c.clientkey),
        };
        if !ok {
            return r.urc_after(format!("+QMTOPEN: {idx},-1"));
        }
    }
    // The module brings the client's context up itself; 3 "failed to activate PDP" (the
    // notes' result table) when it cannot: not registered, or the context is not defined.
    let cid = st_mut(&mut m.fam).slots[i].cfg.pdpcid;
    if !m.active.contains(&cid) && !m.context_up(cid) {
        return r.net_after(format!("+QMTOPEN: {idx},3"));
    }
    // Where the link goes (see `crate::sim::hosts`): a name that does not resolve is 4
    // "failed to parse domain name", an address out of reach 5 "network connection error"
    // (the notes' result table), with no packet sent.
    let (thost, tport) = match sh.route(&host, port as u16) {
        Route::Connect(h, p) => (h, p),
        Route::NoSuchName => return r.net_after(format!("+QMTOPEN: {idx},4")),
        Route::Unreachable => return r.net_after(format!("+QMTOPEN: {idx},5")),
    };
    let reachable = (thost.as_str(), tport)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok());
    if !reachable {
        return r.net_after(format!("+QMTOPEN: {idx},5"));
    }
    st_mut(&mut m.fam).slots[i].opened = Some((host, port as u16, thost, tport));
    r.net_after(format!("+QMTOPEN: {idx},0"));
}

pub(super) fn conn(m: &mut Modem, sh: &Arc<Shared>, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let Some(idx) = idx_of(m, &args) else {
        return r.error();
    };
    if args.len() < 2 || args.len() > 4 {
        return r.error();
    }
    let i = usize::from(idx);
    let client_id = unquote(&args[1]);
    let user = args.get(2).map(unquote).filter(|u| !u.is_empty());
    let pass = args.get(3).map(unquote).filter(|u| !u.is_empty());
    if client_id.is_empty() || client_id.len() > m.profile.client_id_max {
        return r.error();
    }
    if user.as_ref().is_some_and(|u| u.len() > 256) || pass.as_ref().is_some_and(|p| p.len() > 256)
    {
        return r.error();
    }
    let Some((host, _, thost, tport)) = st_mut(&mut m.fam).slots[i].opened.clone() else {
        return r.error();
    };
    if m.links[i].is_some() {
        return r.error();
    }
    let c = st_mut(&mut m.fam).slots[i].cfg.clone();
    let mut opts = MqttOptions::new(client_id, thost, tport);
    opts.set_keep_alive(Duration::from_secs(u64::from(c.keepalive)));
    opts.set_clean_session(c.clean);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
    let login = match (&c.aliauth, &user) {
        (_, Some(u)) => Some((u.clone(), pass.clone().unwrap_or_default())),
        (Some((pk, dn, ds)), None) => Some((format!("{dn}&{pk}"), ds.clone())),
        (None, None) => None,
    };
    let had_login = login.is_some();
    if let Some((u, p)) = login {
        opts.set_credentials(u, p);
    }
    if let Some(w) = &c.will {
        opts.set_last_will(LastWill::new(
            w.topic.clone(),
            w.msg.clone().into_bytes(),
            qos(w.qos),
            w.retain,
        ));
    }
    // SSL: TLS per the SSL context bound with AT+QMTCFG="ssl" (see `tls`); Quectel's
    // <seclevel> 0/1/2 has the meaning of SIMCom's authmode 0/1/2, and <sslversion> 0-4
    // the same values. The server is checked against the host given to AT+QMTOPEN.
    let mut forced_error = None;
    let mut tls_cfg = None;
    let (ssl_on, ctx) = c.ssl;
    if ssl_on {
        let s = &st_mut(&mut m.fam).ssl[usize::from(ctx)];
        let files = TlsFiles {
            sslversion: s.sslversion,
            authmode: s.seclevel,
            cacert: &s.cacert,
            clientcert: &s.clientcert,
            clientkey: &s.clientkey,
            negotiatetime: s.negotiatetime.max(1),
        };
        match ssl::tls_setup(&m.certs, &files, file_key, &host, false) {
            Ok(cfg) => tls_cfg = Some(cfg),
            Err(code) => forced_error = Some(code),
        }
    }
    let start = link::Start {
        opts,
        tls: tls_cfg,
        had_login,
        forced_error,
        info: String::new(),
    };
    let Some(link) = link::spawn(sh, m, idx, format!("vmodem-qmt-{idx}"), start) else {
        return r.error();
    };
    m.links[i] = Some(link);
    r.ok()
}

pub(super) fn disc(m: &mut Modem, idx: u8, r: &mut Resp) {
    let i = usize::from(idx);
    if st_mut(&mut m.fam).slots[i].opened.is_none() {
        return r.error();
    }
    match m.links[i].as_mut() {
        Some(l) if l.connected && !l.disconnecting => {
            if l.client.try_disconnect().is_err() {
                return r.error();
            }
            // The link thread reports +QMTDISC once DISCONNECT is out.
            l.disconnecting = true;
            r.ok()
        }
        Some(_) => r.error(),
        None => {
            st_mut(&mut m.fam).close_network(idx);
            r.ok();
            r.urc_after(format!("+QMTDISC: {idx},0"));
        }
    }
}

pub(super) fn connected_link(m: &Modem, idx: u8) -> Option<&Link> {
    m.links[usize::from(idx)]
        .as_ref()
        .filter(|l| l.connected && !l.disconnecting)
}

pub(super) fn op_timeout(m: &Modem, idx: u8) -> Duration {
    let c = &st(&m.fam).slots[usize::from(idx)].cfg;
    Duration::from_secs(u64::from(c.pkt_timeout) * (u64::from(c.retries) + 1))
}

pub(super) fn sub(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let (Some(idx), Some(msgid)) = (idx_of(m, &args), int(&args, 1, 1, 65535)) else {
        return r.error();
    };
    if args.len() < 4 || args.len() % 2 != 0 {
        return r.error();
    }
    let mut filters = Vec::new();
    for pair in args[2..].chunks(2) {
        let t = unquote(&pair[0]);
        let Some(q) = int(pair, 1, 0, 2) else {
            return r.error();
        };
        if t.is_empty() || t.len() > TOPIC_MAX {
            return r.error();
        }
        filters.push(SubscribeFilter::new(t, qos(q as u8)));
    }
    let timeout = op_timeout(m, idx);
    let Some(link) = connected_link(m, idx) else {
        return r.error();
    };
    if !link.queue_subscribe(filters, timeout, Some(msgid as u16)) {
        return r.error();
    }
    r.ok()
}

pub(super) fn uns(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let (Some(idx), Some(msgid)) = (idx_of(m, &args), int(&args, 1, 1, 65535)) else {
        return r.error();
    };
    if args.len() < 3 {
        return r.error();
    }
    let topics: Vec<String> = args[2..].iter().map(unquote).collect();
    if topics.iter().any(|t| t.is_empty() || t.len() > TOPIC_MAX) {
        return r.error();
    }
    let timeout = op_timeout(m, idx);
    let group = u64::from(msgid as u16) | (m.next_gen << 16);
    let Some(link) = connected_link(m, idx) else {
        return r.error();
    };
    // rumqttc sends one UNSUBSCRIBE per topic; the result comes once all are acknowledged.
    let n = topics.len();
    for t in topics {
        if !link.queue_unsubscribe(t, (group, n), timeout, Some(msgid as u16)) {
            return r.error();
        }
    }
    r.ok()
}

pub(super) fn publish(m: &mut Modem, a: &str, ex: bool, r: &mut Resp) -> Next {
    let args = split_args(a);
    let (Some(idx), Some(msgid), Some(q), Some(retain)) = (
        idx_of(m, &args),
        int(&args, 1, 0, 65535),
        int(&args, 2, 0, 2),
        int(&args, 3, 0, 1),
    ) else {
        r.error();
        return Next::Line;
    };
    // "<msgID> ... It will be 0 only when <qos>=0."
    if (q == 0) != (msgid == 0) || args.len() < 5 || args.len() > 6 {
        r.error();
        return Next::Line;
    }
    let topic = unquote(&args[4]);
    if topic.is_empty() || topic.len() > TOPIC_MAX || topic.contains(['+', '#']) {
        r.error();
        return Next::Line;
    }
    if connected_link(m, idx).is_none() {
        r.error();
        return Next::Line;
    }
    let kind = DataKind::Publish {
        idx,
        msgid: msgid as u16,
        qos: q as u8,
        retain: retain == 1,
        topic,
        ex,
    };
    match num(&args, 5) {
        Some(len) if (1..=m.profile.payload_max as i64).contains(&len) => {
            r.prompt_space();
            Next::Data(parser::DataKind::family(kind), len as usize)
        }
        None if args.len() == 5 && !ex => {
            r.prompt_space();
            Next::DataUntilCtrlZ(parser::DataKind::family(kind), m.profile.payload_max)
        }
        _ => {
            r.error();
            Next::Line
        }
    }
}

/// Whether the profile has `AT+QMTPUBEX` (the EC2x/EG9x LTE Standard note); BG96's note
/// publishes with `AT+QMTPUB=...,<msglen>` only.
pub(super) fn has_pubex(p: &Profile) -> bool {
    !p.name.starts_with("bg")
}

pub(super) fn message_line(idx: u8, s: &Stored, len_enable: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("\r\n+QMTRECV: {idx},{},\"{}\",", s.msgid, s.topic).as_bytes());
    if len_enable {
        out.extend_from_slice(format!("{},", s.payload.len()).as_bytes());
    }
    out.push(b'"');
    out.extend_from_slice(&s.payload);
    out.extend_from_slice(b"\"\r\n");
}

/// Whether client `idx` keeps received messages in buffers for the host to read
/// (`AT+QMTCFG="recv/mode",<idx>,1`).
pub(crate) fn stores_messages(m: &Modem, idx: u8) -> bool {
    st(&m.fam)
        .slots
        .get(usize::from(idx))
        .is_some_and(|s| s.cfg.recv_mode != 0)
}

/// Whether client `idx` can take one more received message: it is not in buffer mode, or
/// one of its buffers is free.
pub(crate) fn has_free_buffer(m: &Modem, idx: u8) -> bool {
    st(&m.fam)
        .slots
        .get(usize::from(idx))
        .is_some_and(|s| s.cfg.recv_mode == 0 || s.buffers.iter().any(Option::is_none))
}

pub(super) fn recv(m: &mut Modem, sh: &Arc<Shared>, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let Some(idx) = idx_of(m, &args) else {
        return r.error();
    };
    let ids: Vec<usize> = match (args.len(), int(&args, 1, 0, BUFFERS as i64 - 1)) {
        (1, _) => (0..BUFFERS).collect(),
        (2, Some(id)) => vec![id as usize],
        _ => return r.error(),
    };
    let link = m.links[usize::from(idx)].as_ref();
    let slot = &mut st_mut(&mut m.fam).slots[usize::from(idx)];
    let len_enable = slot.cfg.len_enable;
    let mut out = Vec::new();
    for id in ids {
        if let Some(s) = slot.buffers[id].take() {
            message_line(idx, &s, len_enable, &mut out);
            sh.stats
                .delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some((gen, p)) = &s.ack {
                link::ack_stored(sh, link, *gen, p);
            }
        }
    }
    r.raw(&out);
    r.ok();
}
