//! SIMCom `AT+CMQTT*`: A7600 / SIM7600 / SIM7500 (two clients) and SIM7028 (one client).
//!
//! Manuals: A7600 Series MQTT AT Command Manual V1.00 (seeds/003) and the SIM7028 MQTT
//! manual (seeds/001). Topics and payloads go after a `>` prompt with their length, so they
//! are binary-safe; results come as URCs (`+CMQTTCONNECT: 0,0`) after `OK`, or as
//! `+CMQTTxxx: idx,err` followed by `ERROR` when the command is refused at once.

mod context;
mod limits;
mod spec;
mod urc;

pub use context::*;
pub use limits::*;
pub use spec::SPEC;
pub use urc::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::at::session::{Command, Expect};
use crate::at::{build, Arg, Frame, RawRule};
use crate::dialect::common::{detached_router, lists_client_in, lock, UrcListener};
use crate::dialect::{ClientContext, UrcRouter};
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};
use crate::mqtt::{
    self, Backend, BackendIdentity, Capabilities, ClientShared, ConnectOptions, Message, Tls,
};

/// One CMQTT client index.
pub struct CmqttClient {
    ctx: Arc<Context>,
    index: u8,
    client_id: String,
    shared: Arc<ClientShared>,
    check_utf8: Option<bool>,
    op_timeout: Option<u32>,
    publish_timeout: u32,
    /// `Some((ssl, service generation))` while acquired with that server type.
    acquired_ssl: Mutex<Option<(bool, (u64, u64))>>,
    /// Whether a will was given to the modem since the client was acquired: the manuals
    /// clear it only with `AT+CMQTTREL`, so a later connect without a will re-acquires.
    will_set: AtomicBool,
    closed: AtomicBool,
}

const CMD: Duration = Duration::from_secs(9);
const PROMPT_CMD: Duration = Duration::from_secs(20);

impl CmqttClient {
    fn engine(&self) -> &Engine {
        &self.ctx.engine
    }

    fn idx(&self) -> i64 {
        self.index as i64
    }

    /// Builds a command line, refusing one the model would not execute (SIM7028: at most
    /// 559 characters after `AT`, seeds/001 §1.4.4).
    fn line(&self, cmd: &str, args: &[Arg]) -> Result<crate::at::CommandLine> {
        let line = build(cmd, args)?;
        if let Some(max) = line_max(&self.ctx.caps.profile) {
            // Without the CR and the "AT" prefix.
            let n = line.bytes.len().saturating_sub(3);
            if n > max {
                return Err(Error::invalid(format!(
                    "{cmd}: the command line would be {n} characters after \"AT\"; {} takes at most {max}",
                    self.ctx.caps.profile
                )));
            }
        }
        Ok(line)
    }

    /// The result prefix `+NAME: idx,`.
    fn result_prefix(&self, name: &str) -> Vec<u8> {
        format!("+{name}: {},", self.index).into_bytes()
    }

    /// Runs `cmd`, mapping `+NAME: idx,err` (in the lines or as result URC) and `ERROR`.
    fn run(&self, operation: &str, name: &str, cmd: Command) -> Result<Response> {
        let text = cmd.line.text().to_string();
        let r = self.engine().execute_raw(cmd)?;
        let prefix = self.result_prefix(name);
        let err_in = |line: &[u8]| -> Option<i32> {
            if line.starts_with(&prefix) {
                int_fields(line).get(1).map(|&c| c as i32)
            } else {
                None
            }
        };
        let from_lines = r.lines.iter().find_map(|f| match f {
            Frame::Line(l) => err_in(l),
            _ => None,
        });
        let code = r.urc.as_deref().and_then(err_in).or(from_lines);
        match code {
            Some(0) if r.final_result.is_ok() => Ok(r),
            Some(c) if c != 0 => Err(Error::Mqtt {
                operation: operation.into(),
                code: c,
                name: error_name(c),
            }),
            _ if !r.final_result.is_ok() => Err(Error::from_final(&text, &r.final_result)),
            _ => Ok(r),
        }
    }

    fn simple(
        &self,
        operation: &str,
        name: &str,
        cmd: &str,
        args: &[Arg],
        timeout: Duration,
    ) -> Result<Response> {
        let c =
            Command::new(self.line(cmd, args)?, timeout).with_response(self.result_prefix(name));
        self.run(operation, name, c)
    }

    /// `AT+CMQTTCFG="<setting>",<idx>,<value>`.
    fn cfg(&self, setting: &str, value: i64) -> Result<Response> {
        let args = [Arg::Str(setting), Arg::Int(self.idx()), Arg::Int(value)];
        self.simple("configure", "CMQTTCFG", "AT+CMQTTCFG", &args, CMD)
    }

    /// `AT+CMD=idx,len[,more]` then the data after the prompt.
    fn with_prompt(
        &self,
        operation: &str,
        name: &str,
        args: &[Arg],
        data: &[u8],
        expect: Option<Duration>,
    ) -> Result<Response> {
        let prefix = self.result_prefix(name);
        let mut c = Command::new(
            self.line(&format!("AT+{name}"), args)?,
            expect.unwrap_or(PROMPT_CMD),
        )
        .with_data(data.to_vec());
        c = match expect {
            Some(_) => c.with_expect(Expect::prefix(prefix)),
            None => c.with_response(prefix),
        };
        self.run(operation, name, c)
    }

    /// How long a SUB or UNSUB waits for its result by default: as long as the module
    /// itself may wait for the broker (`optimeout`, 120 s unless configured, seeds/003
    /// §2.1.17), and a little more.
    fn op_wait(&self) -> Duration {
        Duration::from_secs(u64::from(self.op_timeout.unwrap_or(120)) + 10)
    }

    fn clear_index(&self) -> Result<()> {
        // AT+CMQTTDISC? lists "+CMQTTDISC: <idx>,<state>" with 0 = connected.
        let c =
            Command::new(build("AT+CMQTTDISC?", &[])?, CMD).with_response(b"+CMQTTDISC:".to_vec());
        let r = self.engine().execute_raw(c)?;
        if lists_client_in(&r.lines, b"+CMQTTDISC:", self.idx(), 0) {
            log::info!(
                "cmqtt: client {} was left connected; disconnecting",
                self.index
            );
            if let Err(e) = self.disc(Duration::from_secs(130)) {
                log::debug!("cmqtt: clearing client {}: {e}", self.index);
            }
        }
        let c = Command::new(build("AT+CMQTTREL", &[Arg::Int(self.idx())])?, CMD)
            .with_response(self.result_prefix("CMQTTREL"));
        // Not acquired is the normal case here: the error is expected and ignored.
        let r = self.engine().execute_raw(c)?;
        if r.final_result.is_ok() {
            log::info!("cmqtt: client {} was left acquired; released", self.index);
        }
        Ok(())
    }

    /// Acquires the client as an SSL client or not; `fresh`: release it first if it is
    /// acquired (to clear a will, which only `AT+CMQTTREL` clears).
    fn acquire(&self, ssl: bool, fresh: bool) -> Result<()> {
        let mut acquired = lock(&self.acquired_ssl);
        let gen = self.ctx.service_gen();
        match *acquired {
            Some((s, g)) if g == gen && s == ssl && !fresh => return Ok(()),
            Some((_, g)) if g == gen => {
                self.simple(
                    "release",
                    "CMQTTREL",
                    "AT+CMQTTREL",
                    &[Arg::Int(self.idx())],
                    CMD,
                )?;
            }
            // Not acquired by us (yet, or since the modem restarted): clear whatever a
            // previous run left on this index, so a test suite always starts clean.
            _ => self.clear_index()?,
        }
        *acquired = None;
        self.simple(
            "acquire",
            "CMQTTACCQ",
            "AT+CMQTTACCQ",
            &[
                Arg::Int(self.idx()),
                Arg::Str(&self.client_id),
                Arg::Int(ssl as i64),
            ],
            CMD,
        )?;
        *acquired = Some((ssl, gen));
        self.will_set.store(false, Ordering::SeqCst);
        drop(acquired);
        // AT+CMQTTCFG settings are cleared by AT+CMQTTREL, so they follow every ACCQ.
        // checkUTF8 defaults to 1 (seeds/003 §2.1.17, seeds/001 §3.2.15): a module that
        // checks refuses non-UTF-8 topics, payloads and wills with error 2. Payloads are
        // bytes here, so the check is turned off unless asked for (seeds/003 §3.5 shows
        // the exchange); a module that does not know the setting keeps its default.
        let flag = self.check_utf8.unwrap_or(false);
        match self.cfg("checkUTF8", flag as i64) {
            Err(e) if self.check_utf8.is_some() => return Err(e),
            Err(e) => log::warn!(
                "cmqtt: client {}: AT+CMQTTCFG=\"checkUTF8\" refused ({e}); non-UTF-8 data may be refused",
                self.index
            ),
            Ok(_) => {}
        }
        // MQTT 3.1.1. A76xx firmware takes AT+CMQTTCFG="version" and defaults to 3.1
        // (TinyGSM's TinyGsmMqttA76xx.h: "Set MQTT3.1.1 , Default use MQTT 3.1"); the
        // manuals (seeds/003 §2.1.17, seeds/001 §3.2.15) do not list it, so a refusal is
        // expected there and ignored.
        let c = Command::new(
            build(
                "AT+CMQTTCFG",
                &[Arg::Str("version"), Arg::Int(self.idx()), Arg::Int(4)],
            )?,
            CMD,
        );
        if let Ok(r) = self.engine().execute_raw(c) {
            if !r.final_result.is_ok() {
                log::debug!(
                    "cmqtt: client {}: AT+CMQTTCFG=\"version\" refused",
                    self.index
                );
            }
        }
        if let Some(t) = self.op_timeout {
            self.cfg("optimeout", t as i64)?;
        }
        Ok(())
    }

    fn upload_cert(&self, name: &str, pem: &[u8], secret: bool) -> Result<()> {
        let mut c = Command::new(
            build(
                "AT+CCERTDOWN",
                &[Arg::Str(name), Arg::Int(pem.len() as i64)],
            )?,
            Duration::from_secs(30),
        )
        .with_data(pem.to_vec());
        c.data_secret = secret;
        self.engine().execute(c).map(|_| ())
    }

    fn configure_tls(&self, tls: &Tls) -> Result<()> {
        let ctx = tls.context.unwrap_or(self.index) as i64;
        let sslcfg = |key: &str, value: Arg| -> Result<()> {
            let c = Command::new(
                build("AT+CSSLCFG", &[Arg::Str(key), Arg::Int(ctx), value])?,
                CMD,
            );
            self.engine().execute(c).map(|_| ())
        };
        let names = [
            ("cacert", &tls.ca_cert, false),
            ("clientcert", &tls.client_cert, false),
            ("clientkey", &tls.client_key, true),
        ];
        // SSL manual authmodes: 0 none, 1 verify the server, 2 verify the server
        // and present a client certificate, 3 present a client certificate
        // without verifying the server.
        let authmode = match (tls.verify_server, tls.client_cert.is_some()) {
            (true, true) => 2,
            (false, true) => 3,
            (true, false) => 1,
            (false, false) => 0,
        };
        sslcfg("sslversion", Arg::Int(tls.ssl_version as i64))?;
        sslcfg("authmode", Arg::Int(authmode))?;
        // seeds/003 §1.1 step 3 spells it "ignorlocaltime"; SIMCom's SSL manuals and many
        // drivers spell it "ignorelocaltime": the manual's spelling first, the other one
        // when the module refuses it.
        let ignore = Arg::Int(tls.ignore_local_time as i64);
        if let Err(e) = sslcfg("ignorlocaltime", ignore) {
            log::debug!(
                "cmqtt: AT+CSSLCFG=\"ignorlocaltime\" refused ({e}); trying \"ignorelocaltime\""
            );
            sslcfg("ignorelocaltime", ignore)?;
        }
        sslcfg("negotiatetime", Arg::Int(tls.negotiate_time as i64))?;
        // Server Name Indication: brokers behind a shared front end need it. Not in the
        // MQTT manuals; A76xx drivers send it (TinyGSM's TinyGsmMqttA76xx.h, "Some MQTT
        // brokers need to enable sni"). A module without it refuses; that is not an error.
        if let Err(e) = sslcfg("enableSNI", Arg::Int(1)) {
            log::debug!("cmqtt: AT+CSSLCFG=\"enableSNI\" refused ({e})");
        }
        for (key, content, secret) in names {
            if let Some(pem) = content {
                let file = format!("mqtt{}_{key}.pem", self.index);
                self.upload_cert(&file, pem, secret)?;
                sslcfg(key, Arg::Str(&file))?;
            }
        }
        self.simple(
            "configure",
            "CMQTTSSLCFG",
            "AT+CMQTTSSLCFG",
            &[Arg::Int(self.idx()), Arg::Int(ctx)],
            CMD,
        )?;
        Ok(())
    }

    fn disc(&self, timeout: Duration) -> Result<()> {
        let c = Command::new(
            build("AT+CMQTTDISC", &[Arg::Int(self.idx()), Arg::Int(120)])?,
            timeout,
        )
        .with_expect(Expect::prefix(self.result_prefix("CMQTTDISC")));
        self.run("disconnect", "CMQTTDISC", c).map(|_| ())
    }

    fn send_topic_parts(
        &self,
        operation: &str,
        name: &str,
        topic: &str,
        qos: Option<u8>,
    ) -> Result<()> {
        let mut args = vec![Arg::Int(self.idx()), Arg::Int(topic.len() as i64)];
        if let Some(q) = qos {
            args.push(Arg::Int(q as i64));
        }
        self.with_prompt(operation, name, &args, topic.as_bytes(), None)
            .map(|_| ())
    }
}

impl Backend for CmqttClient {
    fn identity(&self) -> BackendIdentity<'_> {
        BackendIdentity::new(&self.ctx.caps, self.index, &self.client_id)
    }

    fn connect(&self, opts: &ConnectOptions) -> Result<()> {
        let caps = &self.ctx.caps;
        let server = format!("tcp://{}:{}", opts.host, opts.port);
        mqtt::check_len("host", server.len(), caps.server_addr_len)?;
        let max_ctx = ssl_ctx_max(&caps.profile);
        if let Some(ctx) = opts.tls.as_ref().and_then(|t| t.context) {
            if ctx > max_ctx {
                return Err(Error::invalid(format!(
                    "context: SSL context {ctx} is outside 0..={max_ctx} on {}",
                    caps.profile
                )));
            }
        }
        let mut args = vec![
            Arg::Int(self.idx()),
            Arg::Str(&server),
            Arg::Int(opts.keepalive as i64),
            Arg::Int(opts.clean_session as i64),
        ];
        if let Some(u) = &opts.username {
            args.push(Arg::Str(u));
            if let Some(p) = &opts.password {
                args.push(Arg::Secret(p));
            }
        }
        // Checked before anything is sent.
        let line = self.line("AT+CMQTTCONNECT", &args)?;
        if let Some(p) = &opts.password {
            self.engine().add_secret(p.as_bytes());
        }
        // After a modem restart the service and the client must be set up again.
        self.ctx.ensure_started()?;
        // A will given to an earlier connect stays on the modem until AT+CMQTTREL: a
        // connect without one starts from a fresh acquire.
        let clear_will = opts.will.is_none() && self.will_set.load(Ordering::SeqCst);
        self.acquire(opts.tls.is_some(), clear_will)?;
        if let Some(tls) = &opts.tls {
            self.configure_tls(tls)?;
        }
        if let Some(will) = &opts.will {
            self.will_set.store(true, Ordering::SeqCst);
            let t = [Arg::Int(self.idx()), Arg::Int(will.topic.len() as i64)];
            self.with_prompt("connect", "CMQTTWILLTOPIC", &t, will.topic.as_bytes(), None)?;
            let m = [
                Arg::Int(self.idx()),
                Arg::Int(will.payload.len() as i64),
                Arg::Int(will.qos as i64),
            ];
            self.with_prompt("connect", "CMQTTWILLMSG", &m, &will.payload, None)?;
        }
        let c = Command::new(line, opts.timeout)
            .with_expect(Expect::prefix(self.result_prefix("CMQTTCONNECT")));
        self.run("connect", "CMQTTCONNECT", c).map(|_| ())
    }

    fn send_publish(&self, msg: mqtt::Publish<'_>) -> Result<()> {
        let (topic, payload, qos, retain, timeout) = msg.parts();
        self.send_topic_parts("publish", "CMQTTTOPIC", topic, None)?;
        if !payload.is_empty() {
            let args = [Arg::Int(self.idx()), Arg::Int(payload.len() as i64)];
            self.with_prompt("publish", "CMQTTPAYLOAD", &args, payload, None)?;
        }
        let pub_timeout = self.publish_timeout;
        let wait = timeout.unwrap_or(Duration::from_secs(pub_timeout as u64 + 5));
        let args = [
            Arg::Int(self.idx()),
            Arg::Int(qos as i64),
            Arg::Int(pub_timeout as i64),
            Arg::Int(retain as i64),
        ];
        let c = Command::new(build("AT+CMQTTPUB", &args)?, wait)
            .with_expect(Expect::prefix(self.result_prefix("CMQTTPUB")));
        self.run("publish", "CMQTTPUB", c).map(|_| ())
    }

    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        let wait = timeout.unwrap_or_else(|| self.op_wait());
        if !has_subtopic(&self.ctx.caps.profile) && topics.len() > 1 {
            // No AT+CMQTTSUBTOPIC on this model: one AT+CMQTTSUB per topic.
            for t in topics {
                self.subscribe(std::slice::from_ref(t), Some(wait))?;
            }
            return Ok(());
        }
        if let [(topic, qos)] = topics {
            let args = [
                Arg::Int(self.idx()),
                Arg::Int(topic.len() as i64),
                Arg::Int(*qos as i64),
            ];
            return self
                .with_prompt("subscribe", "CMQTTSUB", &args, topic.as_bytes(), Some(wait))
                .map(|_| ());
        }
        for (topic, qos) in topics {
            self.send_topic_parts("subscribe", "CMQTTSUBTOPIC", topic, Some(*qos))?;
        }
        let c = Command::new(build("AT+CMQTTSUB", &[Arg::Int(self.idx())])?, wait)
            .with_expect(Expect::prefix(self.result_prefix("CMQTTSUB")));
        self.run("subscribe", "CMQTTSUB", c).map(|_| ())
    }

    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        let wait = timeout.unwrap_or_else(|| self.op_wait());
        if let [topic] = topics {
            let args = [
                Arg::Int(self.idx()),
                Arg::Int(topic.len() as i64),
                Arg::Int(0),
            ];
            return self
                .with_prompt(
                    "unsubscribe",
                    "CMQTTUNSUB",
                    &args,
                    topic.as_bytes(),
                    Some(wait),
                )
                .map(|_| ());
        }
        for topic in topics {
            self.send_topic_parts("unsubscribe", "CMQTTUNSUBTOPIC", topic, None)?;
        }
        let c = Command::new(
            build("AT+CMQTTUNSUB", &[Arg::Int(self.idx()), Arg::Int(0)])?,
            wait,
        )
        .with_expect(Expect::prefix(self.result_prefix("CMQTTUNSUB")));
        self.run("unsubscribe", "CMQTTUNSUB", c).map(|_| ())
    }

    fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.disc(timeout.unwrap_or(Duration::from_secs(130)))
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if self.engine().failure().is_some() {
            let _ = self.ctx.client_closed(self.index);
            return Ok(());
        }
        let mut first_error = None;
        if self.shared.is_connected() {
            match self.disc(Duration::from_secs(10)) {
                // The modem already lost the connection and its `+CMQTTCONNLOST` is still
                // on the way (seen through ser2net, which delays output): nothing to undo.
                Err(Error::Mqtt {
                    code: CODE_NO_CONNECTION,
                    ..
                }) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
                Ok(()) => {}
            }
        }
        let gen = self.ctx.service_gen();
        if lock(&self.acquired_ssl)
            .take()
            .is_some_and(|(_, g)| g == gen)
        {
            let c = Command::new(
                build("AT+CMQTTREL", &[Arg::Int(self.idx())]).map_err(Error::from)?,
                CMD,
            )
            .with_response(self.result_prefix("CMQTTREL"));
            let mut released = self.run("release", "CMQTTREL", c.clone());
            if let Err(Error::Mqtt {
                code: CODE_CLIENT_BUSY,
                ..
            }) = released
            {
                // Still connected on the modem although not here: a connect whose answer
                // came after its deadline (`+CMQTTCONNECT: <idx>,0` late). Disconnect it,
                // then release again.
                log::info!(
                    "client {}: the modem still holds a connection; disconnecting before release",
                    self.index
                );
                match self.disc(Duration::from_secs(10)) {
                    Ok(())
                    | Err(Error::Mqtt {
                        code: CODE_NO_CONNECTION,
                        ..
                    }) => released = self.run("release", "CMQTTREL", c),
                    Err(e) => released = Err(e),
                }
            }
            if let Err(e) = released {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = self.ctx.client_closed(self.index) {
            first_error.get_or_insert(e);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "cmqtt_tests.rs"]
mod tests;
