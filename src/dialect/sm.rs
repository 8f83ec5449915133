//! SIMCom `AT+SM*`: SIM7080 / SIM7070 / SIM7090 (and SIM7000 firmware that has it), one
//! MQTT client (index 0).
//!
//! Sources (docs/sm.md lists them with their addresses): the SIM7070_SIM7080_SIM7090 AT
//! Command Manual V1.05 chapter 17 ("ATM"), the MQTT(S) Application Note V1.03 ("AN80"),
//! the SIM7000 MQTT(S) Application Note V1.02 ("AN70"), and a SIM7000 session log
//! (botletics SIM7000_AWS_Log.txt). What the family is like:
//!
//! * Parameters are set one by one with `AT+SMCONF="<TAG>",<value>`; `AT+SMCONN` then
//!   connects **synchronously**: `OK` or a bare `ERROR` once the broker answered or the
//!   attempt failed (26 s seen on AWS). No command has a result URC or an error code: a
//!   refused login, an unreachable host and a failed TLS handshake are all `ERROR`.
//! * `"CLEANSS"` defaults to 0 (a persistent session, ATM §17.2.1): it is always written.
//!   `AT+SMDISC` comes first, as LilyGO's examples do and field reports advise.
//! * Publish: `AT+SMPUB="<topic>",<len>,<qos>,<retain>`, the prompt, `<len>` raw bytes
//!   (binary-safe), then `OK`. `OK` does not prove delivery (the AWS log shows `OK` after
//!   the broker closed the link).
//! * Receive: `+SMSUB: "<topic>","<message>"`, **not length-framed**: a payload holding CR
//!   or LF cannot be framed (the line ends there), and a topic holding `","` is split at
//!   the wrong place (see `parse_smsub`). The hex mode (`"SUBHEX",1`) would be binary-safe
//!   but its URC is not documented, so `"SUBHEX"` is set to 0.
//! * Link loss: `+SMSTATE: 0` (field log; cause 1) and `+APP PDP: 0,DEACTIVE` (bearer
//!   lost, ATM §22.3; cause -3, as QMT's pdpdeact).
//! * The bearer (`AT+CNACT=0,1` -> `+APP PDP: 0,ACTIVE`, AN80 §4.1) is the user's to bring
//!   up, as the PDP context of the QMT family is.
//! * TLS: files through `AT+CFSINIT` / `AT+CFSWFILE` (`DOWNLOAD` prompt) / `AT+CFSTERM`,
//!   `AT+CSSLCFG="CONVERT",...`, `AT+CSSLCFG="SSLVERSION",...` and
//!   `AT+SMSSL=<ctx+1>,"<ca>","<cert>"` (AN80 §5.2). There is no documented way to skip
//!   the server check: a CA is required.

mod limits;
mod spec;
mod urc;

pub use limits::*;
pub use spec::{Context, SPEC};
pub use urc::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::at::session::Command;
use crate::at::{build, Arg, Frame};
use crate::dialect::common::lock;
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};
use crate::mqtt::{self, Backend, BackendIdentity, ClientShared, ConnectOptions, Message, Tls};

/// A configuration command (`AT+SMCONF`, the file and SSL commands).
const CMD: Duration = Duration::from_secs(9);
/// `AT+SMSUB` / `AT+SMUNSUB` / `AT+SMDISC` wait for the broker: at least 60 s.
const BROKER_CMD: Duration = Duration::from_secs(65);
/// `AT+CFSWFILE`'s input time (ms): "less than 10000ms" (ATM §9.2.2; test 100-10000).
const FILE_INPUT_MS: i64 = 10000;
/// The names the certificates get on the module (at most 20 bytes for `AT+SMSSL`).
const CA_FILE: &str = "mqtt0_cacert.pem";
const CERT_FILE: &str = "mqtt0_clientcert.pem";
const KEY_FILE: &str = "mqtt0_clientkey.pem";

/// The one SM client.
pub struct SmClient {
    ctx: Arc<Context>,
    client_id: String,
    shared: Arc<ClientShared>,
    publish_timeout: u32,
    closed: AtomicBool,
}

impl SmClient {
    pub(crate) fn new(
        ctx: Arc<Context>,
        client_id: &str,
        shared: Arc<ClientShared>,
        publish_timeout: u32,
    ) -> SmClient {
        SmClient {
            ctx,
            client_id: client_id.to_string(),
            shared,
            publish_timeout,
            closed: AtomicBool::new(false),
        }
    }

    fn engine(&self) -> &Engine {
        &self.ctx.engine
    }

    /// Runs an MQTT command: a bare `ERROR` is the stack's refusal (no reason given).
    fn mqtt_cmd(&self, operation: &str, cmd: Command) -> Result<Response> {
        let r = self.engine().execute_raw(cmd)?;
        if r.final_result.is_ok() {
            return Ok(r);
        }
        if r.final_result == crate::at::FinalResult::Error {
            return Err(Error::Mqtt {
                operation: operation.into(),
                code: CODE_FAILED,
                name: "the module answered ERROR (the SM commands give no reason)".into(),
            });
        }
        Err(Error::from_final(operation, &r.final_result))
    }

    /// `AT+SMCONF="<tag>",<value>`.
    fn smconf(&self, tag: &str, value: Arg) -> Result<()> {
        let c = Command::new(build("AT+SMCONF", &[Arg::Str(tag), value])?, CMD);
        self.engine().execute(c).map(|_| ())
    }

    /// Writes `content` to the module's `/customer/` directory (`AT+CFSWFILE=3,...`).
    fn upload(&self, name: &str, content: &[u8], secret: bool) -> Result<()> {
        let args = [
            Arg::Int(3),
            Arg::Str(name),
            Arg::Int(0),
            Arg::Int(content.len() as i64),
            Arg::Int(FILE_INPUT_MS),
        ];
        let mut c = Command::new(build("AT+CFSWFILE", &args)?, Duration::from_secs(30))
            .with_data(content.to_vec())
            .with_prompt_line(b"DOWNLOAD".to_vec());
        c.data_secret = secret;
        self.engine().execute(c).map(|_| ())
    }

    /// Checks what `configure_tls` will send, before anything is.
    fn check_tls(tls: &Tls) -> Result<()> {
        if tls.ca_cert.is_none() {
            return Err(Error::invalid(
                "tls: ca_cert is needed: AT+SMSSL takes a CA file and has no documented mode without server verification",
            ));
        }
        if let Some(ctx) = tls.context {
            if ctx > SSL_CTX_MAX {
                return Err(Error::invalid(format!(
                    "context: SSL context {ctx} is outside 0..={SSL_CTX_MAX} on sim7080"
                )));
            }
        }
        for (what, content) in [
            ("ca_cert", &tls.ca_cert),
            ("client_cert", &tls.client_cert),
            ("client_key", &tls.client_key),
        ] {
            if let Some(c) = content {
                mqtt::check_len(what, c.len(), (1, FILE_MAX))?;
            }
        }
        Ok(())
    }

    fn configure_tls(&self, tls: &Tls) -> Result<()> {
        let ctx = i64::from(tls.context.unwrap_or(0));
        let files = [
            (CA_FILE, &tls.ca_cert, false),
            (CERT_FILE, &tls.client_cert, false),
            (KEY_FILE, &tls.client_key, true),
        ];
        self.engine()
            .execute(Command::new(build("AT+CFSINIT", &[])?, CMD))?;
        let mut written = Ok(());
        for (name, content, secret) in files {
            if let Some(pem) = content {
                written = self.upload(name, pem, secret);
                if written.is_err() {
                    break;
                }
            }
        }
        // The file system is released whatever happened (AN80 §5.2: CFSINIT ... CFSTERM).
        let term = self
            .engine()
            .execute(Command::new(build("AT+CFSTERM", &[])?, CMD));
        written?;
        term?;
        let sslcfg = |args: &[Arg]| -> Result<()> {
            let c = Command::new(build("AT+CSSLCFG", args)?, CMD);
            self.engine().execute(c).map(|_| ())
        };
        // SSLVERSION: 0 SSL 3.0, 1 TLS 1.0, 2 TLS 1.1, 3 TLS 1.2 (ATM §11.2.1; 4 and 5 are
        // DTLS). modemqtt's 4, "any", becomes TLS 1.2, which AN80 §5.2 uses.
        let version = i64::from(tls.ssl_version.min(3));
        sslcfg(&[Arg::Str("SSLVERSION"), Arg::Int(ctx), Arg::Int(version)])?;
        // CONVERT 2: the root CA; CONVERT 1: the client certificate and its key (AN80 §5.2).
        sslcfg(&[Arg::Str("CONVERT"), Arg::Int(2), Arg::Str(CA_FILE)])?;
        let client = tls.client_cert.is_some() && tls.client_key.is_some();
        if client {
            sslcfg(&[
                Arg::Str("CONVERT"),
                Arg::Int(1),
                Arg::Str(CERT_FILE),
                Arg::Str(KEY_FILE),
            ])?;
        }
        // AT+SMSSL index 1-6 is CSSLCFG context 0-5 (ATM §17.2.2).
        let cert = if client { CERT_FILE } else { "" };
        let c = Command::new(
            build(
                "AT+SMSSL",
                &[Arg::Int(ctx + 1), Arg::Str(CA_FILE), Arg::Str(cert)],
            )?,
            CMD,
        );
        self.engine().execute(c).map(|_| ())
    }

    fn disc(&self, timeout: Duration) -> Result<()> {
        let c = Command::new(build("AT+SMDISC", &[])?, timeout);
        self.mqtt_cmd("disconnect", c).map(|_| ())
    }

    /// Checks everything `connect` sends, before the first byte goes out.
    fn check_connect(&self, opts: &ConnectOptions) -> Result<()> {
        let caps = &self.ctx.caps;
        mqtt::check_len("host", opts.host.len(), caps.server_addr_len)?;
        if let Some(u) = &opts.username {
            mqtt::check_len("username", u.len(), (1, USERNAME_MAX))?;
        }
        if let Some(w) = &opts.will {
            // The will goes on the command line as quoted text ("TOPIC", "MESSAGE").
            mqtt::check_quotable("will topic", &w.topic)?;
            let text = std::str::from_utf8(&w.payload).map_err(|_| {
                Error::invalid(
                    "will payload: must be UTF-8 text on this modem (AT+SMCONF=\"MESSAGE\" takes it as a quoted string)",
                )
            })?;
            mqtt::check_quotable("will payload", text)?;
        }
        if let Some(tls) = &opts.tls {
            Self::check_tls(tls)?;
        }
        Ok(())
    }
}

impl Backend for SmClient {
    fn identity(&self) -> BackendIdentity<'_> {
        BackendIdentity::new(&self.ctx.caps, 0, &self.client_id)
    }

    fn connect(&self, opts: &ConnectOptions) -> Result<()> {
        self.check_connect(opts)?;
        if let Some(p) = &opts.password {
            self.engine().add_secret(p.as_bytes());
        }
        // Whatever an earlier run left connected goes first (`ERROR` when nothing is).
        if let Err(e) = self.disc(Duration::from_secs(30)) {
            log::debug!("sm: AT+SMDISC before connecting: {e}");
        }
        // URL: "<host>",<port> (ATM §17.2.1 example; the module also takes other forms).
        let c = Command::new(
            build(
                "AT+SMCONF",
                &[
                    Arg::Str("URL"),
                    Arg::Str(&opts.host),
                    Arg::Int(i64::from(opts.port)),
                ],
            )?,
            CMD,
        );
        self.engine().execute(c)?;
        self.smconf("CLIENTID", Arg::Str(&self.client_id))?;
        self.smconf("KEEPTIME", Arg::Int(i64::from(opts.keepalive)))?;
        // Always written: the module's default is 0, a persistent session.
        self.smconf("CLEANSS", Arg::Int(i64::from(opts.clean_session)))?;
        // Empty strings clear what an earlier connect set (the module keeps SMCONF
        // values until it restarts; whether "" is taken is a guess, see docs/sm.md).
        let user = opts.username.as_deref().unwrap_or("");
        let pass = opts.password.as_deref().unwrap_or("");
        self.smconf("USERNAME", Arg::Str(user))?;
        self.smconf("PASSWORD", Arg::Secret(pass))?;
        match &opts.will {
            Some(w) => {
                // TOPIC / MESSAGE / QOS / RETAIN are the will (every example sets them to
                // a will; ATM §17.2.1).
                let text = String::from_utf8_lossy(&w.payload).into_owned();
                self.smconf("TOPIC", Arg::Str(&w.topic))?;
                self.smconf("MESSAGE", Arg::Str(&text))?;
                self.smconf("QOS", Arg::Int(i64::from(w.qos)))?;
                self.smconf("RETAIN", Arg::Int(i64::from(w.retain)))?;
            }
            None => {
                if let Err(e) = self.smconf("TOPIC", Arg::Str("")) {
                    log::debug!("sm: clearing the will topic: {e}");
                }
            }
        }
        // Messages as quoted text (the hex form's URC is not documented).
        if let Err(e) = self.smconf("SUBHEX", Arg::Int(0)) {
            log::debug!("sm: AT+SMCONF=\"SUBHEX\",0 refused ({e})");
        }
        match &opts.tls {
            Some(tls) => self.configure_tls(tls)?,
            None => {
                // Index 0: no SSL (ATM §17.2.2).
                let c = Command::new(build("AT+SMSSL", &[Arg::Int(0)])?, CMD);
                if let Err(e) = self.engine().execute(c) {
                    log::debug!("sm: AT+SMSSL=0 refused ({e})");
                }
            }
        }
        let c = Command::new(build("AT+SMCONN", &[])?, opts.timeout);
        self.mqtt_cmd("connect", c).map(|_| ())
    }

    fn send_publish(&self, msg: mqtt::Publish<'_>) -> Result<()> {
        let (topic, payload, qos, retain, timeout) = msg.parts();
        mqtt::check_quotable("topic", topic)?;
        let wait = timeout.unwrap_or(Duration::from_secs(
            u64::from(self.publish_timeout).max(60) + 5,
        ));
        let args = [
            Arg::Str(topic),
            Arg::Int(payload.len() as i64),
            Arg::Int(i64::from(qos)),
            Arg::Int(i64::from(retain)),
        ];
        let c = Command::new(build("AT+SMPUB", &args)?, wait).with_data(payload.to_vec());
        let losses = self.shared.stats().disconnects;
        self.mqtt_cmd("publish", c)?;
        // The module answers `OK` even when the link went down before the broker had the
        // message (field: SIM7000_AWS_Log.txt, `+SMSTATE: 0` then `OK`): a loss reported
        // during the command makes the publish fail, so that nothing counts as sent that
        // may not have been.
        if self.shared.stats().disconnects != losses {
            return Err(Error::Mqtt {
                operation: "publish".into(),
                code: CODE_FAILED,
                name: "the link went down during the publish (the module's OK does not prove delivery)".into(),
            });
        }
        Ok(())
    }

    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        for (t, _) in topics {
            mqtt::check_quotable("topic", t)?;
        }
        // One topic per command (ATM §17.2.5).
        for (topic, qos) in topics {
            let args = [Arg::Str(topic), Arg::Int(i64::from(*qos))];
            let c = Command::new(build("AT+SMSUB", &args)?, timeout.unwrap_or(BROKER_CMD));
            self.mqtt_cmd("subscribe", c)?;
        }
        Ok(())
    }

    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        for t in topics {
            mqtt::check_quotable("topic", t)?;
        }
        for topic in topics {
            let c = Command::new(
                build("AT+SMUNSUB", &[Arg::Str(topic)])?,
                timeout.unwrap_or(BROKER_CMD),
            );
            self.mqtt_cmd("unsubscribe", c)?;
        }
        Ok(())
    }

    fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.disc(timeout.unwrap_or(BROKER_CMD))
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut result = Ok(());
        if self.engine().failure().is_none() && self.shared.is_connected() {
            result = self.disc(Duration::from_secs(10));
        }
        self.ctx.client_closed();
        result
    }

    /// `AT+SMSTATE?` -> `+SMSTATE: <0|1|2>`: 1 on-line, 2 on-line with the session present
    /// flag (ATM §17.2.7).
    fn query_connected(&self) -> Option<Result<bool>> {
        let run = || -> Result<bool> {
            let c =
                Command::new(build("AT+SMSTATE?", &[])?, CMD).with_response(b"+SMSTATE:".to_vec());
            let r = self.engine().execute(c)?;
            let v = r.value("+SMSTATE:").unwrap_or_default();
            Ok(matches!(v.trim(), "1" | "2"))
        };
        Some(run())
    }
}

#[cfg(test)]
#[path = "sm_tests.rs"]
mod tests;
