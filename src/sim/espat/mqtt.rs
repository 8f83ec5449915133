//! `AT+MQTT*` and `AT+SYSMFG`, the data after their prompts, and the link's events in
//! ESP-AT words.

use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, Publish, SubscribeFilter};

use super::*;
use crate::sim::hosts::Route;
use crate::sim::link::{self, qos};
use crate::sim::parser;
use crate::sim::ssl::{self, TlsFiles};
use crate::sim::Shared;

/// What the host types after an ESP-AT `>` prompt.
pub(crate) enum DataKind {
    /// `AT+MQTTLONGCLIENTID` (0), `LONGUSERNAME` (1), `LONGPASSWORD` (2).
    Long(u8),
    /// `AT+MQTTPUBRAW`: topic, qos, retain.
    PubRaw(String, u8, bool),
    /// `AT+SYSMFG=2,"<namespace>",...`.
    Mfg(String),
}

/// The MQTT receive buffer: a packet longer than this arrives in parts ("If the device
/// receives an MQTT message whose length exceeds 1024 bytes (including the MQTT header
/// and MQTT payload), it will also be split into multiple +MQTTSUBRECV messages").
const RX_BUFFER: usize = 1024;

/// How long a blocking command waits for the broker (`<timeout_ms>` default 15000).
const OP_TIMEOUT: Duration = Duration::from_secs(15);

impl Modem {
    fn esp_connected(&self) -> bool {
        self.links[0].as_ref().is_some_and(|l| l.connected)
    }

    /// `AT+MQTTCONN?` state: 0 uninitialised, 1 USERCFG set, 2 CONNCFG set, 3
    /// disconnected, 4 connected, 5 connected without subscription, 6 with one
    /// (MQTT AT Commands, AT+MQTTCONN query).
    fn esp_conn_state(&self) -> u8 {
        let s = st(&self.fam);
        if self.esp_connected() {
            // 4 right after the connect (field log esp32_espat478_sub_disconnected), 6 with
            // a subscription; 5 is never printed here (a guess).
            if s.subs.is_empty() {
                4
            } else {
                6
            }
        } else if s.dropped {
            3
        } else if s.conncfg.is_some() {
            2
        } else if s.user.is_some() {
            1
        } else {
            0
        }
    }

    /// The link is gone (lost, or refused before CONNACK).
    pub(crate) fn esp_dropped(&mut self) {
        self.links[0] = None;
        let s = st_mut(&mut self.fam);
        s.dropped = s.target.is_some();
        s.subs.clear();
    }

    pub(super) fn esp_mqtt(
        &mut self,
        sh: &Arc<Shared>,
        cmd: &str,
        form: Form<'_>,
        r: &mut Resp,
    ) -> Next {
        let args = match form {
            Form::Write(a) => match esp_args(a) {
                Some(v) => v,
                None if cmd == "PUB" => {
                    // An unescaped comma in the data (field log
                    // esp32c3_espat647_unescaped_comma): the parse error, then the data
                    // read failure.
                    if st(&self.fam).syslog {
                        r.line(&format!("ERR CODE:0x{ERR_PARSE:08x}"));
                    }
                    fail(self, r, mqtt_err(0x6044));
                    return Next::Line;
                }
                None => {
                    fail(self, r, ERR_PARSE);
                    return Next::Line;
                }
            },
            _ => Vec::new(),
        };
        // "LinkID: currently only supports link ID 0".
        if matches!(form, Form::Write(_)) && int(&args, 0, 0, 0).is_none() {
            fail(self, r, ERR_PARSE);
            return Next::Line;
        }
        match (cmd, form) {
            ("USERCFG", Form::Write(_)) => self.esp_usercfg(&args, r),
            ("LONGCLIENTID" | "LONGUSERNAME" | "LONGPASSWORD", Form::Write(_)) => {
                let which = match cmd {
                    "LONGCLIENTID" => 0,
                    "LONGUSERNAME" => 1,
                    _ => 2,
                };
                let Some(len) = int(&args, 1, 1, 1024).filter(|_| args.len() == 2) else {
                    fail(self, r, ERR_PARSE);
                    return Next::Line;
                };
                // "should be sent after AT+MQTTUSERCFG".
                if st(&self.fam).user.is_none() {
                    fail(self, r, mqtt_err(0x6001));
                    return Next::Line;
                }
                r.ok();
                r.prompt();
                return Next::Data(
                    parser::DataKind::family(DataKind::Long(which)),
                    len as usize,
                );
            }
            ("CONNCFG", Form::Write(_)) => self.esp_conncfg_cmd(&args, r),
            ("SNI", Form::Write(_)) => match text(&args, 1, 128) {
                Some(sni) if st(&self.fam).user.is_some() => {
                    st_mut(&mut self.fam).sni = Some(sni);
                    r.ok()
                }
                Some(_) => fail(self, r, mqtt_err(0x6001)),
                None => fail(self, r, ERR_PARSE),
            },
            ("ALPN", Form::Write(_)) => match int(&args, 1, 0, 5) {
                Some(n) if args.len() == 2 + n as usize => r.ok(),
                _ => fail(self, r, ERR_PARSE),
            },
            ("CONN", Form::Read) => {
                let state = self.esp_conn_state();
                let s = st(&self.fam);
                match (&s.user, &s.target) {
                    (Some((scheme, ..)), Some((host, port, rc))) if state >= 3 => r.line(&format!(
                        "+MQTTCONN:0,{state},{scheme},\"{host}\",\"{port}\",\"\",{rc}"
                    )),
                    (Some((scheme, ..)), _) => {
                        r.line(&format!("+MQTTCONN:0,{state},{scheme},\"\",\"\",\"\",0"))
                    }
                    _ => r.line(&format!("+MQTTCONN:0,{state},0,\"\",\"\",\"\",0")),
                }
                r.ok()
            }
            ("CONN", Form::Write(_)) => self.esp_conn(sh, &args, r),
            ("PUB", Form::Write(_)) => self.esp_pub_text(&args, r),
            ("PUBRAW", Form::Write(_)) => return self.esp_pubraw(&args, r),
            ("SUB", Form::Read) => {
                let subs = st(&self.fam).subs.clone();
                let state = self.esp_conn_state();
                if subs.is_empty() {
                    r.line(&format!("+MQTTSUB:0,{state},\"\",0"));
                }
                for (t, q) in subs {
                    r.line(&format!("+MQTTSUB:0,{state},\"{t}\",{q}"));
                }
                r.ok()
            }
            ("SUB", Form::Write(_)) => self.esp_sub(&args, r),
            ("UNSUB", Form::Write(_)) => self.esp_unsub(&args, r),
            ("CLEAN", Form::Write(_)) => {
                let s = st(&self.fam);
                if s.user.is_none() && s.target.is_none() && self.links[0].is_none() {
                    // Nothing configured: "uninitiated or already clean".
                    fail(self, r, mqtt_err(0x6003));
                    return Next::Line;
                }
                if let Some(l) = self.links[0].take() {
                    // Its generation is no longer current: the link reports nothing.
                    l.retire();
                }
                *st_mut(&mut self.fam) = State {
                    syslog: st(&self.fam).syslog,
                    autoconn: st(&self.fam).autoconn,
                    wifi: st(&self.fam).wifi,
                    ..State::new()
                };
                r.ok()
            }
            _ => fail(self, r, ERR_NOT_SUPPORTED),
        }
        Next::Line
    }

    fn esp_usercfg(&mut self, args: &[Arg], r: &mut Resp) {
        // All eight parameters (every example gives them); cert_key_ID and CA_ID only 0.
        let parsed = (
            int(args, 1, 1, 10),
            text(args, 2, 256),
            text(args, 3, 64),
            text(args, 4, 64),
            int(args, 5, 0, 0),
            int(args, 6, 0, 0),
            text(args, 7, 32),
        );
        let (Some(scheme), Some(id), Some(user), Some(pass), Some(_), Some(_), Some(path)) = parsed
        else {
            return fail(self, r, ERR_PARSE);
        };
        if args.len() != 8 {
            return fail(self, r, ERR_PARSE);
        }
        if self.esp_connected() {
            return fail(self, r, mqtt_err(0x6004));
        }
        // WebSocket (6-10) is not imitated.
        if scheme > 5 {
            return fail(self, r, ERR_NOT_SUPPORTED);
        }
        st_mut(&mut self.fam).user = Some((scheme as u8, id, user, pass, path));
        r.ok()
    }

    fn esp_conncfg_cmd(&mut self, args: &[Arg], r: &mut Resp) {
        let parsed = (
            int(args, 1, 0, 7200),
            int(args, 2, 0, 1),
            text(args, 3, 128),
            text(args, 4, 128),
            int(args, 5, 0, 2),
            int(args, 6, 0, 1),
        );
        let (Some(ka), Some(dis), Some(wt), Some(wm), Some(wq), Some(wr)) = parsed else {
            return fail(self, r, ERR_PARSE);
        };
        if args.len() != 7 {
            return fail(self, r, ERR_PARSE);
        }
        if st(&self.fam).user.is_none() {
            return fail(self, r, mqtt_err(0x6001));
        }
        // "default 0, which will be force-changed to 120 s". An empty will topic sets no
        // will (a guess: the manual does not say).
        let ka = if ka == 0 { 120 } else { ka as u16 };
        let will = (!wt.is_empty()).then_some((wt, wm, wq as u8, wr == 1));
        st_mut(&mut self.fam).conncfg = Some((ka, dis == 1, will));
        r.ok()
    }

    fn esp_conn(&mut self, sh: &Arc<Shared>, args: &[Arg], r: &mut Resp) {
        let (Some(host), Some(port), Some(rc)) = (
            text(args, 1, 128),
            int(args, 2, 1, 65535),
            int(args, 3, 0, 1),
        ) else {
            return fail(self, r, ERR_PARSE);
        };
        // `<timeout_ms>` 3000-60000 (v5.0 manuals) is taken and not used.
        if args.len() > 5 || (args.len() == 5 && int(args, 4, 3000, 60000).is_none()) {
            return fail(self, r, ERR_PARSE);
        }
        let Some((scheme, id, user, pass, _)) = st(&self.fam).user.clone() else {
            return fail(self, r, mqtt_err(0x6001));
        };
        if self.links[0].is_some() {
            return fail(self, r, mqtt_err(0x6004));
        }
        if st(&self.fam).dropped {
            // "you cannot use this command to reestablish MQTT connection. Please send
            // AT+MQTTCLEAN=0 ... and then establish a new MQTT connection" (reconnect 0).
            return fail(self, r, mqtt_err(0x6051));
        }
        let port = port as u16;
        let route = sh.route(&host, port);
        let (thost, tport) = match &route {
            Route::Connect(h, p) => (h.clone(), *p),
            _ => (sh.broker_host.clone(), sh.broker_port),
        };
        let no_wifi = !st(&self.fam).wifi;
        let mut forced = match route {
            Route::Connect(..) if !no_wifi => None,
            _ => Some(1),
        };
        let (ka, dis, will) = st(&self.fam).conncfg.clone().unwrap_or((120, false, None));
        let mut tls_cfg = None;
        if scheme > 1 && forced.is_none() {
            // Scheme 2 no check, 3 verify the server, 4 client certificate, 5 both: the
            // SSL layer's authmodes 0, 1, 3, 2; the certificates of the mqtt_* namespaces.
            let authmode = match scheme {
                3 => 1,
                4 => 3,
                5 => 2,
                _ => 0,
            };
            let files = TlsFiles {
                sslversion: 4,
                authmode,
                cacert: "mqtt_ca",
                clientcert: "mqtt_cert",
                clientkey: "mqtt_key",
                negotiatetime: 10,
            };
            let name = st(&self.fam).sni.clone().unwrap_or_else(|| host.clone());
            match ssl::tls_setup(&self.certs, &files, |n| n.to_owned(), &name, true) {
                Ok(cfg) => tls_cfg = Some(cfg),
                Err(code) => forced = Some(code),
            }
        }
        let mut opts = MqttOptions::new(id, thost, tport);
        opts.set_keep_alive(Duration::from_secs(u64::from(ka)));
        opts.set_clean_session(!dis);
        opts.set_manual_acks(true);
        opts.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
        if !user.is_empty() {
            opts.set_credentials(user.clone(), pass);
        }
        if let Some((t, m, q, retain)) = will {
            opts.set_last_will(LastWill::new(t, m.into_bytes(), qos(q), retain));
        }
        let start = link::Start {
            opts,
            tls: tls_cfg,
            had_login: !user.is_empty(),
            forced_error: forced,
            info: String::new(),
        };
        let Some(l) = link::spawn(sh, self, 0, "vmodem-esp-link".to_string(), start) else {
            return fail(self, r, mqtt_err(0x600B));
        };
        self.links[0] = Some(l);
        let s = st_mut(&mut self.fam);
        s.target = Some((host, port, rc as u8));
        s.waiting.push(Waiting::Conn);
        // The answer comes when the broker answered (`esp_event`).
    }

    /// `AT+MQTTPUB=0,"<topic>","<data>",<qos>,<retain>`: text data on the line.
    fn esp_pub_text(&mut self, args: &[Arg], r: &mut Resp) {
        let (Some(topic), Some(data), Some(q), Some(retain)) = (
            text(args, 1, 128),
            text(args, 2, LINE_MAX),
            int(args, 3, 0, 2),
            int(args, 4, 0, 1),
        ) else {
            // An unescaped comma in the data (field log esp32c3_espat647_unescaped_comma):
            // a parse error, then the data read failure.
            if st(&self.fam).syslog {
                r.line(&format!("ERR CODE:0x{ERR_PARSE:08x}"));
            }
            return fail(self, r, mqtt_err(0x6044));
        };
        if args.len() > 6 {
            return fail(self, r, ERR_PARSE);
        }
        // Its `OK` is the whole answer (CMD: `AT+MQTTPUB` prints no `+MQTTPUB:` line).
        match self.esp_publish(topic, data.into_bytes(), q as u8, retain == 1, true) {
            Ok(q0) => {
                // Blocking: OK once sent (QoS 0) or acknowledged (a guess for QoS 1/2,
                // answered as soon as the link took it).
                let _ = q0;
                r.ok()
            }
            Err(code) => fail(self, r, code),
        }
    }

    /// Queues a publish on the link; `answered`: its command's answer is complete (no
    /// `+MQTTPUB:` result follows). `Err`: the `ERR CODE`.
    fn esp_publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        q: u8,
        retain: bool,
        answered: bool,
    ) -> Result<bool, u32> {
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(mqtt_err(0x600C));
        }
        let Some(l) = self.links[0].as_ref().filter(|l| l.connected) else {
            return Err(mqtt_err(0x6051));
        };
        let publish = OutPublish {
            answered,
            ..OutPublish::new(topic, q, retain, payload)
        };
        if !l.queue_publish(publish, OP_TIMEOUT, None) {
            return Err(mqtt_err(0x600C));
        }
        Ok(q == 0)
    }

    fn esp_pubraw(&mut self, args: &[Arg], r: &mut Resp) -> Next {
        let (Some(topic), Some(len), Some(q), Some(retain)) = (
            text(args, 1, 128),
            int(args, 2, 1, 1 << 20),
            int(args, 3, 0, 2),
            int(args, 4, 0, 1),
        ) else {
            fail(self, r, ERR_PARSE);
            return Next::Line;
        };
        if args.len() > 6 {
            fail(self, r, ERR_PARSE);
            return Next::Line;
        }
        if !self.esp_connected() {
            fail(self, r, mqtt_err(0x6051));
            return Next::Line;
        }
        // "OK" then ">" (MQTT AT Examples, PUBRAW: a blank line between them).
        r.ok();
        r.prompt();
        let kind = DataKind::PubRaw(topic, q as u8, retain == 1);
        Next::Data(parser::DataKind::family(kind), len as usize)
    }

    fn esp_sub(&mut self, args: &[Arg], r: &mut Resp) {
        let (Some(topic), Some(q)) = (text(args, 1, 128), int(args, 2, 0, 2)) else {
            return fail(self, r, ERR_PARSE);
        };
        if args.len() > 4 || topic.is_empty() {
            return fail(self, r, ERR_PARSE);
        }
        if !self.esp_connected() {
            return fail(self, r, mqtt_err(0x6051));
        }
        let s = st(&self.fam);
        if s.subs.iter().any(|(t, _)| *t == topic) {
            // "If the topic has been subscribed, it will prompt: ALREADY SUBSCRIBE" (then
            // OK: a guess, the manual does not say).
            r.line("ALREADY SUBSCRIBE");
            return r.ok();
        }
        if s.subs.len() + s.waiting.len() >= 10 {
            // "up to 10 topics".
            r.line("ALREADY FULL SUBSCRIBE");
            return fail(self, r, mqtt_err(0x600D));
        }
        let Some(l) = self.links[0].as_mut() else {
            return fail(self, r, mqtt_err(0x6051));
        };
        let filter = SubscribeFilter::new(topic.clone(), qos(q as u8));
        if !l.queue_subscribe([filter], OP_TIMEOUT, None) {
            return fail(self, r, mqtt_err(0x600D));
        }
        st_mut(&mut self.fam)
            .waiting
            .push(Waiting::Sub(topic, q as u8));
    }

    fn esp_unsub(&mut self, args: &[Arg], r: &mut Resp) {
        let Some(topic) = text(args, 1, 128) else {
            return fail(self, r, ERR_PARSE);
        };
        if args.len() > 3 {
            return fail(self, r, ERR_PARSE);
        }
        if !st(&self.fam).subs.iter().any(|(t, _)| *t == topic) {
            // "NO UNSUBSCRIBE" then OK (MQTT AT Commands, AT+MQTTUNSUB), connected or not
            // (a guess for the latter).
            r.line("NO UNSUBSCRIBE");
            return r.ok();
        }
        if !self.esp_connected() {
            return fail(self, r, mqtt_err(0x6051));
        }
        let Some(l) = self.links[0].as_mut() else {
            return fail(self, r, mqtt_err(0x6051));
        };
        if !l.queue_unsubscribe(topic.clone(), (0, 1), OP_TIMEOUT, None) {
            return fail(self, r, mqtt_err(0x600E));
        }
        st_mut(&mut self.fam).subs.retain(|(t, _)| *t != topic);
        st_mut(&mut self.fam).waiting.push(Waiting::Unsub(topic));
    }

    /// `AT+SYSMFG=2,"<namespace>","<key>",8,<len>` then `len` bytes after `>` (the MQTT
    /// certificate namespaces; Basic AT Commands, AT+SYSMFG; MQTT AT Examples for Cloud).
    /// `AT+SYSMFG=1,"<ns>","<key>"` reads one back.
    pub(super) fn esp_sysmfg(&mut self, a: &str, r: &mut Resp) -> Next {
        let Some(args) = esp_args(a) else {
            fail(self, r, ERR_PARSE);
            return Next::Line;
        };
        let ns = text(&args, 1, 15);
        let key = text(&args, 2, 15);
        let known = |n: &str| matches!(n, "mqtt_ca" | "mqtt_cert" | "mqtt_key");
        match (int(&args, 0, 0, 2), ns, key) {
            (Some(2), Some(ns), Some(key)) if known(&ns) && key == ns => {
                let (Some(8), Some(len)) = (int(&args, 3, 1, 8), int(&args, 4, 1, 8192)) else {
                    fail(self, r, ERR_PARSE);
                    return Next::Line;
                };
                r.ok();
                r.prompt();
                Next::Data(parser::DataKind::family(DataKind::Mfg(ns)), len as usize)
            }
            (Some(1), Some(ns), Some(_)) => {
                match self.certs.get(&ns) {
                    Some(v) => {
                        r.raw(format!("\r\n+SYSMFG:\"{ns}\",\"{ns}\",8,{},", v.len()).as_bytes());
                        let v = v.clone();
                        r.raw(&v);
                        r.raw(b"\r\n");
                        r.ok()
                    }
                    None => fail(self, r, ERR_PARSE),
                }
                Next::Line
            }
            _ => {
                fail(self, r, ERR_PARSE);
                Next::Line
            }
        }
    }

    pub(super) fn esp_data_done(&mut self, kind: DataKind, data: Vec<u8>, r: &mut Resp) {
        match kind {
            DataKind::Long(which) => {
                let Ok(v) = String::from_utf8(data) else {
                    return fail(self, r, ERR_PARSE);
                };
                if let Some(u) = st_mut(&mut self.fam).user.as_mut() {
                    match which {
                        0 => u.1 = v,
                        1 => u.2 = v,
                        _ => u.3 = v,
                    }
                }
                r.ok()
            }
            DataKind::Mfg(ns) => {
                // Stored without validation (Basic AT Commands, AT+SYSMFG note).
                self.certs.insert(ns, data);
                r.ok()
            }
            DataKind::PubRaw(topic, q, retain) => {
                // `+MQTTPUB:OK` once sent (QoS 0) or acknowledged; `+MQTTPUB:FAIL` else.
                match self.esp_publish(topic, data, q, retain, false) {
                    Ok(true) => r.net_after("+MQTTPUB:OK".to_string()),
                    Ok(false) => {}
                    Err(_) => r.line("+MQTTPUB:FAIL"),
                }
            }
        }
    }

    /// A link event in ESP-AT words (under the state lock, from `link::report`).
    pub(super) fn esp_event(&mut self, ev: LinkEvent<'_>, out: &mut Vec<u8>) {
        let mut line = |l: &str| out.extend_from_slice(format!("\r\n{l}\r\n").as_bytes());
        let take = |m: &mut Modem, w: &dyn Fn(&Waiting) -> bool| {
            let s = st_mut(&mut m.fam);
            s.waiting.iter().position(w).map(|i| s.waiting.remove(i))
        };
        match ev {
            LinkEvent::Connected => {
                take(self, &|w| *w == Waiting::Conn);
                st_mut(&mut self.fam).dropped = false;
                let s = st(&self.fam);
                let scheme = s.user.as_ref().map_or(1, |u| u.0);
                let (host, port, rc) = s.target.clone().unwrap_or_default();
                // Before OK, the port quoted (MQTT AT Examples; Espressif's AWS log).
                line(&format!(
                    "+MQTTCONNECTED:0,{scheme},\"{host}\",\"{port}\",\"\",{rc}"
                ));
                line("OK");
            }
            LinkEvent::ConnectFailed(_) => {
                take(self, &|w| *w == Waiting::Conn);
                self.esp_dropped();
                // Field log esp32_espat427_connect_refused (AT+SYSLOG=1 on):
                // `+MQTTDISCONNECTED:0` then a bare `ERROR`; AT+MQTTCONN? then reports state
                // 2 with no host, as if configured afresh.
                let s = st_mut(&mut self.fam);
                s.target = None;
                s.dropped = false;
                s.conncfg.get_or_insert((120, false, None));
                line("+MQTTDISCONNECTED:0");
                line("ERROR");
            }
            LinkEvent::Published { .. } => line("+MQTTPUB:OK"),
            LinkEvent::PublishTimedOut { .. } => line("+MQTTPUB:FAIL"),
            LinkEvent::Subscribed {
                failed, granted, ..
            } => {
                let w = take(self, &|w| matches!(w, Waiting::Sub(..)));
                if failed {
                    fail_bytes(self, mqtt_err(0x600D), out);
                } else {
                    if let Some(Waiting::Sub(t, q)) = w {
                        let q = granted.first().copied().unwrap_or(q);
                        st_mut(&mut self.fam).subs.push((t, q));
                    }
                    line("OK");
                }
            }
            LinkEvent::SubscribeTimedOut { .. } => {
                take(self, &|w| matches!(w, Waiting::Sub(..)));
                fail_bytes(self, mqtt_err(0x600D), out);
            }
            LinkEvent::Unsubscribed { .. } => {
                take(self, &|w| matches!(w, Waiting::Unsub(..)));
                line("OK");
            }
            LinkEvent::UnsubscribeTimedOut { .. } => {
                take(self, &|w| matches!(w, Waiting::Unsub(..)));
                fail_bytes(self, mqtt_err(0x600E), out);
            }
            LinkEvent::Disconnected => {}
            LinkEvent::Lost(_) => {
                let pending = std::mem::take(&mut st_mut(&mut self.fam).waiting);
                self.esp_dropped();
                line("+MQTTDISCONNECTED:0");
                // A command still waiting for the broker fails (field log
                // esp32_espat478_sub_disconnected: `+MQTTDISCONNECTED:0` then `ERROR`).
                if !pending.is_empty() {
                    fail_bytes(self, mqtt_err(0x6051), out);
                }
            }
            LinkEvent::Message(p) => subrecv(p, out),
        }
    }
}

/// `+MQTTSUBRECV:0,"<topic>",<len>,<data>` CR LF; a packet longer than the receive buffer
/// comes in parts, each with the topic and its own length (how the firmware cuts is not
/// documented: here every part but the last fills the buffer with the packet's header
/// counted once per part, a guess; field log I686 shows a two-part message).
fn subrecv(p: &Publish, out: &mut Vec<u8>) {
    let topic = p.topic.as_bytes();
    let id = if p.qos == rumqttc::QoS::AtMostOnce {
        0
    } else {
        2
    };
    let body = 2 + topic.len() + id + p.payload.len();
    let fixed = 1 + if body < 128 {
        1
    } else if body < 16384 {
        2
    } else {
        3
    };
    let header = fixed + 2 + topic.len() + id;
    let part = RX_BUFFER.saturating_sub(header).max(1);
    let payload = &p.payload[..];
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(part).collect()
    };
    for piece in pieces {
        out.extend_from_slice(b"\r\n+MQTTSUBRECV:0,\"");
        out.extend_from_slice(topic);
        out.extend_from_slice(format!("\",{},", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
}
