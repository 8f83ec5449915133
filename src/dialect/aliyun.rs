//! SIMCom Alibaba-cloud firmware (SIM7600 / SIM7000): `AT+CM*` MQTT to the Alibaba IoT
//! platform and `AT+CC*` CoAP.
//!
//! Manuals: "SIM7600系列_Alibaba_MQTT_COAP_应用文档" V2.00 (seeds/000, called revision 1
//! here) and the later SIM7000 revision (seeds/002, revision 2: adds `AT+CMAUTOYIELD` and
//! `AT+CMSTATUS?`, drops `MQTTVERSION`, widens the `TIMEOUT` range, reports CoAP results as
//! URCs after `OK`).
//!
//! The firmware holds the device triple (`AT+CMAUTH`) and signs its own connection; the
//! host never sees the platform's password. Nothing arrives unasked: acknowledgements and
//! messages come out of `AT+CMYIELD[=<ms>]`, which answers `OK` and then prints
//! `+CMYIELD: <status>[,<topic>,<payload>]` lines during the next `<ms>` milliseconds.
//!
//! Decisions where the manuals are silent:
//! * After `OK` the modem is taken to be busy for the yield window: the client keeps the
//!   command slot for that long ([`Engine::execute_raw_hold`]), so a user command is never
//!   sent into a yield and waits at most one poll.
//! * Acknowledgements carry no packet id: statuses 3-5 complete the oldest subscribe still
//!   waiting, 6-8 the oldest unsubscribe, 9-11 the oldest QoS 1 publish (QoS 0 publishes
//!   are complete at `OK`, as in the platform SDK).
//! * A received payload is printed raw between quotes: it is the text between the quote
//!   after the topic and the last quote of the line, so quotes and commas inside survive.
//! * Payloads travel inside a quoted parameter. `AT+CMPUB`'s message may not contain `"`
//!   (seeds/000 §3.4: "两边需带"... 中间不能带"") and no manual says how a backslash is read,
//!   so both are refused; `AT+CCSEND` sends `"` as `\"` (the example of seeds/000 §4.5 and
//!   seeds/002: `"{\"light \":\"open\"}"`) and refuses a backslash (no manual escapes
//!   one). CR, LF and Ctrl-Z cannot be sent and are refused, and so is a payload that is
//!   not UTF-8 text.
//! * The bearer: every manual example starts by bringing the wireless connection up
//!   (seeds/000 §5.1 `AT+CAUTONET=1`, effective after a restart; seeds/002 §3
//!   `AT+CNACT=1,"cmnet"` then `+APP PDP: ACTIVE`). On revision 2 the client asks
//!   `AT+CNACT?` before `AT+CMCONN` and sends `AT+CNACT=1` when it is down; on revision 1
//!   it cannot be brought up without a restart, and a refused `AT+CMCONN` says so (unless
//!   `AT+CMDISCONN` shows an earlier connection was in the way).
//! * The firmware reconnects by itself during a yield after a loss (manual 000, FAQ):
//!   status 1 reports the loss, status 2 the reconnect; the client does not reconnect.

mod coap;
mod limits;
mod options;
mod sign;
mod spec;
mod urc;

pub use coap::*;
pub use limits::*;
pub use options::*;
pub use sign::*;
pub use spec::{Clients, SPEC};
pub use urc::*;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use hmac::{Hmac, Mac};

use crate::at::session::{Command, Expect};
use crate::at::{build, Arg, ErrorCode, FinalResult, Frame};
use crate::dialect::common::lock;
use crate::dialect::common::Handlers;
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};
use crate::mqtt::{
    self, Backend, BackendIdentity, Capabilities, ClientShared, ConnectOptions, Message,
};

/// A payload as the text of a quoted parameter: no backslash (no manual says how one is
/// read), and for `AT+CMPUB` (`quotes_allowed` false) no `"` either.
fn payload_param<'a>(what: &str, payload: &'a [u8], quotes_allowed: bool) -> Result<&'a str> {
    let text = payload_text(what, payload)?;
    if text.contains('\\') {
        return Err(Error::invalid(format!(
            "{what}: must not contain a backslash on Alibaba firmware (no manual says how one is sent)"
        )));
    }
    if !quotes_allowed && text.contains('"') {
        return Err(Error::invalid(format!(
            "{what}: must not contain '\"' in AT+CMPUB (seeds/000 §3.4: the message is quoted and may not hold a quote)"
        )));
    }
    Ok(text)
}

/// A payload as the text of an escaped quoted parameter.
fn payload_text<'a>(what: &str, payload: &'a [u8]) -> Result<&'a str> {
    let text = std::str::from_utf8(payload).map_err(|_| {
        Error::invalid(format!(
            "{what}: must be UTF-8 text on Alibaba firmware (it travels inside a quoted AT parameter)"
        ))
    })?;
    for (ch, name) in [
        ('\r', "CR"),
        ('\n', "LF"),
        ('\u{1a}', "Ctrl-Z"),
        ('\u{1b}', "ESC"),
        ('\0', "NUL"),
    ] {
        if text.contains(ch) {
            return Err(Error::invalid(format!(
                "{what}: must not contain {name} (it would end the AT command line)"
            )));
        }
    }
    // Inside the quoted parameter still: see mqtt::check_quotable.
    if text.contains(';') {
        return Err(Error::invalid(format!(
            "{what}: must not contain ';' on Alibaba firmware (it travels inside a quoted AT \
             parameter, and ';' separates AT commands; see docs/troubleshooting.md)"
        )));
    }
    Ok(text)
}

/// Splits a line's fields after `+NAME:`: `(first integer, rest after its comma)`.
fn status_and_rest(line: &[u8]) -> Option<(i32, &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let body = &line[colon + 1..];
    let (first, rest) = match body.iter().position(|&b| b == b',') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &body[body.len()..]),
    };
    let status = std::str::from_utf8(first).ok()?.trim().parse().ok()?;
    Some((status, rest))
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `"topic","payload"` -> (topic, payload); the payload runs to the line's last quote.
pub fn parse_message_fields(rest: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = trim_ascii(rest);
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let topic = String::from_utf8_lossy(&rest[..end]).into_owned();
    let after = trim_ascii(&rest[end + 1..]);
    let after = after.strip_prefix(b",")?;
    let after = trim_ascii(after);
    let payload = match after.strip_prefix(b"\"") {
        Some(p) => {
            let last = p.iter().rposition(|&b| b == b'"')?;
            p[..last].to_vec()
        }
        None => after.to_vec(),
    };
    Some((topic, payload))
}

/// Maps a non-OK final result of an `AT+CM*` command.
fn cm_error(operation: &str, command: &str, f: &FinalResult) -> Error {
    match f {
        FinalResult::CmeError(ErrorCode::Numeric(n)) => {
            let code = *n;
            Error::Mqtt {
                operation: operation.into(),
                code,
                name: cme_name(code),
            }
        }
        other => Error::from_final(command, other),
    }
}

const CMD: Duration = Duration::from_secs(10);
/// Waiting for an acknowledgement when the caller gave no timeout.
const ACK_WAIT: Duration = Duration::from_secs(30);

struct Poller {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

/// The `AT+CM*` client (one per modem).
pub struct AliyunMqtt {
    engine: Engine,
    rev: Revision,
    caps: Capabilities,
    product_key: String,
    device_name: String,
    device_secret: String,
    client_id: String,
    options: AliyunOptions,
    router: Arc<Router>,
    _handlers: Handlers,
    poller: Mutex<Option<Poller>>,
    autoyield_on: AtomicBool,
    closed: AtomicBool,
}

/// Probes which revision the firmware is: only revision 2 answers `AT+CMAUTOYIELD=?`.
pub fn detect_revision(engine: &Engine, timeout: Duration) -> Result<Revision> {
    let cmd = Command::new(build("AT+CMAUTOYIELD=?", &[])?, timeout);
    let r = engine.execute_raw(cmd)?;
    Ok(if r.final_result.is_ok() {
        Revision::V2
    } else {
        Revision::V1
    })
}

impl AliyunMqtt {
    /// Checks the arguments and registers the URC handler; nothing is sent.
    pub fn open(
        engine: Engine,
        rev: Revision,
        product_key: &str,
        device_name: &str,
        device_secret: &str,
        options: AliyunOptions,
        queue_size: usize,
    ) -> Result<(Arc<AliyunMqtt>, Arc<ClientShared>)> {
        check_triple(product_key, device_name, device_secret)?;
        options.validate(rev)?;
        let shared = ClientShared::new(0, queue_size);
        let router = Arc::new(Router::new(shared.clone()));
        engine.add_secret(device_secret.as_bytes());
        let client = Arc::new(AliyunMqtt {
            _handlers: Handlers::attach(&engine, Vec::new(), &PREFIXES, &router),
            engine,
            rev,
            caps: capabilities(rev),
            product_key: product_key.to_string(),
            device_name: device_name.to_string(),
            device_secret: device_secret.to_string(),
            client_id: format!("{product_key}.{device_name}"),
            options,
            router,
            poller: Mutex::new(None),
            autoyield_on: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        Ok((client, shared))
    }

    pub fn revision(&self) -> Revision {
        self.rev
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn product_key(&self) -> &str {
        &self.product_key
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    fn run(&self, operation: &str, cmd: Command) -> Result<Response> {
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if r.final_result.is_ok() {
            Ok(r)
        } else {
            Err(cm_error(operation, &text, &r.final_result))
        }
    }

    fn simple(
        &self,
        operation: &str,
        name: &str,
        args: &[Arg],
        timeout: Duration,
    ) -> Result<Response> {
        self.run(operation, Command::new(build(name, args)?, timeout))
    }

    /// One `AT+CMYIELD=<t>`, keeping the command slot for the window.
    fn yield_once(&self) -> Result<()> {
        let t = self
            .options
            .yield_timeout
            .clamp(YIELD_RANGE.0, YIELD_RANGE.1);
        let window = Duration::from_millis(t as u64);
        let cmd = Command::new(build("AT+CMYIELD", &[Arg::Int(t as i64)])?, CMD);
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw_hold(cmd, window)?;
        if r.final_result.is_ok() {
            Ok(())
        } else {
            Err(cm_error("yield", &text, &r.final_result))
        }
    }

    /// Sends `cmd` with an acknowledgement waiter registered first, then yields until the
    /// acknowledgement comes or the deadline passes.
    fn with_ack(&self, kind: AckKind, cmd: Command, timeout: Option<Duration>) -> Result<()> {
        let deadline = Instant::now() + timeout.unwrap_or(ACK_WAIT);
        let (id, rx) = self.router.register(kind);
        match self.run(kind.operation(), cmd) {
            Ok(_) => {}
            // The command may have gone out: its ack may still come.
            Err(e @ (Error::Timeout { .. } | Error::Interrupted(_))) => {
                self.router.abandon(id, kind, &rx);
                return Err(e);
            }
            Err(e) => {
                self.router.forget(id);
                return Err(e);
            }
        }
        loop {
            if let Ok(status) = rx.try_recv() {
                return self.ack_result(kind, status);
            }
            if Instant::now() >= deadline {
                self.router.abandon(id, kind, &rx);
                return Err(Error::Timeout {
                    command: format!("AT+CMYIELD ({})", kind.operation()),
                    waited_for: format!("+CMYIELD: {}", kind.success()),
                    timeout: timeout.unwrap_or(ACK_WAIT),
                });
            }
            if let Err(e) = self.yield_once() {
                self.router.abandon(id, kind, &rx);
                return Err(e);
            }
        }
    }

    fn ack_result(&self, kind: AckKind, status: i32) -> Result<()> {
        if status == kind.success() {
            Ok(())
        } else {
            Err(Error::Mqtt {
                operation: kind.operation().into(),
                code: status,
                name: yield_status_name(status).into(),
            })
        }
    }

    fn start_receiving(self: &Arc<Self>) -> Result<()> {
        if self.options.uses_autoyield(self.rev) {
            self.simple(
                "connect",
                "AT+CMAUTOYIELD",
                &[
                    Arg::Int(self.options.auto_yield_interval as i64),
                    Arg::Int(self.options.yield_timeout as i64),
                ],
                CMD,
            )?;
            self.autoyield_on.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let mut slot = lock(&self.poller);
        if slot.is_some() {
            return Ok(());
        }
        let (stop, stop_rx) = bounded::<()>(1);
        let weak = Arc::downgrade(self);
        let interval = self.options.poll_interval;
        let thread = std::thread::Builder::new()
            .name("modemqtt-cmyield".into())
            .spawn(move || poll_loop(weak, stop_rx, interval))
            .map_err(|e| Error::Other(format!("cannot start the CMYIELD poller: {e}")))?;
        *slot = Some(Poller { stop, thread });
        Ok(())
    }

    fn stop_receiving(&self) {
        if let Some(p) = lock(&self.poller).take() {
            let _ = p.stop.send(());
            if p.thread.thread().id() != std::thread::current().id() {
                let _ = p.thread.join();
            }
        }
        if self.autoyield_on.swap(false, Ordering::SeqCst) && self.engine.failure().is_none() {
            if let Err(e) = self.simple("disconnect", "AT+CMAUTOYIELD", &[Arg::Int(0)], CMD) {
                log::debug!("aliyun: AT+CMAUTOYIELD=0: {e}");
            }
        }
    }

    /// Revision 2: the application bearer must be up before AT+CMCONN (seeds/002 §3 starts
    /// with `AT+CNACT=1,"cmnet"` / `+APP PDP: ACTIVE`): asked with `AT+CNACT?`
    /// (`+CNACT: <status>,"<ip>"`) and brought up with `AT+CNACT=1` (the network's default
    /// APN) when down. Revision 1 (seeds/000 §5.1, `AT+CAUTONET=1`) has nothing to ask.
    fn ensure_bearer(&self) -> Result<()> {
        if self.rev != Revision::V2 {
            return Ok(());
        }
        let c = Command::new(build("AT+CNACT?", &[])?, CMD).with_response(b"+CNACT:".to_vec());
        let r = self.run("bearer", c)?;
        let up = r
            .value("+CNACT:")
            .and_then(|v| v.split(',').next().map(|s| s.trim() == "1"))
            .unwrap_or(false);
        if up {
            return Ok(());
        }
        log::info!("the wireless connection is down; AT+CNACT=1");
        let c = Command::new(build("AT+CNACT", &[Arg::Int(1)])?, Duration::from_secs(60))
            .with_expect(Expect::prefix(b"+APP PDP:".to_vec()));
        let text = c.line.text().to_string();
        let r = self.engine.execute_raw(c)?;
        if !r.final_result.is_ok() {
            return Err(cm_error("bearer", &text, &r.final_result));
        }
        match r.urc.as_deref() {
            Some(l) if l.ends_with(b"ACTIVE") && !l.ends_with(b"DEACTIVE") => Ok(()),
            other => Err(Error::Protocol(format!(
                "{text}: the bearer did not come up ({:?}); set the APN with AT+CNACT=1,\"<apn>\"",
                other.map(String::from_utf8_lossy)
            ))),
        }
    }

    fn disc(&self, timeout: Duration) -> Result<()> {
        self.stop_receiving();
        self.simple("disconnect", "AT+CMDISCONN", &[], timeout)
            .map(|_| ())
    }
}

fn poll_loop(client: std::sync::Weak<AliyunMqtt>, stop: Receiver<()>, interval: Duration) {
    loop {
        match stop.recv_timeout(interval) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let Some(c) = client.upgrade() else { return };
        if c.closed.load(Ordering::SeqCst) || c.engine.is_closed() {
            return;
        }
        match c.yield_once() {
            Ok(()) => {}
            Err(Error::Port(reason)) => {
                log::debug!("aliyun: poller stops: {reason}");
                return;
            }
            Err(e) => log::debug!("aliyun: poll: {e}"),
        }
    }
}

/// Wraps the client so the background poller can hold a weak reference to it.
pub struct AliyunBackend(pub Arc<AliyunMqtt>);

impl Backend for AliyunBackend {
    fn identity(&self) -> BackendIdentity<'_> {
        BackendIdentity::new(&self.0.caps, 0, &self.0.client_id)
    }

    fn own_endpoint(&self) -> Option<String> {
        // The client id is `<productKey>.<deviceName>`.
        let product_key = self.0.client_id.split('.').next().unwrap_or_default();
        Some(mqtt_endpoint(product_key))
    }

    fn connect(&self, opts: &ConnectOptions) -> Result<()> {
        let c = &self.0;
        if opts.username.is_some() || opts.password.is_some() {
            return Err(Error::invalid(
                "username/password: the Alibaba firmware signs its own login from the device triple; leave them out",
            ));
        }
        let secret = Arg::Secret(&c.device_secret);
        c.simple(
            "authenticate",
            "AT+CMAUTH",
            &[Arg::Str(&c.product_key), Arg::Str(&c.device_name), secret],
            CMD,
        )?;
        let para = |tag: &str, v: i64| -> Result<()> {
            c.simple("configure", "AT+CMPARA", &[Arg::Str(tag), Arg::Int(v)], CMD)
                .map(|_| ())
        };
        if let Some(t) = c.options.request_timeout {
            para("TIMEOUT", t as i64)?;
        }
        para("CLEAN", opts.clean_session as i64)?;
        para("KEEPALIVE", opts.keepalive as i64 * 1000)?;
        if let Some(v) = c.options.mqtt_version {
            para("MQTTVERSION", v as i64)?;
        }
        c.ensure_bearer()?;
        match c.simple("connect", "AT+CMCONN", &[], opts.timeout) {
            // The firmware may still hold a connection this client did not make (an earlier
            // host went away without AT+CMDISCONN). The manuals give AT+CMCONN no error
            // table (seeds/000 §3.3: ERROR; seeds/002 §1.3: +CME ERROR: <err>); -27
            // MQTT_STATE_ERROR is listed for PUB/SUB/UNSUB only (seeds/000 §3.4-3.6). So a
            // refusal is taken for "still connected" only where the modem confirms it:
            // revision 2 answers AT+CMSTATUS? (1 = connected); revision 1 cannot be asked.
            Err(
                e @ Error::Mqtt {
                    code: CODE_STATE_ERROR,
                    ..
                },
            ) => match self.query_connected() {
                Some(Ok(true)) => {
                    log::info!(
                        "the modem still holds an earlier connection; disconnecting it first"
                    );
                    if let Err(e) = c.disc(CMD) {
                        log::debug!("AT+CMDISCONN before a new connect: {e}");
                    }
                    c.simple("connect", "AT+CMCONN", &[], opts.timeout)?;
                }
                _ => return Err(e),
            },
            // Revision 1 answers any failure with a plain ERROR (seeds/000 §3.3) and has no
            // status query. AT+CMDISCONN tells: OK means a connection object existed (it is
            // gone now, so connect again); -2 NULL_VALUE_ERROR (§3.8) means there was none,
            // and the refusal had another cause, most likely the bearer.
            Err(Error::Command {
                command,
                code,
                text,
            }) if c.rev == Revision::V1 => {
                if c.disc(CMD).is_ok() {
                    log::info!("the modem still held an earlier connection; ended it");
                    c.simple("connect", "AT+CMCONN", &[], opts.timeout)?;
                } else {
                    return Err(Error::Command {
                        command,
                        code,
                        text: format!(
                            "{text} (is the wireless connection up? seeds/000 §5.1 sends AT+CAUTONET=1, effective after a restart)"
                        ),
                    });
                }
            }
            other => {
                other?;
            }
        }
        c.start_receiving()
    }

    fn send_publish(&self, msg: mqtt::Publish<'_>) -> Result<()> {
        let (topic, payload, qos, _, timeout) = msg.parts();
        let c = &self.0;
        mqtt::check_quotable("topic", topic)?;
        let text = payload_param("payload", payload, false)?;
        let cmd = Command::new(
            build(
                "AT+CMPUB",
                &[Arg::Str(topic), Arg::Int(qos as i64), Arg::Str(text)],
            )?,
            CMD,
        );
        if qos == 0 {
            return c.run("publish", cmd).map(|_| ());
        }
        c.with_ack(AckKind::Pub, cmd, timeout)
    }

    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        let c = &self.0;
        for (t, _) in topics {
            mqtt::check_quotable("topic", t)?;
        }
        for (t, q) in topics {
            let cmd = Command::new(build("AT+CMSUB", &[Arg::Str(t), Arg::Int(*q as i64)])?, CMD);
            c.with_ack(AckKind::Sub, cmd, timeout)?;
        }
        Ok(())
    }

    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        let c = &self.0;
        for t in topics {
            mqtt::check_quotable("topic", t)?;
        }
        for t in topics {
            let cmd = Command::new(build("AT+CMUNSUB", &[Arg::Str(t)])?, CMD);
            c.with_ack(AckKind::Unsub, cmd, timeout)?;
        }
        Ok(())
    }

    fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.0.disc(timeout.unwrap_or(CMD))
    }

    fn close(&self) -> Result<()> {
        let c = &self.0;
        if c.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if c.engine.failure().is_some() {
            c.stop_receiving();
            return Ok(());
        }
        if c.router.shared.is_connected() {
            return c.disc(CMD);
        }
        c.stop_receiving();
        Ok(())
    }

    fn query_connected(&self) -> Option<Result<bool>> {
        let c = &self.0;
        if c.rev != Revision::V2 || c.engine.failure().is_some() {
            return None;
        }
        let cmd = match build("AT+CMSTATUS?", &[]) {
            Ok(l) => Command::new(l, CMD).with_response(b"+CMSTATUS:".to_vec()),
            Err(e) => return Some(Err(e.into())),
        };
        Some(c.run("status", cmd).and_then(|r| {
            let v = r
                .value("+CMSTATUS:")
                .ok_or_else(|| Error::Protocol("AT+CMSTATUS?: no +CMSTATUS line".into()))?;
            match v.trim() {
                "1" => Ok(true),
                "0" => Ok(false),
                other => Err(Error::Protocol(format!(
                    "AT+CMSTATUS?: unexpected status {other:?}"
                ))),
            }
        }))
    }
}

#[cfg(test)]
#[path = "aliyun_tests.rs"]
mod tests;
