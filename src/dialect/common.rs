//! What the dialects share in setting up on an engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::at::Frame;
use crate::engine::{Engine, UrcHandler, BOOT_URC};
use crate::error::Error;

/// Locks `m`, taking the data over from a holder that panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers `on_frame` for the URCs that start with one of `prefixes`, `restarted` for the
/// modem's boot URC and `port_lost` for the loss of the port. Returns the handler ids, for
/// `Engine::remove_handler` when the dialect goes.
pub(crate) fn add_handlers(
    engine: &Engine,
    prefixes: &[&[u8]],
    on_frame: impl Fn(&Frame) + Send + Sync + 'static,
    restarted: impl Fn() + Send + Sync + 'static,
    port_lost: impl Fn(&str) + Send + Sync + 'static,
) -> Vec<u64> {
    let on_frame: Arc<dyn Fn(&Frame) + Send + Sync> = Arc::new(on_frame);
    let mut ids: Vec<u64> = prefixes
        .iter()
        .map(|prefix| engine.add_urc_handler(prefix, on_frame.clone()))
        .collect();
    ids.push(engine.add_urc_handler(BOOT_URC, Arc::new(move |_f: &Frame| restarted())));
    ids.push(engine.on_port_loss(Arc::new(port_lost)));
    ids
}

/// The error for opening a client on an index that already has one open.
pub(crate) fn already_open(index: u8) -> Error {
    Error::invalid(format!(
        "index: client {index} is already open on this modem"
    ))
}

/// Handler ids registered on an engine; dropping this removes them.
pub(crate) struct Handlers {
    engine: Engine,
    ids: Vec<u64>,
}

impl Handlers {
    pub(crate) fn new(engine: &Engine, ids: Vec<u64>) -> Self {
        Self {
            engine: engine.clone(),
            ids,
        }
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        for id in &self.ids {
            self.engine.remove_handler(*id);
        }
    }
}

/// What one step of a message reader did.
pub(crate) enum ReadStep {
    /// Read a message: the next step follows at once.
    Read,
    /// Nothing read: the next step waits for a wake-up or the backoff.
    Idle,
    /// The reader ends.
    Stop,
}

/// A message reader thread's loop: runs `step` until it stops or `stop` is set; after an
/// idle step it waits for `wake` at most the backoff, which doubles from 50 ms up to 1 s
/// and starts again at 50 ms after a read.
pub(crate) fn reader_loop(
    wake: &Receiver<()>,
    stop: &AtomicBool,
    mut step: impl FnMut() -> ReadStep,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match step() {
            ReadStep::Read => {
                backoff = Duration::from_millis(50);
                continue;
            }
            ReadStep::Idle => {}
            ReadStep::Stop => return,
        }
        match wake.recv_timeout(backoff.min(Duration::from_secs(1))) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) => backoff = (backoff * 2).min(Duration::from_secs(1)),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Splits `+NAME: a,b,c` into its numeric fields.
pub(crate) fn int_fields(line: &[u8]) -> Vec<i64> {
    let text = String::from_utf8_lossy(line);
    let body = text.split_once(':').map(|(_, b)| b).unwrap_or("");
    body.split(',')
        .filter_map(|f| f.trim().parse().ok())
        .collect()
}

/// A handler routing frames to `router` as a context's engine handlers do: the boot URC
/// to `restarted`, every other frame to `on_frame` (for a family's `urc_router`).
pub(crate) fn routing_handler<R: Send + Sync + 'static>(
    router: R,
    on_frame: fn(&R, &Frame),
    restarted: fn(&R),
) -> UrcHandler {
    Arc::new(move |f: &Frame| {
        if matches!(f, Frame::Line(l) if l.starts_with(BOOT_URC)) {
            restarted(&router);
        } else {
            on_frame(&router, f);
        }
    })
}

/// The comma-separated fields after `+NAME: `, quotes removed (no quote-awareness needed
/// for the numeric URCs this is used on).
pub(crate) fn fields(line: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(line);
    let body = text.split_once(':').map(|(_, b)| b).unwrap_or("");
    body.split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect()
}

/// Field `i` of [`fields`] as a number.
pub(crate) fn field_int(line: &[u8], i: usize) -> Option<i64> {
    fields(line).get(i).and_then(|f| f.parse().ok())
}
