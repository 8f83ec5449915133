//! The Python bindings (`modemqtt._core`): argument conversion, GIL release and exception
//! mapping only; no protocol logic lives here.

pub mod aliyun;
pub mod dispatch;
pub mod errors;
pub mod lab;
pub mod logq;
pub mod modem;
pub mod sim;
pub mod types;

use std::cell::RefCell;
use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::error::Result;

thread_local! {
    /// The exception a signal handler raised while this thread waited on the modem.
    static PENDING_SIGNAL: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Whether the calling thread is the process's main thread, the only one on which Python
/// runs signal handlers.
fn on_main_thread() -> bool {
    // SAFETY: both calls only read identifiers of the calling thread and process.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t == libc::getpid() }
}

/// Asked by the core's waits every 50 ms: runs Python's pending signal handlers and, when
/// one raised (Ctrl-C: KeyboardInterrupt), keeps the exception and ends the wait.
fn signal_raised() -> bool {
    Python::attach(|py| match py.check_signals() {
        Ok(()) => false,
        Err(e) => {
            PENDING_SIGNAL.with(|p| *p.borrow_mut() = Some(e));
            true
        }
    })
}

/// The exception kept by [`signal_raised`], if any.
pub(crate) fn take_pending_signal() -> Option<PyErr> {
    PENDING_SIGNAL.with(|p| p.borrow_mut().take())
}

/// Runs `f` on a short-lived thread of its own: the goodbye of an object Python is
/// freeing (a polite MQTT disconnect), which must not wait on the modem from `tp_dealloc`.
/// What `f` owns is dropped there too, if the thread cannot be started.
pub(crate) fn in_background(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        log::debug!("{name}: cannot start a thread: {e}");
    }
}

/// Runs a call that waits on the modem with the interpreter released; on the main thread
/// a signal handler that raises (Ctrl-C) ends the wait within about 50 ms and its exception
/// is raised here. Every binding that may wait on the modem goes through this.
pub(crate) fn blocking<R: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<R> + Send,
) -> PyResult<R> {
    let main = on_main_thread();
    py.detach(move || {
        if main {
            crate::waits::with_interrupt(signal_raised, f)
        } else {
            f()
        }
    })
    .map_err(errors::to_py)
}

static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// pyo3-log caches Python loggers and their levels; logging configured after import is
/// picked up when a modem is opened.
pub fn reset_log_cache() {
    if let Some(h) = LOG_RESET.get() {
        h.reset();
    }
}

/// Waits (at most 2 s) until the log records the core made so far have reached Python's
/// `logging` (they are passed on by a thread of their own).
#[pyfunction]
fn flush_logs(py: Python<'_>) {
    py.detach(|| log::logger().flush());
}

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    if LOG_RESET.get().is_none() {
        match pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)
            .map(|l| {
                // The embedded broker reports every client disconnect as an error.
                l.filter(log::LevelFilter::Trace)
                    .filter_target("rumqttd".into(), log::LevelFilter::Off)
            })
            .and_then(|l| {
                let handle = l.reset_handle();
                log::set_boxed_logger(Box::new(logq::Queued::new(l)))
                    .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
                log::set_max_level(log::LevelFilter::Trace);
                Ok(handle)
            }) {
            Ok(h) => {
                let _ = LOG_RESET.set(h);
            }
            Err(e) => log::debug!("logging bridge not installed: {e}"),
        }
    }
    errors::register(m)?;
    m.add_class::<modem::Modem>()?;
    m.add_class::<modem::MqttClient>()?;
    m.add_class::<types::Message>()?;
    m.add_class::<types::Will>()?;
    m.add_class::<types::Tls>()?;
    m.add_class::<types::Response>()?;
    m.add_class::<types::ModemInfo>()?;
    m.add_class::<types::SignalQuality>()?;
    sim::register(m)?;
    lab::register(m)?;
    aliyun::register(m)?;
    m.add_function(wrap_pyfunction!(flush_logs, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
