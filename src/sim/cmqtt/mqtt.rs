//! CMQTT connect, publish, subscribe and unsubscribe, and the data typed after their
//! prompts.

use super::*;
use crate::sim::hosts::{is_loopback, Route};
use crate::sim::ssl;

impl Modem {
    pub(super) fn connect(&mut self, sh: &Arc<Shared>, a: &str, r: &mut Resp) {
        let Some((args, idx)) = self.idx_args(a, r) else {
            return;
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
        let s = &st_mut(&mut self.fam).slots[slot_i];
        let Some((client_id, server_type)) = s.acquired.clone() else {
            return fail(r, "CONNECT", idx, 20);
        };
        if let Some(l) = &self.links[slot_i] {
            return fail(r, "CONNECT", idx, if l.connected { 13 } else { 14 });
        }
        // Where the link really goes (see `crate::sim::hosts`): a name that does not resolve
        // is 25 "DNS error", an address out of reach 3 "sock connect fail" (seeds/003 §2.2.1).
        let route = sh.route(&host, port);
        let (thost, tport) = match &route {
            Route::Connect(h, p) => (h.clone(), *p),
            _ => (sh.broker_host.clone(), sh.broker_port),
        };
        let mut forced = match route {
            Route::Connect(..) => None,
            Route::NoSuchName => Some(25),
            Route::Unreachable => Some(3),
        };
        if no_network {
            forced = Some(9);
        }
        let refused = match &route {
            Route::Connect(h, p) => {
                is_loopback(h) && crate::sim::tcp::loopback_listener(*p) == Some(false)
            }
            Route::Unreachable => true,
            Route::NoSuchName => false,
        };
        if !no_network && refused && self.profile.refused_connect_fails_at_once() {
            // Nobody listens, or no route: the connect fails at once (field trace
            // a7670e_embeddedbroker20: `+CMQTTCONNECT: 0,3` then `ERROR`).
            return fail(r, "CONNECT", idx, 3);
        }
        // SSL client: TLS per the SSL context (see `tls`), the server checked
        // against the host as the host wrote it, even when redirected.
        let mut tls_cfg = None;
        if server_type == 1 && forced.is_none() {
            let ctx = usize::from(s.ssl_ctx.unwrap_or(idx));
            if let Some(c) = self.ssl.get(ctx) {
                // A file the authmode needs that is not set or not uploaded: 33.
                match ssl::tls_setup(&self.certs, &c.files(), |n| n.to_owned(), &host, true) {
                    Ok(cfg) => tls_cfg = Some(cfg),
                    Err(code) => forced = Some(code),
                }
            }
        }
        let s = &st_mut(&mut self.fam).slots[slot_i];
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
        let Some(link) = link::spawn(sh, self, idx, format!("vmodem-link-{idx}"), start) else {
            return fail(r, "CONNECT", idx, 4);
        };
        self.links[slot_i] = Some(link);
        r.ok()
    }

    pub(super) fn publish(&mut self, a: &str, r: &mut Resp) {
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
        let s = &mut st_mut(&mut self.fam).slots[usize::from(idx)];
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
        let wait = Duration::from_secs(timeout as u64);
        if !link.queue_publish(
            OutPublish::new(topic, q as u8, retain == 1, payload),
            wait,
            None,
        ) {
            return fail(r, "PUB", idx, 14);
        }
        r.ok();
        if q == 0 {
            r.net_after(format!("+CMQTTPUB: {idx},0"));
        }
    }

    pub(super) fn subscribe(&mut self, a: &str, r: &mut Resp) -> Next {
        let Some((args, idx)) = self.idx_args(a, r) else {
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
    pub(super) fn data_write(
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
    pub(super) fn prompt_for(
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
        if st(&self.fam).slots[i].acquired.is_none() {
            return failn(r, cmd, idx, 20);
        }
        if need_link && !self.is_connected(i) {
            return failn(r, cmd, idx, 11);
        }
        r.prompt();
        Next::Data(parser::DataKind::family(kind), len as usize)
    }

    /// `AT+CMQTT<cmd>=<idx>[,<dup>]` (SUB / UNSUB): takes the topics listed before in the
    /// slot's `list`; `None` once answered with an error.
    pub(super) fn listed_topics<T>(
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
        if st_mut(&mut self.fam).slots[i].acquired.is_none() {
            fail(r, cmd, idx, 20);
            return None;
        }
        let topics = std::mem::take(list(&mut st_mut(&mut self.fam).slots[i]));
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
    pub(super) fn one_shot_ready(&self, cmd: &str, idx: u8, topic: &[u8], r: &mut Resp) -> bool {
        let Some(s) = st(&self.fam).slots.get(usize::from(idx)) else {
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

    pub(super) fn is_connected(&self, i: usize) -> bool {
        self.links[i]
            .as_ref()
            .is_some_and(|l| l.connected && !l.disconnecting)
    }

    pub(super) fn send_subscribe(&mut self, idx: u8, topics: Vec<(Vec<u8>, u8)>, r: &mut Resp) {
        let mut filters = Vec::with_capacity(topics.len());
        for (t, q) in topics {
            match String::from_utf8(t) {
                Ok(t) => filters.push(SubscribeFilter::new(t, qos(q))),
                Err(_) => return fail(r, "SUB", idx, 2),
            }
        }
        let timeout = Duration::from_secs(u64::from(
            st_mut(&mut self.fam).slots[usize::from(idx)].optimeout,
        ));
        let Some(link) = self.links[usize::from(idx)].as_mut() else {
            return fail(r, "SUB", idx, 11);
        };
        let names: Vec<String> = filters.iter().map(|f| f.path.clone()).collect();
        if !link.queue_subscribe(filters, timeout, None) {
            return fail(r, "SUB", idx, 12);
        }
        link.sub_waiting.push_back(names);
        r.ok()
    }

    /// The oldest unanswered SUBSCRIBE of client `idx` was answered (see
    /// `Link::sub_settled`).
    pub(super) fn sub_settled(&mut self, idx: u8, granted: bool) {
        if let Some(link) = self
            .links
            .get_mut(usize::from(idx))
            .and_then(Option::as_mut)
        {
            link.sub_settled(granted);
        }
    }

    pub(super) fn unsubscribe(&mut self, a: &str, r: &mut Resp) -> Next {
        let Some((args, idx)) = self.idx_args(a, r) else {
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

    pub(super) fn send_unsubscribe(&mut self, idx: u8, topics: Vec<Vec<u8>>, r: &mut Resp) {
        let mut names = Vec::with_capacity(topics.len());
        for t in topics {
            match String::from_utf8(t) {
                Ok(t) => names.push(t),
                Err(_) => return fail(r, "UNSUB", idx, 2),
            }
        }
        let group = st_mut(&mut self.fam).next_group;
        st_mut(&mut self.fam).next_group += 1;
        let timeout = Duration::from_secs(u64::from(
            st_mut(&mut self.fam).slots[usize::from(idx)].optimeout,
        ));
        let Some(link) = self.links[usize::from(idx)].as_mut() else {
            return fail(r, "UNSUB", idx, 11);
        };
        // rumqttc sends one UNSUBSCRIBE per topic; the result is reported
        // once all of them are acknowledged.
        let n = names.len();
        for name in names {
            link.subscribed.retain(|t| *t != name);
            if !link.queue_unsubscribe(name, (group, n), timeout, None) {
                return fail(r, "UNSUB", idx, 14);
            }
        }
        r.ok()
    }

    /// The data typed after a CMQTT prompt.
    pub(super) fn cmqtt_data_done(&mut self, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
        // A topic, will or payload for the client's slot, kept once it passes the UTF-8
        // check; SUB / UNSUB with one topic go out at once.
        let (idx, cmd) = match kind {
            DataKind::SubOne(idx, q) => {
                if self.one_shot_ready("SUB", idx, &data, r) {
                    self.send_subscribe(idx, vec![(data, q)], r)
                }
                return;
            }
            DataKind::UnsubOne(idx) => {
                if self.one_shot_ready("UNSUB", idx, &data, r) {
                    self.send_unsubscribe(idx, vec![data], r)
                }
                return;
            }
            DataKind::WillTopic(idx) => (idx, "WILLTOPIC"),
            DataKind::WillMsg(idx, _) => (idx, "WILLMSG"),
            DataKind::Topic(idx) => (idx, "TOPIC"),
            DataKind::Payload(idx) => (idx, "PAYLOAD"),
            DataKind::SubTopic(idx, _) => (idx, "SUBTOPIC"),
            DataKind::UnsubTopic(idx) => (idx, "UNSUBTOPIC"),
        };
        let Some(s) = st_mut(&mut self.fam).slots.get_mut(usize::from(idx)) else {
            return r.error();
        };
        if !s.utf8_ok(&data) {
            return fail(r, cmd, idx, 2);
        }
        match kind {
            DataKind::WillTopic(_) => s.will_topic = Some(data),
            DataKind::WillMsg(_, q) => s.will_msg = Some((data, q)),
            DataKind::Topic(_) => s.topic = Some(data),
            DataKind::Payload(_) => s.payload = Some(data),
            DataKind::SubTopic(_, q) => s.sub_topics.push((data, q)),
            _ => s.unsub_topics.push(data),
        }
        r.ok()
    }
}

/// "tcp://host[:port]" → (host, port); port defaults to 1883.
pub(super) fn parse_server(addr: &str) -> Option<(String, u16)> {
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
