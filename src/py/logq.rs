//! Hands the core's log records to Python on a thread of their own.
//!
//! Passing a record to Python's `logging` needs the interpreter. A thread that logs while it
//! holds one of the engine's locks (the session, say) would otherwise wait for the
//! interpreter while the thread that holds the interpreter waits for that lock (closing a
//! modem from a destructor): a deadlock, and at interpreter exit a hang, since threads that
//! ask for the interpreter then never get it. So `log()` only formats the record and queues
//! it; the `modemqtt-log` thread forwards it. Filtering stays where it was: the inner
//! logger's `enabled()` never needs the interpreter.

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records waiting for the forwarding thread; more are dropped (and counted) rather than
/// making a logging thread wait.
const QUEUE: usize = 65_536;

struct Line {
    level: log::Level,
    target: String,
    text: String,
    module: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

/// A logger that forwards to `inner` from its own thread.
pub struct Queued<L: log::Log + 'static> {
    inner: Arc<L>,
    tx: Sender<Line>,
    dropped: Arc<AtomicU64>,
    queued: AtomicU64,
    /// Records the forwarding thread has passed on (or dropped).
    done: Arc<AtomicU64>,
}

impl<L: log::Log + 'static> Queued<L> {
    pub fn new(inner: L) -> Self {
        let inner = Arc::new(inner);
        let (tx, rx) = bounded(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let (fwd, lost, passed) = (inner.clone(), dropped.clone(), done.clone());
        let spawned = std::thread::Builder::new()
            .name("modemqtt-log".into())
            .spawn(move || forward(&*fwd, rx, &lost, &passed));
        if let Err(e) = spawned {
            eprintln!("modemqtt: cannot start the logging thread: {e}");
        }
        Queued {
            inner,
            tx,
            dropped,
            queued: AtomicU64::new(0),
            done,
        }
    }
}

fn forward<L: log::Log>(inner: &L, rx: Receiver<Line>, dropped: &AtomicU64, done: &AtomicU64) {
    while let Ok(l) = rx.recv() {
        // Once the interpreter exits, records are dropped (see gate.rs).
        let _ = super::gate::enter(|| forward_one(inner, l, dropped));
        done.fetch_add(1, Ordering::Release);
    }
}

fn forward_one<L: log::Log>(inner: &L, l: Line, dropped: &AtomicU64) {
    {
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            inner.log(
                &log::Record::builder()
                    .level(log::Level::Warn)
                    .target("modemqtt")
                    .args(format_args!(
                        "{lost} log record(s) dropped: they came faster than Python took them"
                    ))
                    .build(),
            );
        }
        inner.log(
            &log::Record::builder()
                .level(l.level)
                .target(&l.target)
                .module_path(l.module.as_deref())
                .file(l.file.as_deref())
                .line(l.line)
                .args(format_args!("{}", l.text))
                .build(),
        );
    }
}

impl<L: log::Log + 'static> log::Log for Queued<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let line = Line {
            level: record.level(),
            target: record.target().to_string(),
            text: record.args().to_string(),
            module: record.module_path().map(str::to_string),
            file: record.file().map(str::to_string),
            line: record.line(),
        };
        match self.tx.try_send(line) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Release);
            }
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Waits (at most 2 s) until what was queued so far has reached Python. Call it with
    /// the interpreter released: the forwarding thread needs it.
    fn flush(&self) {
        let target = self.queued.load(Ordering::Acquire);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.done.load(Ordering::Acquire) < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
