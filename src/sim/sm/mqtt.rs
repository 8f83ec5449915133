//! `AT+SMCONN`, `AT+SMPUB`, `AT+SMSUB`, `AT+SMUNSUB`, `AT+SMDISC` and what the link
//! reports, in the family's words.

use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, Publish, SubscribeFilter};

use super::*;
use crate::sim::hosts::Route;
use crate::sim::link::{self, qos};
use crate::sim::parser;

/// How long the modem waits for the broker's acknowledgement (a guess: not documented).
const BROKER_WAIT: Duration = Duration::from_secs(60);

/// The final result of a command that was waiting when the link went: the field log
/// shows `OK` for a publish after `+SMSTATE: 0`; `ERROR` for the others (a guess).
pub(super) fn lost_answer(w: Waiting) -> &'static str {
    match w {
        Waiting::Pub | Waiting::Disc => "OK",
        _ => "ERROR",
    }
}

impl Modem {
    fn sm_connected(&self) -> bool {
        self.links[0]
            .as_ref()
            .is_some_and(|l| l.connected && !l.disconnecting)
    }

    /// `AT+SMCONN`: no answer until the link reports (see `sm_event`).
    pub(super) fn smconn(&mut self, sh: &Arc<Shared>, r: &mut Resp) {
        let conf = st(&self.fam).conf.clone();
        // Connected already, or no URL: ERROR (a guess; the manual is silent).
        if self.links[0].is_some() {
            return r.error();
        }
        let Some((host, port)) = conf.url.clone() else {
            return r.error();
        };
        // No bearer: ERROR at once (a guess).
        if !self.active.contains(&1) {
            return r.error();
        }
        let mut forced = None;
        let route = sh.route(&host, port);
        let (thost, tport) = match &route {
            Route::Connect(h, p) => (h.clone(), *p),
            _ => {
                forced = Some(3);
                ("127.0.0.1".to_owned(), 1)
            }
        };
        let mut tls_cfg = None;
        if st(&self.fam).smssl.0 > 0 {
            match self.sm_tls(&host) {
                Ok(cfg) => tls_cfg = Some(cfg),
                Err(code) => forced = forced.or(Some(code)),
            }
        }
        let client_id = if conf.client_id.is_empty() {
            // rumqttc needs an id; the module's own choice for an empty one is unknown.
            format!("sim7080-{}", self.profile.imei)
        } else {
            conf.client_id.clone()
        };
        let mut opts = MqttOptions::new(client_id, thost, tport);
        opts.set_keep_alive(Duration::from_secs(u64::from(conf.keeptime.max(5))));
        opts.set_clean_session(conf.cleanss);
        opts.set_manual_acks(true);
        opts.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
        if !conf.username.is_empty() {
            opts.set_credentials(conf.username.clone(), conf.password.clone());
        }
        // The will is active when its topic is set (a guess: ATM is silent).
        if !conf.topic.is_empty() {
            opts.set_last_will(LastWill::new(
                conf.topic.clone(),
                conf.message.clone().into_bytes(),
                qos(conf.qos),
                conf.retain,
            ));
        }
        let start = link::Start {
            opts,
            tls: tls_cfg,
            had_login: !conf.username.is_empty(),
            forced_error: forced,
            info: format!("\"{host}\",{port}"),
        };
        let Some(link) = link::spawn(sh, self, 0, "vmodem-sm-link".to_owned(), start) else {
            return r.error();
        };
        self.links[0] = Some(link);
        st_mut(&mut self.fam).waiting = Some(Waiting::Conn);
    }

    /// `AT+SMPUB="<topic>",<len>,<qos>,<retain>` (the length quoted or not: field log).
    pub(super) fn smpub(&mut self, a: &str, r: &mut Resp) -> Next {
        let args = split_args(a);
        let topic = args.first().map(|a| a.text.clone()).unwrap_or_default();
        let (Some(len), Some(q), Some(retain)) = (
            int(&args, 1, 0, self.profile.payload_max as i64),
            int(&args, 2, 0, 2),
            int(&args, 3, 0, 1),
        ) else {
            r.error();
            return Next::Line;
        };
        if args.len() != 4 || topic.is_empty() || topic.len() > 128 || !self.sm_connected() {
            r.error();
            return Next::Line;
        }
        let kind = DataKind::Pub {
            topic,
            qos: q as u8,
            retain: retain == 1,
        };
        // With AT+SMPUBHEX=1 the data are hex digits, two per byte (a guess).
        let len = if st(&self.fam).pubhex { len * 2 } else { len } as usize;
        if len == 0 {
            // Nothing to type: published at once (a guess).
            self.sm_data_done(kind, Vec::new(), r);
            return Next::Line;
        }
        r.prompt_space();
        Next::Data(parser::DataKind::family(kind), len)
    }

    pub(super) fn sm_data_done(&mut self, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
        let DataKind::Pub {
            topic,
            qos: q,
            retain,
        } = kind;
        let data = if st(&self.fam).pubhex {
            match unhex(&data) {
                Some(d) => d,
                None => return r.error(),
            }
        } else {
            data
        };
        let Some(link) = self.links[0].as_ref().filter(|l| l.connected) else {
            return r.error();
        };
        if topic.contains(['+', '#']) {
            return r.error();
        }
        // QoS 0: `OK` once the link has it; QoS 1/2: once acknowledged.
        if !link.queue_publish(OutPublish::new(topic, q, retain, data), BROKER_WAIT, None) {
            return r.error();
        }
        if q == 0 {
            r.ok();
        } else {
            st_mut(&mut self.fam).waiting = Some(Waiting::Pub);
        }
    }

    /// `AT+SMSUB="<topic>",<qos>`: one topic.
    pub(super) fn smsub(&mut self, a: &str, r: &mut Resp) {
        let args = split_args(a);
        let topic = args.first().map(|a| a.text.clone()).unwrap_or_default();
        let Some(q) = int(&args, 1, 0, 2) else {
            return r.error();
        };
        if args.len() != 2 || topic.is_empty() || topic.len() > 128 || !self.sm_connected() {
            return r.error();
        }
        let Some(link) = self.links[0].as_mut() else {
            return r.error();
        };
        let filter = SubscribeFilter::new(topic.clone(), qos(q as u8));
        if !link.queue_subscribe([filter], BROKER_WAIT, None) {
            return r.error();
        }
        link.sub_waiting.push_back(vec![topic]);
        st_mut(&mut self.fam).waiting = Some(Waiting::Sub);
    }

    /// `AT+SMUNSUB="<topic>"`.
    pub(super) fn smunsub(&mut self, a: &str, r: &mut Resp) {
        let args = split_args(a);
        let topic = args.first().map(|a| a.text.clone()).unwrap_or_default();
        if args.len() != 1 || topic.is_empty() || topic.len() > 128 || !self.sm_connected() {
            return r.error();
        }
        let group = self.next_gen;
        self.next_gen += 1;
        let Some(link) = self.links[0].as_mut() else {
            return r.error();
        };
        link.subscribed.retain(|t| *t != topic);
        if !link.queue_unsubscribe(topic, (group, 1), BROKER_WAIT, None) {
            return r.error();
        }
        st_mut(&mut self.fam).waiting = Some(Waiting::Unsub);
    }

    /// `AT+SMDISC`: `OK` once DISCONNECT is out; `OK` at once when nothing is connected
    /// (ATM §17.2.9's example answers `OK` on its own).
    pub(super) fn smdisc(&mut self, r: &mut Resp) {
        match self.links[0].as_mut() {
            Some(l) if l.connected && !l.disconnecting => {
                if l.client.try_disconnect().is_err() {
                    return r.error();
                }
                l.disconnecting = true;
                st_mut(&mut self.fam).waiting = Some(Waiting::Disc);
            }
            Some(_) => r.error(),
            None => r.ok(),
        }
    }
}

fn unhex(data: &[u8]) -> Option<Vec<u8>> {
    crate::sim::args::decode_hex(std::str::from_utf8(data).ok()?)
}

/// A link event in SM words (under the state lock, from `link::report`): the final result
/// of the command waiting for it, `+SMSTATE: 0` for a lost link, `+SMSUB` for a message.
pub(super) fn sm_event(m: &mut Modem, ev: LinkEvent<'_>, out: &mut Vec<u8>) {
    let mut line = |l: &str| {
        out.extend_from_slice(format!("\r\n{l}\r\n").as_bytes());
    };
    let waiting = st(&m.fam).waiting;
    let answer = |want: Waiting, result: &str, m: &mut Modem| {
        if waiting == Some(want) {
            st_mut(&mut m.fam).waiting = None;
            Some(result.to_owned())
        } else {
            None
        }
    };
    let result = match ev {
        LinkEvent::Connected => answer(Waiting::Conn, "OK", m),
        LinkEvent::ConnectFailed(_) => answer(Waiting::Conn, "ERROR", m),
        LinkEvent::Published { .. } => answer(Waiting::Pub, "OK", m),
        LinkEvent::PublishTimedOut { .. } => answer(Waiting::Pub, "ERROR", m),
        LinkEvent::Subscribed { failed, .. } => {
            sub_settled(m, !failed);
            answer(Waiting::Sub, if failed { "ERROR" } else { "OK" }, m)
        }
        LinkEvent::SubscribeTimedOut { .. } => {
            sub_settled(m, false);
            answer(Waiting::Sub, "ERROR", m)
        }
        LinkEvent::Unsubscribed { .. } => answer(Waiting::Unsub, "OK", m),
        LinkEvent::UnsubscribeTimedOut { .. } => answer(Waiting::Unsub, "ERROR", m),
        LinkEvent::Disconnected => answer(Waiting::Disc, "OK", m),
        LinkEvent::Lost(_) => {
            line("+SMSTATE: 0");
            st_mut(&mut m.fam)
                .waiting
                .take()
                .map(|w| lost_answer(w).to_owned())
        }
        LinkEvent::Message(p) => {
            // While a command waits for the broker, messages wait for its final result
            // (the order of AN80 §5.1/§5.2: `OK`, then `+SMSUB`).
            let hex = st(&m.fam).conf.subhex;
            if waiting.is_some() {
                sm_message(p, hex, &mut st_mut(&mut m.fam).held);
            } else {
                sm_message(p, hex, out);
            }
            None
        }
    };
    if let Some(res) = result {
        out.extend_from_slice(format!("\r\n{res}\r\n").as_bytes());
        out.append(&mut st_mut(&mut m.fam).held);
    }
}

fn sub_settled(m: &mut Modem, granted: bool) {
    if let Some(link) = m.links[0].as_mut() {
        link.sub_settled(granted);
    }
}

/// `+SMSUB: "<topic>","<message>"`, the message raw (ATM §17.2.13). With
/// `AT+SMCONF="SUBHEX",1`: `+SMSUB: "<topic>",<len>,"<hex>"`, the form one driver parses
/// (a **guess**: the manual only says the data are hex).
fn sm_message(p: &Publish, hex: bool, out: &mut Vec<u8>) {
    if hex {
        let digits: String = p.payload.iter().map(|b| format!("{b:02X}")).collect();
        let line = format!(
            "\r\n+SMSUB: \"{}\",{},\"{digits}\"\r\n",
            p.topic,
            p.payload.len()
        );
        out.extend_from_slice(line.as_bytes());
        return;
    }
    out.extend_from_slice(format!("\r\n+SMSUB: \"{}\",\"", p.topic).as_bytes());
    out.extend_from_slice(&p.payload);
    out.extend_from_slice(b"\"\r\n");
}
