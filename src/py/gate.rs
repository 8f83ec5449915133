//! The door through which the core's own threads enter the interpreter.
//!
//! Two kinds of threads the core starts call into Python: the `modemqtt-log` thread (log
//! records to `logging`) and the callback dispatchers (`on_message` and friends). A thread
//! that asks for the interpreter once it is finalizing is ended by CPython with
//! `pthread_exit`, whose unwinding cannot cross Rust frames: the process aborts (SIGABRT at
//! exit, seen with a debug log still draining). So these threads enter through [`enter`],
//! and an `atexit` hook ([`close_at_exit`], run before `logging` shuts down) passes on the
//! records still queued, shuts the door, and waits (at most [`EXIT_WAIT`]) for the threads
//! already inside to leave.
//!
//! Python's own threads meet the same end when a call that released the interpreter (a
//! daemon thread publishing, a callback waiting on the modem) returns during finalization.
//! [`detach`] is `py.detach` for calls that may last: a thread other than the main one that
//! comes back once the interpreter is exiting parks for good instead of asking for it again
//! (CPython 3.14 does the same for every thread); the process's end takes it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// How long interpreter exit waits for a callback or a log handler that is still running.
pub const EXIT_WAIT: Duration = Duration::from_secs(2);

static CLOSED: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// How many [`enter`]s of this thread are under way (a callback may nest another).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

struct Inside;

impl Drop for Inside {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `f` (which attaches to the interpreter) unless the interpreter is exiting; `None`
/// when it is, and `f` was not run.
pub fn enter<R>(f: impl FnOnce() -> R) -> Option<R> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    DEPTH.with(|d| d.set(d.get() + 1));
    let _inside = Inside;
    if CLOSED.load(Ordering::SeqCst) {
        return None;
    }
    Some(f())
}

/// `py.detach(f)`; a thread other than the main one that returns from `f` once the
/// interpreter is exiting never asks for it again: it parks until the process ends.
pub fn detach<R: Send>(py: Python<'_>, f: impl FnOnce() -> R + Send) -> R {
    let main = super::on_main_thread();
    py.detach(move || {
        let r = f();
        if !main && CLOSED.load(Ordering::SeqCst) {
            park_for_good();
        }
        r
    })
}

fn park_for_good() -> ! {
    // The exit hook no longer waits for this thread.
    let depth = DEPTH.with(|d| d.replace(0));
    INSIDE.fetch_sub(depth, Ordering::SeqCst);
    loop {
        std::thread::park();
    }
}

/// The `atexit` hook: log records queued so far reach `logging`, then no core thread enters
/// the interpreter again; those inside are given [`EXIT_WAIT`] to leave.
#[pyfunction]
pub fn close_at_exit(py: Python<'_>) {
    py.detach(|| {
        log::logger().flush();
        CLOSED.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + EXIT_WAIT;
        while INSIDE.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                eprintln!(
                    "modemqtt: a callback or log handler was still running {} s into \
                     interpreter exit",
                    EXIT_WAIT.as_secs()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
}

/// Registers [`close_at_exit`] with `atexit`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(close_at_exit, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}
