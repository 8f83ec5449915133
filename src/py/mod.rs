//! The Python bindings (`modemqtt._core`): argument conversion, GIL release and exception
//! mapping only; no protocol logic lives here.

pub mod aliyun;
pub mod dispatch;
pub mod errors;
pub mod lab;
pub mod modem;
pub mod sim;
pub mod types;

use std::sync::OnceLock;

use pyo3::prelude::*;

static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// pyo3-log caches Python loggers and their levels; logging configured after import is
/// picked up when a modem is opened.
pub fn reset_log_cache() {
    if let Some(h) = LOG_RESET.get() {
        h.reset();
    }
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
                l.install()
                    .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
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
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
