//! SIMCom `AT+CMQTT*`: A7600 / SIM7600 / SIM7500 (two clients) and SIM7028 (one client).
//!
//! Manuals: A7600 Series MQTT AT Command Manual V1.00 (seeds/003) and the SIM7028 MQTT
//! manual (seeds/001). Topics and payloads go after a `>` prompt with their length, so they
//! are binary-safe; results come as URCs (`+CMQTTCONNECT: 0,0`) after `OK`, or as
//! `+CMQTTxxx: idx,err` followed by `ERROR` when the command is refused at once.

mod spec;
pub use spec::Spec;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::at::session::{Command, Expect};
use crate::at::{build, Arg, Frame, RawRule};
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};
use crate::mqtt::{
    self, Backend, Capabilities, ClientShared, ConnectOptions, Message, Tls, CAUSE_PORT_LOST,
    CAUSE_RESTARTED,
};

/// The result codes of the manual's section 2.2.1.
pub const ERROR_NAMES: [&str; 36] = [
    "operation succeeded",
    "failed",
    "bad UTF-8 string",
    "sock connect fail",
    "sock create fail",
    "sock close fail",
    "message receive fail",
    "network open fail",
    "network close fail",
    "network not opened",
    "client index error",
    "no connection",
    "invalid parameter",
    "not supported operation",
    "client is busy",
    "require connection fail",
    "sock sending fail",
    "timeout",
    "topic is empty",
    "client is used",
    "client not acquired",
    "client not released",
    "length out of range",
    "network is opened",
    "packet fail",
    "DNS error",
    "socket is closed by server",
    "connection refused: unaccepted protocol version",
    "connection refused: identifier rejected",
    "connection refused: server unavailable",
    "connection refused: bad user name or password",
    "connection refused: not authorized",
    "handshake fail",
    "not set certificate",
    "Open session failed",
    "Disconnect from server failed",
];

pub fn error_name(code: i32) -> String {
    usize::try_from(code)
        .ok()
        .and_then(|c| ERROR_NAMES.get(c))
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("unknown error {code}"))
}

/// `+CMQTTCONNLOST` causes (section 2.2.2.1).
pub fn connlost_reason(cause: i32) -> &'static str {
    match cause {
        1 => "socket closed passively",
        2 => "socket reset",
        3 => "network closed",
        _ => "connection lost",
    }
}

/// Result code 11, "no connection".
pub const CODE_NO_CONNECTION: i32 = 11;
/// Result code 14, "client is busy": `AT+CMQTTREL` on a client that is still connected.
pub const CODE_CLIENT_BUSY: i32 = 14;

/// Code 23 answers `AT+CMQTTSTART` when the service already runs.
const ALREADY_STARTED: i32 = 23;

/// SIM7028: "命令行缓冲区最多可以接受 559 个字符 (从第一个命令开始计算 不带“AT”或“at”前缀)"
/// (seeds/001 §1.4.4): longer lines are not executed, the module answers `ERROR`.
pub const SIM7028_LINE_MAX: usize = 559;

/// Highest SSL context index `AT+CMQTTSSLCFG` accepts: 0-1 on SIM7028 (seeds/001 §3.2.5,
/// `+CMQTTSSLCFG: (0,0),(0-1)`), 0-9 on the A7600 series.
pub fn ssl_ctx_max(profile: &str) -> u8 {
    if profile == "sim7028" {
        1
    } else {
        9
    }
}

/// Whether the profile has `AT+CMQTTSUBTOPIC` (multi-topic subscribe). SIM7028's command
/// list (seeds/001 §3.1) has `AT+CMQTTUNSUBTOPIC` but no `AT+CMQTTSUBTOPIC`.
pub fn has_subtopic(profile: &str) -> bool {
    profile != "sim7028"
}

/// The longest command line the profile executes, counted without the `AT` prefix.
pub fn line_max(profile: &str) -> Option<usize> {
    (profile == "sim7028").then_some(SIM7028_LINE_MAX)
}

pub fn capabilities(profile: &str) -> Option<Capabilities> {
    let base = Capabilities {
        family: "cmqtt",
        profile: profile.to_string(),
        clients: 2,
        client_id_len: (1, 128),
        topic_max: 1024,
        payload_max: 10240,
        will_topic_max: 1024,
        will_payload_max: 1024,
        max_qos: 2,
        keepalive: (1, 64800),
        credential_max: 256,
        server_addr_len: (9, 256),
        tls: true,
        will: true,
        will_retain: false,
        retain: true,
        empty_payload: true,
    };
    match profile {
        "a7600" | "sim7600" | "sim7500" | "sim7070" => Some(base),
        // Server address 1-128 bytes (seeds/001 §3.2.8); "tcp://h:1" is the shortest.
        "sim7028" => Some(Capabilities {
            clients: 1,
            client_id_len: (1, 256),
            server_addr_len: (9, 128),
            ..base
        }),
        _ => None,
    }
}

/// Picks the profile from the model name (`AT+CGMM`).
pub fn profile_for_model(model: &str) -> &'static str {
    let m = model.to_ascii_uppercase();
    if m.contains("SIM7028") {
        "sim7028"
    } else if m.contains("SIM7600") {
        "sim7600"
    } else {
        "a7600"
    }
}

pub fn raw_rules() -> Vec<RawRule> {
    vec![
        RawRule::Trailing {
            prefix: b"+CMQTTRXTOPIC:".to_vec(),
            len_field: 1,
        },
        RawRule::Trailing {
            prefix: b"+CMQTTRXPAYLOAD:".to_vec(),
            len_field: 1,
        },
    ]
}

/// Splits `+NAME: a,b,c` into its numeric fields.
fn int_fields(line: &[u8]) -> Vec<i64> {
    let text = String::from_utf8_lossy(line);
    let body = text.split_once(':').map(|(_, b)| b).unwrap_or("");
    body.split(',')
        .filter_map(|f| f.trim().parse().ok())
        .collect()
}

#[derive(Debug, Default)]
struct Rx {
    topic_total: usize,
    payload_total: usize,
    topic: Vec<u8>,
    payload: Vec<u8>,
}

/// URC routing and reassembly for all clients of one modem.
struct Router {
    engine: crate::engine::WeakEngine,
    clients: Mutex<Vec<Option<Arc<ClientShared>>>>,
    rx: Mutex<Vec<Option<Rx>>>,
    /// Counts `+CMQTTNONET`: the network closed and the service with it, so the service
    /// must be started and the clients acquired again.
    nonet: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Router {
    fn client(&self, idx: usize) -> Option<Arc<ClientShared>> {
        lock(&self.clients).get(idx).cloned().flatten()
    }

    fn on_frame(&self, frame: &Frame) {
        match frame {
            Frame::Raw { header, data } => {
                let f = int_fields(header);
                let Some(&idx) = f.first() else { return };
                let mut rx = lock(&self.rx);
                let Some(Some(cur)) = rx.get_mut(idx as usize) else {
                    log::warn!(
                        "cmqtt: {} without +CMQTTRXSTART",
                        String::from_utf8_lossy(header)
                    );
                    return;
                };
                if header.starts_with(b"+CMQTTRXTOPIC:") {
                    cur.topic.extend_from_slice(data);
                } else {
                    cur.payload.extend_from_slice(data);
                }
            }
            Frame::Line(line) => self.on_line(line),
            _ => {}
        }
    }

    fn on_line(&self, line: &[u8]) {
        let f = int_fields(line);
        let Some(&idx) = f.first() else { return };
        let Ok(idx) = usize::try_from(idx) else {
            return;
        };
        if line.starts_with(b"+CMQTTRXSTART:") {
            let mut rx = lock(&self.rx);
            if let Some(slot) = rx.get_mut(idx) {
                if slot.is_some() {
                    log::warn!(
                        "cmqtt: client {idx}: +CMQTTRXSTART before the previous message ended"
                    );
                }
                *slot = Some(Rx {
                    topic_total: f.get(1).copied().unwrap_or(0).max(0) as usize,
                    payload_total: f.get(2).copied().unwrap_or(0).max(0) as usize,
                    ..Rx::default()
                });
            }
        } else if line.starts_with(b"+CMQTTRXEND:") {
            let done = lock(&self.rx).get_mut(idx).and_then(Option::take);
            let Some(rx) = done else {
                log::warn!("cmqtt: client {idx}: +CMQTTRXEND without +CMQTTRXSTART");
                return;
            };
            if rx.topic.len() != rx.topic_total || rx.payload.len() != rx.payload_total {
                log::warn!(
                    "cmqtt: client {idx}: message lengths differ from +CMQTTRXSTART (topic {}/{}, payload {}/{})",
                    rx.topic.len(),
                    rx.topic_total,
                    rx.payload.len(),
                    rx.payload_total
                );
            }
            let topic = match String::from_utf8(rx.topic) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("cmqtt: client {idx}: topic is not UTF-8");
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            let msg = Message {
                topic,
                payload: rx.payload,
                qos: None,
                retain: None,
                client_index: idx as u8,
                received_at: SystemTime::now(),
            };
            match self.client(idx) {
                Some(c) => c.deliver(msg),
                None => {
                    log::warn!("cmqtt: message for client {idx}, which is not open here; dropped")
                }
            }
        } else if line.starts_with(b"+CMQTTCONNLOST:") {
            let cause = f.get(1).copied().unwrap_or(0) as i32;
            // A publish or subscribe of this client waiting for its result URC will not
            // get one now. Before the listeners hear of the loss: one of them may start
            // the next command at once, which this must not catch.
            if let Some(engine) = self.engine.upgrade() {
                let tail = format!(": {idx},");
                engine.abort_waiting_for(connlost_reason(cause), |p| {
                    p.starts_with(b"+CMQTT") && p.ends_with(tail.as_bytes())
                });
            }
            if let Some(c) = self.client(idx) {
                c.connection_lost(cause, connlost_reason(cause));
            }
        }
    }

    fn all_lost(&self, cause: i32, reason: &str) {
        for c in lock(&self.clients).iter().flatten() {
            c.connection_lost(cause, reason);
        }
    }
}

/// Modem-wide CMQTT state: the service, and the clients open on it.
pub struct Context {
    engine: Engine,
    caps: Capabilities,
    router: Arc<Router>,
    /// The service generation (see [`Context::service_gen`]) in which the service was
    /// started, if it is.
    started: Mutex<Option<(u64, u64)>>,
    handler_ids: Vec<u64>,
}

impl Context {
    pub fn new(engine: Engine, profile: &str) -> Result<Arc<Context>> {
        let caps = capabilities(profile)
            .ok_or_else(|| Error::invalid(format!("profile: unknown CMQTT profile {profile:?}")))?;
        let n = caps.clients as usize;
        let router = Arc::new(Router {
            engine: engine.downgrade(),
            clients: Mutex::new(vec![None; n]),
            rx: Mutex::new((0..n).map(|_| None).collect()),
            nonet: std::sync::atomic::AtomicU64::new(0),
        });
        for rule in raw_rules() {
            engine.add_raw_rule(rule);
        }
        let (r1, r2, r3) = (router.clone(), router.clone(), router.clone());
        let mut handler_ids = super::common::add_handlers(
            &engine,
            &[b"+CMQTTRX", b"+CMQTTCONNLOST:"],
            move |f: &Frame| r1.on_frame(f),
            move || {
                lock(&r2.rx).iter_mut().for_each(|slot| *slot = None);
                r2.all_lost(CAUSE_RESTARTED, "modem restarted");
            },
            move |reason: &str| r3.all_lost(CAUSE_PORT_LOST, reason),
        );
        let r = router.clone();
        handler_ids.push(engine.add_urc_handler(
            b"+CMQTTNONET",
            Arc::new(move |_f: &Frame| {
                r.nonet.fetch_add(1, Ordering::SeqCst);
                r.all_lost(3, "network closed")
            }),
        ));
        Ok(Arc::new(Context {
            engine,
            caps,
            router,
            started: Mutex::new(None),
            handler_ids,
        }))
    }

    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// What a started service and an acquired client last as long as: the modem's boot
    /// and the network (`+CMQTTNONET` stops the service).
    fn service_gen(&self) -> (u64, u64) {
        (
            self.engine.boot_generation(),
            self.router.nonet.load(Ordering::SeqCst),
        )
    }

    /// Reserves client `index` after checking the arguments; nothing is sent yet. The first
    /// `connect` starts the service if needed, clears what a previous run left on the index
    /// (connected or acquired) and acquires it.
    pub fn open_client(
        self: &Arc<Self>,
        client_id: &str,
        index: u8,
        options: &mqtt::ClientOptions,
    ) -> Result<(Arc<CmqttClient>, Arc<ClientShared>)> {
        mqtt::check_client(&self.caps, index, client_id)?;
        options.check()?;
        if self.router.client(index as usize).is_some() {
            return Err(Error::invalid(format!(
                "index: client {index} is already open on this modem"
            )));
        }
        let shared = ClientShared::new(index, options.queue_size);
        let client = Arc::new(CmqttClient {
            ctx: self.clone(),
            index,
            client_id: client_id.to_string(),
            shared: shared.clone(),
            check_utf8: options.check_utf8,
            op_timeout: options.op_timeout,
            publish_timeout: options.publish_timeout,
            acquired_ssl: Mutex::new(None),
            will_set: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        lock(&self.router.clients)[index as usize] = Some(shared.clone());
        Ok((client, shared))
    }

    fn ensure_started(&self) -> Result<()> {
        let mut started = lock(&self.started);
        let gen = self.service_gen();
        if *started == Some(gen) {
            return Ok(());
        }
        let cmd = Command::new(build("AT+CMQTTSTART", &[])?, Duration::from_secs(125))
            .with_expect(Expect::prefix(b"+CMQTTSTART:".to_vec()));
        let r = self.engine.execute_raw(cmd)?;
        let code = r
            .urc
            .as_deref()
            .map(int_fields)
            .and_then(|f| f.first().copied());
        match code {
            Some(0) => {}
            Some(c) if c == ALREADY_STARTED as i64 => log::debug!("cmqtt: service already started"),
            Some(c) => {
                let code = c as i32;
                return Err(Error::Mqtt {
                    operation: "start".into(),
                    code,
                    name: error_name(code),
                });
            }
            // The A7600 manual answers a second START with a bare ERROR (seeds/003 §2.1.1);
            // a `+CME ERROR` says something else and is reported.
            None if r.final_result == crate::at::FinalResult::Error => {
                log::debug!("cmqtt: service already started")
            }
            None if !r.final_result.is_ok() => {
                return Err(Error::from_final("AT+CMQTTSTART", &r.final_result))
            }
            None => {
                return Err(Error::Protocol(
                    "AT+CMQTTSTART: OK without +CMQTTSTART".into(),
                ))
            }
        }
        *started = Some(gen);
        Ok(())
    }

    fn client_closed(&self, index: u8) -> Result<()> {
        let any_left = {
            let mut clients = lock(&self.router.clients);
            if let Some(slot) = clients.get_mut(index as usize) {
                *slot = None;
            }
            clients.iter().any(Option::is_some)
        };
        if any_left {
            return Ok(());
        }
        let mut started = lock(&self.started);
        if started.take() != Some(self.service_gen()) {
            return Ok(());
        }
        let cmd = Command::new(build("AT+CMQTTSTOP", &[])?, Duration::from_secs(30))
            .with_expect(Expect::prefix(b"+CMQTTSTOP:".to_vec()));
        let r = self.engine.execute_raw(cmd)?;
        if let Some(code) = r
            .urc
            .as_deref()
            .map(int_fields)
            .and_then(|f| f.first().copied())
        {
            if code != 0 {
                log::warn!(
                    "cmqtt: AT+CMQTTSTOP reported {} ({code})",
                    error_name(code as i32)
                );
            }
        }
        Ok(())
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        for id in &self.handler_ids {
            self.engine.remove_handler(*id);
        }
    }
}

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
        let connected = r.lines.iter().any(|f| match f {
            Frame::Line(l) if l.starts_with(b"+CMQTTDISC:") => {
                let f = int_fields(l);
                f.first() == Some(&self.idx()) && f.get(1) == Some(&0)
            }
            _ => false,
        });
        if connected {
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
        let r = self.simple(
            "configure",
            "CMQTTCFG",
            "AT+CMQTTCFG",
            &[
                Arg::Str("checkUTF8"),
                Arg::Int(self.idx()),
                Arg::Int(flag as i64),
            ],
            CMD,
        );
        match r {
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
            self.simple(
                "configure",
                "CMQTTCFG",
                "AT+CMQTTCFG",
                &[
                    Arg::Str("optimeout"),
                    Arg::Int(self.idx()),
                    Arg::Int(t as i64),
                ],
                CMD,
            )?;
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
        let text = c.line.text().to_string();
        let r = self.engine().execute_raw(c)?;
        if !r.final_result.is_ok() {
            return Err(Error::from_final(&text, &r.final_result));
        }
        Ok(())
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
    fn capabilities(&self) -> &Capabilities {
        &self.ctx.caps
    }

    fn index(&self) -> u8 {
        self.index
    }

    fn client_id(&self) -> &str {
        &self.client_id
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

    fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        timeout: Option<Duration>,
    ) -> Result<()> {
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

/// The URC prefixes [`Context`] registers and a handler routing frames exactly as its
/// handlers do, for `clients` (position = client index). For the fuzz targets and the
/// framing property tests (`modemqtt::fuzzing`), which drive the router without an engine.
#[doc(hidden)]
pub fn urc_router(clients: &[Arc<ClientShared>]) -> (Vec<Vec<u8>>, crate::engine::UrcHandler) {
    let router = Router {
        engine: crate::engine::WeakEngine::detached(),
        clients: Mutex::new(clients.iter().cloned().map(Some).collect()),
        rx: Mutex::new(clients.iter().map(|_| None).collect()),
        nonet: std::sync::atomic::AtomicU64::new(0),
    };
    let prefixes = [
        &b"+CMQTTRX"[..],
        b"+CMQTTCONNLOST:",
        b"+CMQTTNONET",
        crate::engine::BOOT_URC,
    ];
    let handler = Arc::new(move |f: &Frame| {
        let head = match f {
            Frame::Line(l) => l.as_slice(),
            Frame::Raw { header, .. } => header.as_slice(),
            _ => return,
        };
        if head.starts_with(b"+CMQTTNONET") {
            router.nonet.fetch_add(1, Ordering::SeqCst);
            router.all_lost(3, "network closed");
        } else if head.starts_with(crate::engine::BOOT_URC) {
            lock(&router.rx).iter_mut().for_each(|slot| *slot = None);
            router.all_lost(CAUSE_RESTARTED, "modem restarted");
        } else {
            router.on_frame(f);
        }
    });
    (prefixes.iter().map(|p| p.to_vec()).collect(), handler)
}
