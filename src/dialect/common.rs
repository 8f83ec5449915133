//! What the dialects share in setting up on an engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::at::{Frame, RawRule};
use crate::engine::{Engine, UrcHandler, BOOT_URC};
use crate::error::Error;
use crate::mqtt::{CAUSE_PORT_LOST, CAUSE_RESTARTED};

use super::UrcRouter;

/// Locks `m`, taking the data over from a holder that panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A family's URC router: what it does with the frames of its prefixes, a restart of the
/// modem (the boot URC) and the loss of the port. A client context attaches it to its
/// engine ([`Handlers::attach`]); the fuzz targets and property tests drive it detached
/// ([`detached_router`]), through the same three doors.
pub(crate) trait UrcListener: Send + Sync + 'static {
    fn on_frame(&self, frame: &Frame);
    /// Every client's link is gone, with `cause` and `reason` for `on_disconnect`.
    fn all_lost(&self, cause: i32, reason: &str);
    /// What the family drops when the modem restarts, before the links are reported lost
    /// (message parts under way, unread notices, result waits).
    fn forget_session(&self) {}
    /// What the family ends when the port is gone, before the links are reported lost.
    fn end_waits(&self, _reason: &str) {}

    fn restarted(&self) {
        self.forget_session();
        self.all_lost(CAUSE_RESTARTED, "modem restarted");
    }

    fn port_lost(&self, reason: &str) {
        self.end_waits(reason);
        self.all_lost(CAUSE_PORT_LOST, reason);
    }
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
    /// Sets a family up on `engine`: its `raw_rules` (lines followed by counted bytes; they
    /// stay for the engine's life), and `router`'s `on_frame` for the URCs that start with
    /// one of `prefixes`, its `restarted` for the boot URC, its `port_lost` for the loss of
    /// the port. Dropping the result removes the handlers.
    pub(crate) fn attach<R: UrcListener>(
        engine: &Engine,
        raw_rules: Vec<RawRule>,
        prefixes: &[&[u8]],
        router: &Arc<R>,
    ) -> Handlers {
        for rule in raw_rules {
            engine.add_raw_rule(rule);
        }
        let on_frame: UrcHandler = {
            let r = router.clone();
            Arc::new(move |f: &Frame| r.on_frame(f))
        };
        let mut ids: Vec<u64> = prefixes
            .iter()
            .map(|prefix| engine.add_urc_handler(prefix, on_frame.clone()))
            .collect();
        let r = router.clone();
        ids.push(engine.add_urc_handler(BOOT_URC, Arc::new(move |_f: &Frame| r.restarted())));
        let r = router.clone();
        ids.push(engine.on_port_loss(Arc::new(move |reason: &str| r.port_lost(reason))));
        Handlers {
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

/// Whether a read answer (`+NAME: <idx>,<state>,...` lines starting with `prefix`) lists
/// client `idx` in `state`.
pub(crate) fn lists_client_in(lines: &[Frame], prefix: &[u8], idx: i64, state: i64) -> bool {
    lines.iter().any(|f| match f {
        Frame::Line(l) if l.starts_with(prefix) => {
            let f = int_fields(l);
            f.first() == Some(&idx) && f.get(1) == Some(&state)
        }
        _ => false,
    })
}

/// `router` detached from any engine, routing as [`Handlers::attach`] does: the boot URC to
/// `restarted`, the frames of `prefixes` to `on_frame` (a family's `urc_router`).
pub(crate) fn detached_router<R: UrcListener>(router: R, prefixes: &[&[u8]]) -> UrcRouter {
    let mut all: Vec<Vec<u8>> = prefixes.iter().map(|p| p.to_vec()).collect();
    all.push(BOOT_URC.to_vec());
    let handler: UrcHandler = Arc::new(move |f: &Frame| {
        if matches!(f, Frame::Line(l) if l.starts_with(BOOT_URC)) {
            router.restarted();
        } else {
            router.on_frame(f);
        }
    });
    (all, handler)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_client_in_reads_index_and_state_of_its_own_lines() {
        // AT+CMQTTDISC? answers `+CMQTTDISC: <idx>,<disc_state>`, 1 disconnected and
        // 0 connected (seeds/001 §3.2.9).
        let lines = vec![
            Frame::Line(b"+CMQTTDISC: 0,1".to_vec()),
            Frame::Line(b"+CMQTTDISC: 1,0".to_vec()),
            Frame::Line(b"+OTHER: 0,0".to_vec()),
        ];
        assert!(lists_client_in(&lines, b"+CMQTTDISC:", 1, 0));
        assert!(!lists_client_in(&lines, b"+CMQTTDISC:", 0, 0));
        assert!(!lists_client_in(&lines, b"+CMQTTDISC:", 2, 0));
        assert!(!lists_client_in(&[], b"+CMQTTDISC:", 0, 0));
    }
}
