//! The I/O engine: a thin driver around the sans-IO [`Session`].
//!
//! One reader thread per open port reads bytes, feeds the session and carries out what it
//! asks (write the data after a prompt, route a URC, complete a command). A caller that
//! executes a command submits it, then waits on a channel until the reader thread reports
//! the outcome or the session's next deadline passes; there is no polling timer thread.
//! Exactly one command is in flight: a token channel serialises callers, each with its own
//! deadline. URC handlers run on the reader thread and must not block (push to a channel).

pub mod memport;
pub mod record;
pub use crate::transcript;
mod wire;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::at::session::{implied_prefix, Command, Outcome, Session};
use crate::at::{CommandLine, FinalResult, Frame, RawRule};
use crate::error::{Error, Result};
use crate::port::{self, OpenedPort};
use crate::waits;
pub use record::Recorder;
pub use transcript::{Direction, Entry, Transcript};
use wire::{abort_if, pump, reader_loop, write_all};

/// What a completed command returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub lines: Vec<Frame>,
    pub final_result: FinalResult,
    /// The result URC the command waited for, if it asked for one.
    pub urc: Option<Vec<u8>>,
    pub progress: Vec<Vec<u8>>,
}

impl Response {
    /// The text lines of the response (raw blocks give their header).
    pub fn text_lines(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|f| match f {
                Frame::Line(l) => Some(String::from_utf8_lossy(l).into_owned()),
                Frame::Raw { header, .. } => Some(String::from_utf8_lossy(header).into_owned()),
                _ => None,
            })
            .collect()
    }

    /// The first line starting with `prefix`, with the prefix and following spaces removed.
    pub fn value(&self, prefix: &str) -> Option<String> {
        self.text_lines()
            .into_iter()
            .find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_string()))
    }
}

/// The line a modem prints when it has (re)started.
pub const BOOT_URC: &[u8] = b"RDY";

/// Where the reader thread leaves what the waiting caller needs. A mutex and a condition
/// variable rather than a channel: a channel's receiver spins (yielding the core) before it
/// sleeps, which on a busy 2-core machine takes the core from the very threads that would
/// produce the answer.
#[derive(Default)]
struct Mailbox {
    queue: Mutex<std::collections::VecDeque<Wake>>,
    ready: std::sync::Condvar,
}

impl Mailbox {
    fn push(&self, w: Wake) {
        lock(&self.queue).push_back(w);
        self.ready.notify_one();
    }

    fn clear(&self) {
        lock(&self.queue).clear();
    }

    /// The next item, or `None` once `deadline` has passed.
    fn recv_deadline(&self, deadline: Instant) -> Option<Wake> {
        let mut q = lock(&self.queue);
        loop {
            if let Some(w) = q.pop_front() {
                return Some(w);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            q = match self.ready.wait_timeout(q, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// What wakes a caller waiting for its command.
enum Wake {
    Done(Outcome),
    /// The session's next deadline moved: ask it again.
    Timer,
}

pub type UrcHandler = Arc<dyn Fn(&Frame) + Send + Sync>;
pub type LossHandler = Arc<dyn Fn(&str) + Send + Sync>;

struct Handler {
    id: u64,
    prefix: Vec<u8>,
    f: UrcHandler,
}

struct Inner {
    name: String,
    session: Mutex<Session>,
    writer: Mutex<Box<dyn Write + Send>>,
    token_tx: Sender<()>,
    token_rx: Receiver<()>,
    done: Mailbox,
    handlers: RwLock<Vec<Handler>>,
    catch_all: RwLock<Option<UrcHandler>>,
    loss_handlers: RwLock<Vec<(u64, LossHandler)>>,
    next_id: AtomicU64,
    transcript: Mutex<Transcript>,
    /// Where every tx/rx chunk is also appended (masked), if recording.
    recorder: RwLock<Option<Arc<Recorder>>>,
    dead: Mutex<Option<String>>,
    stop: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
    guard: Mutex<Option<Box<dyn std::any::Any + Send + Sync>>>,
    /// Wakes the reader thread out of a blocking read (transports that have one).
    waker: Option<port::wake::Waker>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Counts modem boots seen (`RDY`); commands in `setup` run again after each.
    boot_gen: AtomicU64,
    setup_gen: AtomicU64,
    setup: Mutex<Vec<Command>>,
}

/// See [`Engine::downgrade`].
#[derive(Clone)]
pub struct WeakEngine(std::sync::Weak<Inner>);

impl WeakEngine {
    /// A handle that never upgrades (routers driven without an engine, e.g. by fuzzers).
    pub fn detached() -> WeakEngine {
        WeakEngine(std::sync::Weak::new())
    }

    pub fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

/// A handle on an open port; cheap to clone, shared by the modem and its clients.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Opens `url` and starts the reader thread. Does not talk to the modem yet.
    pub fn open(url: &str, baudrate: u32) -> Result<Engine> {
        let opened = port::open(url, baudrate)?;
        Ok(Engine::start(opened))
    }

    /// Starts an engine on an already opened transport (tests use in-memory ports).
    pub fn start(opened: OpenedPort) -> Engine {
        let OpenedPort {
            reader,
            writer,
            name,
            guard,
            waker,
        } = opened;
        let (token_tx, token_rx) = bounded(1);
        let _ = token_tx.send(());

        let inner = Arc::new(Inner {
            name,
            session: Mutex::new(Session::new()),
            writer: Mutex::new(writer),
            token_tx,
            token_rx,
            done: Mailbox::default(),
            handlers: RwLock::new(Vec::new()),
            catch_all: RwLock::new(None),
            loss_handlers: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(1),
            transcript: Mutex::new(Transcript::new(transcript::DEFAULT_TRANSCRIPT_BYTES)),
            recorder: RwLock::new(None),
            dead: Mutex::new(None),
            stop: AtomicBool::new(false),
            reader: Mutex::new(None),
            guard: Mutex::new(guard),
            waker,
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            boot_gen: AtomicU64::new(0),
            setup_gen: AtomicU64::new(0),
            setup: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&inner);
        let thread_name = format!("modemqtt-rx {}", inner.name);
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || reader_loop(weak, reader));
        match handle {
            Ok(h) => *lock(&inner.reader) = Some(h),
            Err(e) => *lock(&inner.dead) = Some(format!("cannot start reader thread: {e}")),
        }
        let engine = Engine { inner };
        engine.add_boot_line(BOOT_URC);
        engine
    }

    /// Takes lines starting with `line` as the modem's restart, like `RDY` (ESP-AT prints
    /// `ready`): commands in `setup` run again and the command in flight is given up.
    pub fn add_boot_line(&self, line: &[u8]) -> u64 {
        let weak = Arc::downgrade(&self.inner);
        self.add_urc_handler(
            line,
            Arc::new(move |_f: &Frame| {
                if let Some(inner) = weak.upgrade() {
                    log::info!("{}: the modem restarted", inner.name);
                    inner.boot_gen.fetch_add(1, Ordering::SeqCst);
                    // Nothing the modem was doing survives: do not wait for its answer.
                    abort_if(&inner, "the modem restarted", true, |_| true);
                }
            }),
        )
    }

    /// Ends the command in flight at once when `matches` accepts the result URC prefix it
    /// waits for (e.g. `+CMQTTPUB: 0,` when client 0's link is lost): that answer will not
    /// come. Meant for
    /// URC handlers, which run on the reader thread with no lock held.
    pub fn abort_waiting_for(&self, reason: &str, matches: impl Fn(&[u8]) -> bool) {
        abort_if(&self.inner, reason, false, |waits| {
            waits.is_some_and(&matches)
        });
    }

    /// A handle that does not keep the engine alive (for URC handlers, which the engine
    /// owns).
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// How many times the modem was seen restarting (`RDY`) since the port was opened.
    pub fn boot_generation(&self) -> u64 {
        self.inner.boot_gen.load(Ordering::SeqCst)
    }

    /// Commands that put the modem in the state the engine needs (`ATE0`, ...): they run
    /// again before the next command whenever the modem restarted.
    pub fn set_setup(&self, cmds: Vec<Command>) {
        *lock(&self.inner.setup) = cmds;
        self.inner
            .setup_gen
            .store(self.boot_generation(), Ordering::SeqCst);
    }

    fn run_setup_if_rebooted(&self, deadline: Instant) {
        let inner = &self.inner;
        let gen = inner.boot_gen.load(Ordering::SeqCst);
        if inner.setup_gen.swap(gen, Ordering::SeqCst) == gen {
            return;
        }
        let cmds = lock(&inner.setup).clone();
        for mut cmd in cmds {
            cmd.timeout = cmd
                .timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            if cmd.timeout.is_zero() {
                break;
            }
            let text = cmd.line.text().to_string();
            match self.run_locked(cmd, deadline) {
                Ok(Outcome::Complete { .. }) => log::debug!("{}: {text} after restart", inner.name),
                Ok(other) => log::warn!("{}: {text} after restart: {other:?}", inner.name),
                Err(e) => log::warn!("{}: {text} after restart: {e}", inner.name),
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether the port has failed or been closed.
    pub fn failure(&self) -> Option<String> {
        lock(&self.inner.dead).clone()
    }

    pub fn is_closed(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }

    /// Frames whose header starts with `rule`'s prefix carry raw bytes.
    pub fn add_raw_rule(&self, rule: RawRule) {
        lock(&self.inner.session).add_raw_rule(rule);
    }

    /// Registers a handler for unsolicited frames starting with `prefix`; the prefix also
    /// tells the session such lines are URCs even while a command is in flight.
    pub fn add_urc_handler(&self, prefix: &[u8], f: UrcHandler) -> u64 {
        lock(&self.inner.session).add_urc_prefix(prefix);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut handlers = self
            .inner
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        handlers.push(Handler {
            id,
            prefix: prefix.to_vec(),
            f,
        });
        id
    }

    /// Declares lines starting with `prefix` as unsolicited without handling them.
    pub fn add_urc_prefix(&self, prefix: &[u8]) {
        lock(&self.inner.session).add_urc_prefix(prefix);
    }

    pub fn remove_handler(&self, id: u64) {
        self.inner
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|h| h.id != id);
        self.inner
            .loss_handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(i, _)| *i != id);
    }

    /// Every unsolicited frame is also offered here (Python's `on_urc`).
    pub fn set_catch_all(&self, f: Option<UrcHandler>) {
        *self
            .inner
            .catch_all
            .write()
            .unwrap_or_else(|p| p.into_inner()) = f;
    }

    /// Called once when the port fails (unplugged, closed by the far end).
    pub fn on_port_loss(&self, f: LossHandler) -> u64 {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .loss_handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, f));
        id
    }

    /// Masks `secret` in the transcript and wire log from now on.
    pub fn add_secret(&self, secret: &[u8]) {
        lock(&self.inner.transcript).add_secret(secret);
    }

    /// Appends every chunk written or read from now on to `recorder` (None: stop).
    pub fn set_recorder(&self, recorder: Option<Arc<Recorder>>) {
        let old = std::mem::replace(
            &mut *self
                .inner
                .recorder
                .write()
                .unwrap_or_else(|p| p.into_inner()),
            recorder,
        );
        if let Some(r) = old {
            r.close();
        }
    }

    pub fn transcript(&self) -> Vec<Entry> {
        lock(&self.inner.transcript).entries()
    }

    pub fn set_transcript_limit(&self, max_bytes: usize) {
        let mut t = lock(&self.inner.transcript);
        let secrets_kept = std::mem::replace(&mut *t, Transcript::new(max_bytes));
        drop(secrets_kept);
    }

    pub fn counters(&self) -> (u64, u64) {
        (
            self.inner.bytes_in.load(Ordering::Relaxed),
            self.inner.bytes_out.load(Ordering::Relaxed),
        )
    }

    /// Executes `cmd`; a final result other than OK is returned, not raised.
    pub fn execute_raw(&self, cmd: Command) -> Result<Response> {
        self.execute_raw_hold(cmd, Duration::ZERO)
    }

    /// Like [`Engine::execute_raw`], but keeps the turn for `hold` after the command ended,
    /// so that nothing else is sent while the modem is still busy with it (Alibaba
    /// `AT+CMYIELD=<t>` answers `OK` first, then reports for `t` milliseconds). Unsolicited
    /// lines keep flowing to their handlers meanwhile.
    pub fn execute_raw_hold(&self, mut cmd: Command, hold: Duration) -> Result<Response> {
        let inner = &self.inner;
        let started = Instant::now();
        // The calling thread's cap (e.g. `close()`'s overall bound) shortens the command.
        let deadline = waits::capped(started + cmd.timeout);
        let text = cmd.line.text().to_string();
        // What the caller waited in the end (the command's own, or what its cap left).
        let timeout = deadline.saturating_duration_since(started);
        if let Some(reason) = self.failure() {
            return Err(Error::Port(reason));
        }
        if deadline <= started {
            return Err(Error::Timeout {
                command: text,
                waited_for: "its turn (the caller's time was up before it was sent)".into(),
                timeout,
            });
        }
        self.take_turn(&text, deadline, timeout)?;
        self.run_setup_if_rebooted(deadline);
        cmd.timeout = deadline.saturating_duration_since(Instant::now());
        let result = self.run_locked(cmd, deadline);
        if !hold.is_zero() && result.is_ok() && self.failure().is_none() {
            waits::sleep(hold);
        }
        let _ = inner.token_tx.send(());
        // The wait loop asked the check when it mattered: only read what it found (asking
        // again here would take the interpreter once per command).
        let interrupted = waits::was_interrupted();
        match result? {
            Outcome::TimedOut { .. } | Outcome::Aborted(_) if interrupted => {
                Err(Error::Interrupted(text))
            }
            Outcome::Complete {
                lines,
                final_result,
                urc,
                progress,
            } => Ok(Response {
                lines,
                final_result,
                urc,
                progress,
            }),
            Outcome::TimedOut { waited_for, .. } => Err(Error::Timeout {
                command: text,
                waited_for,
                timeout,
            }),
            Outcome::Failed(reason) => Err(Error::Port(reason)),
            Outcome::Aborted(reason) => Err(Error::Other(format!("{text}: {reason}"))),
        }
    }

    /// Executes `cmd` and turns a final result other than OK into [`Error::Command`].
    pub fn execute(&self, cmd: Command) -> Result<Response> {
        let text = cmd.line.text().to_string();
        let response = self.execute_raw(cmd)?;
        if response.final_result.is_ok() {
            Ok(response)
        } else {
            Err(Error::from_final(&text, &response.final_result))
        }
    }

    /// Sends a user-typed command line (`AT+CSQ`) and collects its response.
    pub fn command(
        &self,
        text: &str,
        timeout: Duration,
        data: Option<Vec<u8>>,
    ) -> Result<Response> {
        self.command_adjusted(text, timeout, data, &|_: &mut Command| {})
    }

    /// [`Engine::command`], with `adjust` changing the command before it is sent (a
    /// family's own answer shapes, e.g. ESP-AT's `OK` before the prompt).
    pub fn command_adjusted(
        &self,
        text: &str,
        timeout: Duration,
        data: Option<Vec<u8>>,
        adjust: &dyn Fn(&mut Command),
    ) -> Result<Response> {
        let line = CommandLine::raw(text)?;
        // The secrets it carries are masked in what the modem sends back too (an echo).
        for secret in crate::at::secrets::mask_line(text).1 {
            self.add_secret(secret.as_bytes());
        }
        let mut cmd = Command::new(line, timeout);
        if let Some(prefix) = implied_prefix(text.trim().as_bytes()) {
            cmd.response_prefixes.push(prefix);
        }
        if let Some(d) = data {
            cmd = cmd.with_data(d);
            cmd.data_secret = crate::at::secrets::data_is_secret(text);
        }
        adjust(&mut cmd);
        self.execute(cmd)
    }

    /// Waits for the one-command-at-a-time token until `deadline`, asking the caller's
    /// interrupt check meanwhile.
    fn take_turn(&self, text: &str, deadline: Instant, timeout: Duration) -> Result<()> {
        loop {
            let until = waits::next_check(deadline);
            if self.inner.token_rx.recv_deadline(until).is_ok() {
                return Ok(());
            }
            if waits::interrupted() {
                return Err(Error::Interrupted(text.to_string()));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    command: text.to_string(),
                    waited_for: "its turn (another command is still running)".into(),
                    timeout,
                });
            }
        }
    }

    fn run_locked(&self, cmd: Command, deadline: Instant) -> Result<Outcome> {
        let inner = &self.inner;
        // Drop an outcome left over from an earlier command (cannot normally happen).
        inner.done.clear();
        {
            let mut session = lock(&inner.session);
            if let Some(reason) = self.failure() {
                return Err(Error::Port(reason));
            }
            session
                .submit(Instant::now(), cmd)
                .map_err(|e| Error::Other(e.to_string()))?;
            self.pump(session);
        }
        loop {
            let wake = lock(&inner.session).poll_timeout().unwrap_or(deadline);
            match inner.done.recv_deadline(waits::next_check(wake)) {
                Some(Wake::Done(outcome)) => return Ok(outcome),
                // The deadline passed, or it moved: let the session look at the clock.
                Some(Wake::Timer) | None => {
                    let mut session = lock(&inner.session);
                    if waits::interrupted() {
                        // The caller gives up: the command ends now, as on a timeout, and
                        // a late answer is dealt with like a timed-out command's.
                        session.expire(Instant::now());
                    } else {
                        session.handle_timeout(Instant::now());
                    }
                    self.pump(session);
                }
            }
        }
    }

    /// Carries out the session's events. Takes the session lock and releases it before
    /// writing, holding the writer lock across the handover so writes keep their order.
    fn pump(&self, session: MutexGuard<'_, Session>) {
        pump(&self.inner, session);
    }

    /// Writes bytes that are not a command (e.g. `+++` or data outside a prompt).
    pub fn write_raw(&self, bytes: &[u8]) -> Result<()> {
        write_all(&self.inner, bytes, bytes)
    }

    /// Stops the reader thread and frees the port. Idempotent.
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            let mut dead = lock(&inner.dead);
            if dead.is_none() {
                *dead = Some(format!("{} is closed", inner.name));
            }
        }
        lock(&inner.session).fail("the port was closed");
        pump(inner, lock(&inner.session));
        if let Some(w) = &inner.waker {
            w.wake();
        }
        let handle = lock(&inner.reader).take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        // Dropping the writer frees the device (the reader half went with its thread).
        *lock(&inner.writer) = Box::new(std::io::sink());
        lock(&inner.guard).take();
        self.set_recorder(None);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(w) = &self.waker {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests;
