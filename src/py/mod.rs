//! The Python bindings (`modemqtt._core`): argument conversion, GIL release and exception
//! mapping only; no protocol logic lives here.

/// A Python dict from `"key" => value` pairs (each value of any type Python takes); in a
/// function returning `PyResult`.
macro_rules! py_dict {
    ($py:expr, $($key:literal => $value:expr),+ $(,)?) => {{
        let d = pyo3::types::PyDict::new($py);
        $(d.set_item($key, $value)?;)+
        d
    }};
}

pub mod aliyun;
pub mod client;
pub mod dispatch;
pub mod errors;
pub mod gate;
pub mod lab;
pub mod logq;
pub mod modem;
pub mod sim;
pub mod types;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::error::Result;

thread_local! {
    /// The exception a signal handler raised while this thread waited on the modem.
    static PENDING_SIGNAL: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Whether the calling thread is the process's main thread, the only one on which Python
/// runs signal handlers.
/// A poisoned lock still guards its data: a callback that panicked must not wedge the modem.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

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
    gate::detach(py, move || {
        if main {
            crate::waits::with_interrupt(signal_raised, f)
        } else {
            f()
        }
    })
    .map_err(errors::to_py)
}

static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// The levels of the Python loggers `modemqtt.sim` and `modemqtt.broker` (as
/// `log::LevelFilter as usize`), read when logging is (re)configured. Records of those
/// groups above them are dropped without calling into Python: the virtual modem's and the
/// broker's threads log busily, also while the interpreter shuts down.
static SIM_LEVEL: AtomicUsize = AtomicUsize::new(log::LevelFilter::Warn as usize);
static BROKER_LEVEL: AtomicUsize = AtomicUsize::new(log::LevelFilter::Warn as usize);

fn python_level(py: Python<'_>, logger: &str) -> PyResult<log::LevelFilter> {
    let level: i64 = py
        .import("logging")?
        .call_method1("getLogger", (logger,))?
        .call_method0("getEffectiveLevel")?
        .extract()?;
    Ok(match level {
        i64::MIN..=5 => log::LevelFilter::Trace,
        6..=10 => log::LevelFilter::Debug,
        11..=20 => log::LevelFilter::Info,
        21..=30 => log::LevelFilter::Warn,
        31..=40 => log::LevelFilter::Error,
        _ => log::LevelFilter::Off,
    })
}

fn refresh_group_levels(py: Python<'_>) {
    for (name, slot) in [
        ("modemqtt.sim", &SIM_LEVEL),
        ("modemqtt.broker", &BROKER_LEVEL),
    ] {
        match python_level(py, name) {
            Ok(level) => slot.store(level as usize, Ordering::Relaxed),
            Err(e) => log::debug!("cannot read the level of logger {name}: {e}"),
        }
    }
}

/// pyo3-log caches Python loggers and their levels; logging configured after import is
/// picked up when a modem (or a virtual modem) is opened.
pub fn reset_log_cache() {
    if let Some(h) = LOG_RESET.get() {
        h.reset();
        Python::attach(refresh_group_levels);
    }
}

/// Waits (at most 2 s) until the log records the core made so far have reached Python's
/// `logging` (they are passed on by a thread of their own).
#[pyfunction]
fn flush_logs(py: Python<'_>) {
    py.detach(|| log::logger().flush());
}

/// Whether a record of `level` for `target` (after routing) passes the group gate.
fn group_allows(target: &str, level: log::Level) -> bool {
    let slot = if target.starts_with("modemqtt::sim") || target.starts_with("modemqtt.sim") {
        &SIM_LEVEL
    } else if target.starts_with("modemqtt::broker") || target.starts_with("modemqtt.broker") {
        &BROKER_LEVEL
    } else {
        return true;
    };
    (level as usize) <= slot.load(Ordering::Relaxed)
}

/// Where the logs of the virtual modem's and the embedded broker's dependencies go: under
/// `modemqtt.sim` and `modemqtt.broker`, which the package sets to WARNING at import, so
/// `logging.basicConfig(level=logging.DEBUG)` does not show their internals. rumqttd
/// reports every client disconnect as an error: its records are demoted to DEBUG.
const ROUTES: &[(&str, &str, Option<log::Level>)] = &[
    ("rumqttc", "modemqtt::sim::rumqttc", None),
    ("rustls", "modemqtt::sim::rustls", None),
    (
        "rumqttd",
        "modemqtt::broker::rumqttd",
        Some(log::Level::Debug),
    ),
    ("tracing", "modemqtt::broker::tracing", None),
];

fn route(target: &str) -> Option<(String, Option<log::Level>)> {
    ROUTES.iter().find_map(|(prefix, to, level)| {
        let rest = target.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with("::")).then(|| (format!("{to}{rest}"), *level))
    })
}

/// pyo3-log with the targets of [`ROUTES`] renamed.
struct Routed(pyo3_log::Logger);

impl log::Log for Routed {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        match route(metadata.target()) {
            Some((target, level)) => {
                let level = level.map_or(metadata.level(), |l| metadata.level().max(l));
                group_allows(&target, level)
                    && self.0.enabled(
                        &log::Metadata::builder()
                            .level(level)
                            .target(&target)
                            .build(),
                    )
            }
            None => group_allows(metadata.target(), metadata.level()) && self.0.enabled(metadata),
        }
    }

    fn log(&self, record: &log::Record<'_>) {
        match route(record.target()) {
            Some((target, level)) => {
                let level = level.map_or(record.level(), |l| record.level().max(l));
                if group_allows(&target, level) {
                    self.0.log(
                        &log::Record::builder()
                            .args(*record.args())
                            .level(level)
                            .target(&target)
                            .module_path(record.module_path())
                            .file(record.file())
                            .line(record.line())
                            .build(),
                    );
                }
            }
            None => {
                if group_allows(record.target(), record.level()) {
                    self.0.log(record);
                }
            }
        }
    }

    fn flush(&self) {}
}

fn install_logging(py: Python<'_>) -> PyResult<pyo3_log::ResetHandle> {
    let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?
        .filter(log::LevelFilter::Trace);
    let handle = logger.reset_handle();
    // Records reach Python from a thread of their own (see logq.rs).
    log::set_boxed_logger(Box::new(logq::Queued::new(Routed(logger))))
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    log::set_max_level(log::LevelFilter::Trace);
    Ok(handle)
}

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    if LOG_RESET.get().is_none() {
        match install_logging(py) {
            Ok(h) => {
                let _ = LOG_RESET.set(h);
                refresh_group_levels(py);
            }
            Err(e) => log::debug!("logging bridge not installed: {e}"),
        }
    }
    errors::register(m)?;
    m.add_class::<modem::Modem>()?;
    m.add_class::<client::MqttClient>()?;
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
    gate::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
