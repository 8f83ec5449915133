//! u-blox `AT+UMQTT` / `AT+UMQTTC`, the "new syntax" of SARA-R5, SARA-R422, LARA-R6 and
//! LENA-R8 (one client).
//!
//! Sources (docs/umqtt.md lists them with their addresses): u-blox's own driver ubxlib
//! (`cell/src/u_cell_mqtt.c`, `u_cell_private.c`, `u_security_credential.c`), the SparkFun
//! SARA-R5 library, two pages of the SARA-R4 AT manual, and field logs in issue threads.
//! The SARA-R5 AT manual's MQTT chapter was not available, so most of what follows rests on
//! the driver, and says so:
//!
//! * Profile setters `AT+UMQTT=<op>,...` answer a bare `OK` (field: SARA-R510M8S, LENA-R8);
//!   an information line before it (the old syntax's `+UMQTT: <op>,1`) is tolerated.
//! * Operations `AT+UMQTTC=<op>,...` answer `OK` at once; the broker's outcome comes later
//!   as `+UUMQTTC: <op>,<result>[,...]`, 1 meaning success (ubxlib, field log LENA-R8). The
//!   result is awaited outside the AT turn with the QMT family's `results` waiters, so the
//!   buffer reads go on meanwhile. On a failed result the client reads `AT+UMQTTER`
//!   (`+UMQTTER: <class>,<code>`) for the error. One operation at a time: the module refuses
//!   another with `+CME ERROR: operation not allowed` (ubxlib); the client never overlaps.
//! * Bearer: SARA-R5 needs its internal PSD profile mapped to the PDP context
//!   (`AT+UPSD=0,0,0`, `AT+UPSD=0,100,<cid>`, `AT+UPSDA=0,3` then `+UUPSDA: 0,...`), else
//!   the login is refused (ubxlib; field ubxlib#224). Sent before every login; a refused
//!   activation (already active) is not an error.
//! * Keep-alive: the module pings only after `AT+UMQTTC=8,1`, and that switch is off after
//!   every login (ubxlib `uCellMqttSetKeepAliveOn`): sent after each login when the
//!   keep-alive is not 0.
//! * Publish: binary `AT+UMQTTC=9,<qos>,<retain>,"<topic>",<len>`, `>`, the bytes, `OK`,
//!   then `+UUMQTTC: 9,<1|0>` (SparkFun's captured session; ubxlib), 1-1024 bytes. An empty
//!   payload only as a retained text publish `AT+UMQTTC=2,<qos>,1,0,"<topic>",""` (ubxlib
//!   allows a zero-length message only with retain); a non-retained empty payload is
//!   refused before anything is sent.
//! * Receive: the module stores messages and announces `+UUMQTTC: 6,<unread>`; the host
//!   reads one with `AT+UMQTTC=6,1`, answered by
//!   `+UMQTTC: 6,<qos>,<total>,<topic_len>,"<topic>",<msg_len>,"<bytes>"` (length-framed,
//!   binary-safe: the codec's `RawRule::Inline`) or a bare `OK` when nothing is left (field
//!   SparkFun#48). A reader thread reads only while the client's inbox has room, so a slow
//!   consumer leaves messages in the module. The answer has the QoS, not the retain flag.
//! * Link loss: `+UUMQTTC: 0,<100 inactivity|101 lost|102 protocol violation>` (ubxlib),
//!   reported to `on_disconnect` with that code; `+UUMQTTC: 1,0` with no login waiting is a
//!   loss too (ubxlib).
//! * Error numbers of `MqttError`: the second `+UMQTTER` code when the module gives one
//!   (its class when that code is 0, "no error reported"), else the `+UUMQTTC` result; the
//!   name tells which.

mod context;
mod limits;
mod spec;
mod tls;
mod urc;

pub use context::*;
pub use limits::*;
pub use spec::SPEC;
pub use urc::*;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::at::session::{Command, Expect};
use crate::at::{build, Arg, Frame, RawRule};
use crate::dialect::common::lock;
use crate::dialect::common::{reader_loop, ReadStep};
use crate::dialect::results::Results;
use crate::dialect::{ClientContext, UrcRouter};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::mqtt::{
    self, Backend, BackendIdentity, Capabilities, ClientShared, ConnectOptions, Message,
};
use crate::waits;

/// The one u-blox MQTT client of a modem.
pub struct UmqttClient {
    ctx: Arc<Context>,
    client_id: String,
    shared: Arc<ClientShared>,
    /// A will was configured in this boot (the profile keeps it until cleared).
    will_set: AtomicBool,
    closed: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
}

const CMD: Duration = Duration::from_secs(10);
/// `AT+UMQTTC=6,1` reads one stored message.
const READ_CMD: Duration = Duration::from_secs(15);
/// The longest `close` waits for the message reader to end.
const READER_JOIN: Duration = Duration::from_secs(2);
/// ubxlib waits this long for each `+UUMQTTC` result.
const RESULT_WAIT: Duration = Duration::from_secs(120);
/// The PSD profile ubxlib maps and the PDP context it maps it to.
const PSD_PROFILE: i64 = 0;
const PDP_CID: i64 = 1;

impl UmqttClient {
    fn engine(&self) -> &Engine {
        &self.ctx.engine
    }

    /// `AT+UMQTT=<op>,<args>`: a profile setter, `OK` expected.
    fn set(&self, op: i64, args: &[Arg]) -> Result<()> {
        let mut all = vec![Arg::Int(op)];
        all.extend_from_slice(args);
        let c = Command::new(build("AT+UMQTT", &all)?, CMD).with_response(b"+UMQTT:".to_vec());
        self.engine().execute(c).map(|_| ())
    }

    /// Runs a command whose outcome is a result URC (`cmd.expect`); returns that line. The
    /// AT channel is free again at `OK`: the result is awaited outside it.
    fn with_result(&self, cmd: Command) -> Result<Vec<u8>> {
        self.ctx.router.results.run(self.engine(), 0, cmd)
    }

    /// `AT+UMQTTC=<op>,<args>` and its `+UUMQTTC: <op>,<result>...`; a result other than 1
    /// fails `operation` with the module's `AT+UMQTTER` codes.
    fn operation(
        &self,
        operation: &str,
        op: i64,
        args: &[Arg],
        data: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let mut all = vec![Arg::Int(op)];
        all.extend_from_slice(args);
        let mut c = Command::new(build("AT+UMQTTC", &all)?, timeout)
            .with_expect(Expect::prefix(format!("+UUMQTTC: {op},")));
        if let Some(d) = data {
            c = c.with_data(d);
        }
        let line = self.with_result(c)?;
        match field_int(&line, 1) {
            Some(1) => Ok(line),
            Some(result) => Err(self.failure(operation, result)),
            None => Err(Error::Protocol(format!(
                "{operation}: cannot parse {:?}",
                String::from_utf8_lossy(&line)
            ))),
        }
    }

    /// The error of a failed operation, with the module's `+UMQTTER` codes when it gives
    /// them.
    fn failure(&self, operation: &str, result: i64) -> Error {
        match self.last_error() {
            Some((class, code)) => Error::Mqtt {
                operation: operation.into(),
                // A failure whose code is 0 ("no error reported") is numbered by its class,
                // so that a failure never has code 0.
                code: if code == 0 { class } else { code } as i32,
                name: format!(
                    "{operation} failed (+UMQTTER: {class},{code}: {})",
                    error_code_name(code as i32)
                ),
            },
            None => Error::Mqtt {
                operation: operation.into(),
                code: result as i32,
                name: format!("{operation} failed (+UUMQTTC result {result})"),
            },
        }
    }

    /// `AT+UMQTTER` -> `+UMQTTER: <class>,<code>`.
    fn last_error(&self) -> Option<(i64, i64)> {
        let c =
            Command::new(build("AT+UMQTTER", &[]).ok()?, CMD).with_response(b"+UMQTTER:".to_vec());
        let r = self.engine().execute(c).ok()?;
        let v = r.value("+UMQTTER:")?;
        let mut it = v.split(',').map(|f| f.trim().parse::<i64>().ok());
        Some((it.next()??, it.next()??))
    }

    /// Maps the PSD profile to the PDP context and activates it (SARA-R5 needs it before
    /// a login). A refused activation is taken as "already active": the login says if not.
    fn bearer(&self) -> Result<()> {
        let upsd = |param: i64, value: i64| -> Result<()> {
            let c = Command::new(
                build(
                    "AT+UPSD",
                    &[Arg::Int(PSD_PROFILE), Arg::Int(param), Arg::Int(value)],
                )?,
                CMD,
            );
            self.engine().execute(c).map(|_| ())
        };
        // IPv4 (ubxlib: some SARA-R5 firmware defaults to IPv4v6), then the mapping.
        upsd(0, 0)?;
        upsd(100, PDP_CID)?;
        let c = Command::new(
            build("AT+UPSDA", &[Arg::Int(PSD_PROFILE), Arg::Int(3)])?,
            Duration::from_secs(30),
        )
        .with_expect(Expect::prefix(format!("+UUPSDA: {PSD_PROFILE}")));
        match self.with_result(c) {
            Ok(line) => match field_int(&line, 0) {
                Some(0) => Ok(()),
                _ => Err(Error::Other(format!(
                    "AT+UPSDA: the PDP context did not come up ({})",
                    String::from_utf8_lossy(&line)
                ))),
            },
            Err(e @ (Error::Port(_) | Error::Closed(_))) => Err(e),
            Err(e) => {
                log::debug!("umqtt: AT+UPSDA refused ({e}); taken as already active");
                Ok(())
            }
        }
    }

    fn start_reader(self: &Arc<Self>, wake: Receiver<()>) -> Result<()> {
        let me = Arc::downgrade(self);
        let stop = self.stop.clone();
        let h = std::thread::Builder::new()
            .name("modemqtt-umqttread".into())
            .spawn(move || reader(me, wake, stop))
            .map_err(|e| Error::Other(format!("cannot start the message reader: {e}")))?;
        *lock(&self.reader) = Some(h);
        Ok(())
    }

    /// Reads one stored message. The answer is not claimed as a response: it goes through
    /// the router (a registered prefix), in the order the modem sent it. A bare `OK` means
    /// nothing was left: the unread count is cleared unless a notice came meanwhile.
    fn read_one(&self) -> Result<()> {
        let before = {
            let u = lock(&self.ctx.router.unread);
            (u.notices, u.delivered)
        };
        let c = Command::new(build("AT+UMQTTC", &[Arg::Int(6), Arg::Int(1)])?, READ_CMD);
        self.engine().execute(c)?;
        let mut u = lock(&self.ctx.router.unread);
        if (u.notices, u.delivered) == before {
            u.count = 0;
        }
        Ok(())
    }

    fn check_quotable_topics(&self, topics: impl Iterator<Item = impl AsRef<str>>) -> Result<()> {
        for t in topics {
            // Topics are quoted on the command lines.
            mqtt::check_quotable("topic", t.as_ref())?;
        }
        Ok(())
    }

    /// The will's message as the command carries it: text when it is quotable UTF-8, else
    /// hex with `<hex_mode>` 1 (ubxlib sends non-printable wills hex-encoded).
    fn will_message(payload: &[u8]) -> (String, bool) {
        match std::str::from_utf8(payload) {
            Ok(t) if mqtt::check_quotable("will payload", t).is_ok() => (t.to_string(), false),
            _ => (payload.iter().map(|b| format!("{b:02X}")).collect(), true),
        }
    }
}

/// Reads stored messages while the inbox has room and the module announced some, so a
/// slow consumer leaves them in the module (nothing is dropped).
fn reader(me: std::sync::Weak<UmqttClient>, wake: Receiver<()>, stop: Arc<AtomicBool>) {
    reader_loop(&wake, &stop, || {
        let Some(c) = me.upgrade() else {
            return ReadStep::Stop;
        };
        let pending = lock(&c.ctx.router.unread).count > 0;
        if !pending || c.shared.free_capacity() == 0 {
            return ReadStep::Idle;
        }
        match c.read_one() {
            Ok(()) => ReadStep::Read,
            Err(e @ (Error::Port(_) | Error::Closed(_))) => {
                log::debug!("umqtt: message reader ends: {e}");
                ReadStep::Stop
            }
            Err(e) => {
                log::warn!("umqtt: reading a stored message failed: {e}; retrying");
                ReadStep::Idle
            }
        }
    })
}

impl Backend for UmqttClient {
    fn identity(&self) -> BackendIdentity<'_> {
        BackendIdentity::new(&self.ctx.caps, 0, &self.client_id)
    }

    fn connect(&self, opts: &ConnectOptions) -> Result<()> {
        // Everything is checked before the first byte goes out.
        mqtt::check_len("host", opts.host.len(), self.ctx.caps.server_addr_len)?;
        if !opts.clean_session {
            return Err(Error::invalid(
                "clean_session: SARA-R5 keeps no session (clean sessions only on umqtt)",
            ));
        }
        let will = match &opts.will {
            Some(w) => {
                mqtt::check_quotable("will topic", &w.topic)?;
                Some((w, Self::will_message(&w.payload)))
            }
            None => None,
        };
        if let Some(tls) = &opts.tls {
            tls::check(tls)?;
        }
        if let Some(p) = &opts.password {
            self.engine().add_secret(p.as_bytes());
        }
        self.ctx.router.logged_in.store(false, Ordering::SeqCst);
        self.bearer()?;
        self.set(0, &[Arg::Str(&self.client_id)])?;
        let op = if opts.host.parse::<IpAddr>().is_ok() {
            3
        } else {
            2
        };
        self.set(op, &[Arg::Str(&opts.host), Arg::Int(opts.port as i64)])?;
        if let Some(u) = &opts.username {
            match &opts.password {
                Some(p) => self.set(4, &[Arg::Str(u), Arg::Secret(p)])?,
                None => self.set(4, &[Arg::Str(u)])?,
            }
        }
        self.set(10, &[Arg::Int(opts.keepalive as i64)])?;
        match will {
            Some((w, (text, hex))) => {
                self.set(6, &[Arg::Int(w.qos as i64)])?;
                self.set(7, &[Arg::Int(w.retain as i64)])?;
                self.set(8, &[Arg::Str(&w.topic)])?;
                if hex {
                    self.set(9, &[Arg::Str(&text), Arg::Int(1)])?;
                } else {
                    self.set(9, &[Arg::Str(&text)])?;
                }
                self.will_set.store(true, Ordering::SeqCst);
            }
            None if self.will_set.load(Ordering::SeqCst) => {
                // The profile keeps the last will until the module restarts.
                self.set(8, &[Arg::Str("")])?;
                self.will_set.store(false, Ordering::SeqCst);
            }
            None => {}
        }
        match &opts.tls {
            Some(t) => {
                let prf = tls::configure(self, t, &opts.host)?;
                self.set(11, &[Arg::Int(1), Arg::Int(prf as i64)])?;
            }
            None => self.set(11, &[Arg::Int(0)])?,
        }
        let login = || -> Result<Vec<u8>> {
            let c = Command::new(build("AT+UMQTTC", &[Arg::Int(1)])?, opts.timeout)
                .with_expect(Expect::prefix(b"+UUMQTTC: 1,".to_vec()));
            self.with_result(c)
        };
        let line = match login() {
            Err(Error::Command { .. }) => {
                // Refused: a login left by an earlier run (or another host) may still be
                // up, and the module has no command to ask. Log out, then try once more.
                if let Err(e) = self.operation("logout", 0, &[], None, Duration::from_secs(30)) {
                    log::debug!("umqtt: logging out what was left: {e}");
                }
                login()?
            }
            other => other?,
        };
        match field_int(&line, 1) {
            Some(1) => {}
            Some(result) => return Err(self.failure("connect", result)),
            None => {
                return Err(Error::Protocol(format!(
                    "AT+UMQTTC=1: cannot parse {:?}",
                    String::from_utf8_lossy(&line)
                )))
            }
        }
        self.ctx.router.logged_in.store(true, Ordering::SeqCst);
        if opts.keepalive > 0 {
            // Pings are off after every login until switched on.
            let c = Command::new(build("AT+UMQTTC", &[Arg::Int(8), Arg::Int(1)])?, CMD);
            self.engine().execute(c)?;
        }
        // Messages stored before (or while) we were away: one read finds out, before
        // `connect` returns (left to the reader, it would go out under the caller's next
        // command). A message it finds is followed by `+UUMQTTC: 6,<n>` if more wait.
        lock(&self.ctx.router.unread).count = 1;
        if self.shared.free_capacity() > 0 {
            if let Err(e) = self.read_one() {
                log::warn!("umqtt: reading the messages stored while away failed: {e}");
            }
        }
        let left = lock(&self.ctx.router.unread).count;
        if left > 0 {
            // Not read (no room in the inbox, or the read failed): the reader takes over.
            self.ctx.router.note_unread(left);
        }
        Ok(())
    }

    fn send_publish(&self, msg: mqtt::Publish<'_>) -> Result<()> {
        let (topic, payload, qos, retain, timeout) = msg.parts();
        self.check_quotable_topics(std::iter::once(topic))?;
        if payload.is_empty() && !retain {
            return Err(Error::invalid(
                "payload: an empty payload can only be published retained on umqtt (1 to 1024 bytes otherwise)",
            ));
        }
        let wait = timeout.unwrap_or(RESULT_WAIT);
        let q = Arg::Int(qos as i64);
        let r = Arg::Int(retain as i64);
        if payload.is_empty() {
            // Text publish: <hex_mode> 0 and an empty message.
            self.operation(
                "publish",
                2,
                &[q, r, Arg::Int(0), Arg::Str(topic), Arg::Str("")],
                None,
                wait,
            )?;
        } else {
            let len = Arg::Int(payload.len() as i64);
            self.operation(
                "publish",
                9,
                &[q, r, Arg::Str(topic), len],
                Some(payload.to_vec()),
                wait,
            )?;
        }
        Ok(())
    }

    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        self.check_quotable_topics(topics.iter().map(|(t, _)| t))?;
        let wait = timeout.unwrap_or(RESULT_WAIT);
        // One filter per command.
        for (t, q) in topics {
            let line = self.operation(
                "subscribe",
                4,
                &[Arg::Int(*q as i64), Arg::Str(t)],
                None,
                wait,
            )?;
            // +UUMQTTC: 4,1,<granted_qos>,"<filter>": 128 is a refusal.
            if field_int(&line, 2) == Some(128) {
                return Err(Error::Mqtt {
                    operation: "subscribe".into(),
                    code: 128,
                    name: "subscription refused by the server".into(),
                });
            }
        }
        Ok(())
    }

    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        self.check_quotable_topics(topics.iter())?;
        let wait = timeout.unwrap_or(RESULT_WAIT);
        for t in topics {
            self.operation("unsubscribe", 5, &[Arg::Str(t)], None, wait)?;
        }
        Ok(())
    }

    fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.ctx.router.logged_in.store(false, Ordering::SeqCst);
        let wait = timeout.unwrap_or(Duration::from_secs(30));
        self.operation("disconnect", 0, &[], None, wait).map(|_| ())
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.stop.store(true, Ordering::SeqCst);
        self.shared.set_room_listener(None);
        // Dropping the router's wake sender ends the reader's wait.
        *lock(&self.ctx.router.wake) = None;
        if let Some(h) = lock(&self.reader).take() {
            if h.thread().id() != std::thread::current().id() {
                // A read in flight on a modem that stopped answering ends only at its own
                // deadline: wait for the reader within the close's, then leave it to end
                // by itself (it stops at its next turn).
                let until = waits::capped(Instant::now() + READER_JOIN);
                while !h.is_finished() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if h.is_finished() {
                    let _ = h.join();
                }
            }
        }
        let mut result = Ok(());
        if self.engine().failure().is_none() && self.shared.is_connected() {
            result = self.disconnect(Some(Duration::from_secs(10)));
        }
        *lock(&self.ctx.router.slot) = None;
        result
    }
}

#[cfg(test)]
#[path = "umqtt_tests.rs"]
mod tests;
