//! Espressif ESP-AT `AT+MQTT*`: ESP32-family Wi-Fi chips running Espressif's AT firmware
//! as a network co-processor (one MQTT link, ID 0).
//!
//! Sources: ESP-AT "MQTT AT Commands", "MQTT AT Examples", "MQTT AT Examples for Cloud"
//! (with its real ESP32 log), "Basic AT Commands" and the field logs listed in
//! tests/data/espat/README.md. Parameters are quoted strings on the command line with
//! ESP-AT's escapes (`\\`, `\"`, `\,`) and the whole line under 256 bytes; publishes go
//! through `AT+MQTTPUBRAW` (binary-safe); received messages come as
//! `+MQTTSUBRECV:0,"<topic>",<len>,<raw data>`. `AT+MQTTCONN`, `AT+MQTTSUB` and
//! `AT+MQTTUNSUB` block until the broker answered; `AT+MQTTPUBRAW` answers `OK`, `>`, and
//! after the data `+MQTTPUB:OK` or `+MQTTPUB:FAIL`.

mod context;
mod limits;
mod spec;
mod urc;

pub use context::*;
pub use limits::*;
pub use spec::SPEC;
pub use urc::*;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::at::session::{Command, Expect};
use crate::at::{CommandLine, Frame, RawRule};
use crate::dialect::common::lock;
use crate::dialect::ClientContext;
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};
use crate::mqtt::{
    self, Backend, BackendIdentity, Capabilities, ClientShared, ConnectOptions, Message, Tls,
};

/// Commands the module answers at once.
const CMD: Duration = Duration::from_secs(10);
/// `AT+MQTTSUB` / `AT+MQTTUNSUB` block until the broker answers or the module's own
/// timeout (15 s by default) passes.
const OP_WAIT: Duration = Duration::from_secs(30);

/// The one ESP-AT client (link 0).
pub struct EspClient {
    ctx: Arc<Context>,
    client_id: String,
    shared: Arc<ClientShared>,
    publish_timeout: u32,
    /// The topic filters subscribed on the module since the last connect (at most 10).
    subscribed: Mutex<Vec<String>>,
    closed: AtomicBool,
}

impl EspClient {
    fn engine(&self) -> &Engine {
        &self.ctx.engine
    }

    /// Runs `cmd`; a refusal becomes an error naming the `ERR CODE` when the module
    /// printed one.
    fn run(&self, operation: &str, cmd: Command) -> Result<Response> {
        let text = cmd.line.text().to_string();
        let r = self.engine().execute_raw(cmd)?;
        if r.final_result.is_ok() {
            return Ok(r);
        }
        let code = r.lines.iter().find_map(|f| match f {
            Frame::Line(l) => err_code(l),
            _ => None,
        });
        match code {
            Some(c) => Err(Error::Mqtt {
                operation: operation.into(),
                code: c as i32,
                name: error_name(c),
            }),
            None => Err(Error::from_final(&text, &r.final_result)),
        }
    }

    fn simple(&self, operation: &str, line: CommandLine, timeout: Duration) -> Result<Response> {
        self.run(operation, Command::new(line, timeout))
    }

    /// `AT+MQTTCLEAN=0`: closes the link and forgets its configuration. Refused when there
    /// is nothing to clean (0x6003), which is no error here.
    fn clean(&self, timeout: Duration) -> Result<()> {
        let line = limits::line("AT+MQTTCLEAN=0".into(), None, "disconnect")?;
        match self.simple("disconnect", line, timeout) {
            Ok(_) => Ok(()),
            Err(Error::Mqtt { code, .. }) if code & 0xffff == 0x6003 => Ok(()),
            Err(Error::Command { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `AT+<cmd>=0,<len>`, `OK`, `>`, then `data`, then `OK` (`AT+MQTTLONGCLIENTID`,
    /// `LONGUSERNAME`, `LONGPASSWORD`: values with any byte, up to 1024 bytes).
    fn long_value(&self, cmd: &str, data: &[u8], secret: bool) -> Result<()> {
        let line = limits::line(format!("AT+{cmd}=0,{}", data.len()), None, "connect")?;
        let mut c = Command::new(line, CMD).with_data(data.to_vec());
        c.data_secret = secret;
        c.ok_before_prompt = true;
        self.run("connect", c).map(|_| ())
    }

    /// `AT+SYSMFG=2,"<ns>","<ns>",8,<len>` then the PEM after `>`: the certificate
    /// namespaces of the manufacturing NVS partition ("MQTT AT Examples for Cloud", update
    /// the certificates at run time). Skipped when this session already wrote the same.
    fn upload(&self, ns: &'static str, pem: &[u8], secret: bool) -> Result<()> {
        let mut certs = lock(&self.ctx.certs);
        if certs.iter().any(|(n, c)| *n == ns && c == pem) {
            return Ok(());
        }
        let line = limits::line(
            format!("AT+SYSMFG=2,\"{ns}\",\"{ns}\",8,{}", pem.len()),
            None,
            "tls",
        )?;
        let mut c = Command::new(line, Duration::from_secs(30)).with_data(pem.to_vec());
        c.data_secret = secret;
        c.ok_before_prompt = true;
        self.run("certificate upload", c)?;
        certs.retain(|(n, _)| *n != ns);
        certs.push((ns, pem.to_vec()));
        Ok(())
    }

    /// The `<scheme>` of `AT+MQTTUSERCFG`: 1 TCP; TLS 2 no certificate check, 3 verify the
    /// server, 4 present a client certificate, 5 both.
    fn scheme(tls: Option<&Tls>) -> u8 {
        match tls {
            None => 1,
            Some(t) => match (t.verify_server, t.client_cert.is_some()) {
                (false, false) => 2,
                (true, false) => 3,
                (false, true) => 4,
                (true, true) => 5,
            },
        }
    }

    /// The `AT+MQTTUSERCFG` line, with the values that do not fit in it (over the
    /// parameter's maximum, or making the line too long) left empty and returned for the
    /// `AT+MQTTLONG*` commands: the password first, then the user name, then the id.
    fn usercfg(&self, scheme: u8, opts: &ConnectOptions) -> Result<(CommandLine, Vec<usize>)> {
        let id = self.client_id.as_str();
        let user = opts.username.as_deref().unwrap_or("");
        let pass = opts.password.as_deref().unwrap_or("");
        let values = [id, user, pass];
        let maxes = [USERCFG_ID_MAX, USERCFG_CRED_MAX, USERCFG_CRED_MAX];
        let mut long: Vec<usize> = (0..3).filter(|&i| values[i].len() > maxes[i]).collect();
        for i in [2, 1, 0] {
            let shown = |i: usize, masked: bool| -> String {
                if long.contains(&i) {
                    "\"\"".to_string()
                } else if masked && i == 2 && !pass.is_empty() {
                    "\"***\"".to_string()
                } else {
                    quoted(values[i])
                }
            };
            let text = |masked: bool| {
                format!(
                    "AT+MQTTUSERCFG=0,{scheme},{},{},{},0,0,\"\"",
                    shown(0, masked),
                    shown(1, masked),
                    shown(2, masked)
                )
            };
            let t = text(false);
            if t.len() < LINE_MAX {
                return Ok((limits::line(t, Some(text(true)), "connect")?, long));
            }
            if !values[i].is_empty() && !long.contains(&i) {
                long.push(i);
            }
        }
        let t = format!("AT+MQTTUSERCFG=0,{scheme},\"\",\"\",\"\",0,0,\"\"");
        Ok((limits::line(t, None, "connect")?, long))
    }

    /// `AT+MQTTCONNCFG=0,<keepalive>,<disable_clean_session>,"<will topic>","<will
    /// message>",<will qos>,<will retain>` (the clean flag is inverted: 0 = clean).
    fn conncfg(&self, opts: &ConnectOptions) -> Result<CommandLine> {
        let (topic, msg, q, retain) = match &opts.will {
            Some(w) => {
                let text = std::str::from_utf8(&w.payload).map_err(|_| {
                    Error::invalid(format!(
                        "will payload: must be UTF-8 text on {PROFILE} (a quoted parameter of AT+MQTTCONNCFG)"
                    ))
                })?;
                check_text("will payload", text)?;
                check_text("will topic", &w.topic)?;
                (w.topic.as_str(), text, w.qos, w.retain)
            }
            None => ("", "", 0, false),
        };
        limits::line(
            format!(
                "AT+MQTTCONNCFG=0,{},{},{},{},{q},{}",
                opts.keepalive,
                u8::from(!opts.clean_session),
                quoted(topic),
                quoted(msg),
                u8::from(retain)
            ),
            None,
            "will",
        )
    }
}

impl Backend for EspClient {
    fn identity(&self) -> BackendIdentity<'_> {
        BackendIdentity::new(&self.ctx.caps, 0, &self.client_id)
    }

    fn connect(&self, opts: &ConnectOptions) -> Result<()> {
        // Every line is built (and refused) before the first byte is written.
        check_text("client_id", &self.client_id)?;
        mqtt::check_len("host", opts.host.len(), self.ctx.caps.server_addr_len)?;
        let tls = opts.tls.as_ref();
        let scheme = Self::scheme(tls);
        let (usercfg, long) = self.usercfg(scheme, opts)?;
        let conncfg = self.conncfg(opts)?;
        let conn = limits::line(
            format!("AT+MQTTCONN=0,{},{},0", quoted(&opts.host), opts.port),
            None,
            "host",
        )?;
        if let Some(p) = &opts.password {
            self.engine().add_secret(p.as_bytes());
            let escaped = quoted(p);
            self.engine()
                .add_secret(escaped.trim_matches('"').as_bytes());
        }
        // With reconnect 0, a dropped link needs AT+MQTTCLEAN and a new configuration
        // (AT+MQTTCONN, `<reconnect>`); a previous run may have left one too.
        self.clean(CMD)?;
        lock(&self.subscribed).clear();
        if let Some(t) = tls {
            for (ns, pem, secret) in [
                ("mqtt_ca", &t.ca_cert, false),
                ("mqtt_cert", &t.client_cert, false),
                ("mqtt_key", &t.client_key, true),
            ] {
                if let Some(pem) = pem {
                    self.upload(ns, pem, secret)?;
                }
            }
        }
        self.simple("connect", usercfg, CMD)?;
        let values: [(&str, &[u8], bool); 3] = [
            ("MQTTLONGCLIENTID", self.client_id.as_bytes(), false),
            (
                "MQTTLONGUSERNAME",
                opts.username.as_deref().unwrap_or("").as_bytes(),
                false,
            ),
            (
                "MQTTLONGPASSWORD",
                opts.password.as_deref().unwrap_or("").as_bytes(),
                true,
            ),
        ];
        for i in long {
            let (cmd, data, secret) = values[i];
            self.long_value(cmd, data, secret)?;
        }
        self.simple("connect", conncfg, CMD)?;
        let c = Command::new(conn, opts.timeout).with_expect(Expect::prefix(b"+MQTTCONNECTED:"));
        let before = self.ctx.router.disconnects.load(Ordering::SeqCst);
        let r = match self.run("connect", c) {
            // `+MQTTDISCONNECTED:0` then a bare `ERROR`: the module tried and the broker
            // was not reached or refused (the firmware gives no reason).
            Err(Error::Command { .. })
                if self.ctx.router.disconnects.load(Ordering::SeqCst) != before =>
            {
                return Err(Error::Mqtt {
                    operation: "connect".into(),
                    code: 0x600B,
                    name: "the broker was not reached or refused the connection (the module gives no reason)".into(),
                });
            }
            other => other?,
        };
        if r.urc.is_none() {
            return Err(Error::Protocol(
                "AT+MQTTCONN: OK without +MQTTCONNECTED".into(),
            ));
        }
        Ok(())
    }

    fn send_publish(&self, msg: mqtt::Publish<'_>) -> Result<()> {
        let (topic, payload, qos, retain, timeout) = msg.parts();
        check_text("topic", topic)?;
        let line = limits::line(
            format!(
                "AT+MQTTPUBRAW=0,{},{},{qos},{}",
                quoted(topic),
                payload.len(),
                u8::from(retain)
            ),
            None,
            "topic",
        )?;
        let wait = timeout.unwrap_or(Duration::from_secs(u64::from(self.publish_timeout) + 5));
        let c = Command::new(line, wait)
            .with_data(payload.to_vec())
            .with_expect(Expect::prefix(b"+MQTTPUB:"));
        let r = self.run("publish", c)?;
        match r.urc.as_deref() {
            Some(b"+MQTTPUB:OK") => Ok(()),
            Some(other) => Err(Error::Mqtt {
                operation: "publish".into(),
                code: 0x600C,
                name: format!("the module reports {:?}", String::from_utf8_lossy(other)),
            }),
            None => Err(Error::Protocol("AT+MQTTPUBRAW: no +MQTTPUB result".into())),
        }
    }

    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        let mut lines = Vec::with_capacity(topics.len());
        {
            let subs = lock(&self.subscribed);
            let new = topics.iter().filter(|(t, _)| !subs.contains(t)).count();
            if subs.len() + new > MAX_SUBSCRIPTIONS {
                return Err(Error::invalid(format!(
                    "topic: {PROFILE} keeps at most {MAX_SUBSCRIPTIONS} subscriptions ({} held, {new} more asked)",
                    subs.len()
                )));
            }
        }
        for (t, q) in topics {
            check_text("topic", t)?;
            let text = format!("AT+MQTTSUB=0,{},{q}", quoted(t));
            lines.push((t, limits::line(text, None, "topic")?));
        }
        let wait = timeout.unwrap_or(OP_WAIT);
        for (t, line) in lines {
            // `ALREADY SUBSCRIBE` before `OK` is success too.
            self.simple("subscribe", line, wait)?;
            let mut subs = lock(&self.subscribed);
            if !subs.contains(t) {
                subs.push(t.clone());
            }
        }
        Ok(())
    }

    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        let mut lines = Vec::with_capacity(topics.len());
        for t in topics {
            check_text("topic", t)?;
            let text = format!("AT+MQTTUNSUB=0,{}", quoted(t));
            lines.push((t, limits::line(text, None, "topic")?));
        }
        let wait = timeout.unwrap_or(OP_WAIT);
        for (t, line) in lines {
            // `NO UNSUBSCRIBE` before `OK`: it was not subscribed; fine.
            self.simple("unsubscribe", line, wait)?;
            lock(&self.subscribed).retain(|s| s != t);
        }
        Ok(())
    }

    fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.clean(timeout.unwrap_or(CMD))
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let res = if self.engine().failure().is_none() && self.shared.is_connected() {
            self.clean(CMD)
        } else {
            Ok(())
        };
        let mut slot = lock(&self.ctx.router.client);
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &self.shared)) {
            *slot = None;
        }
        res
    }
}

#[cfg(test)]
#[path = "espat_tests.rs"]
mod tests;
