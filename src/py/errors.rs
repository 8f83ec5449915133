//! The Python exception tree, and the one mapping from [`crate::Error`] to it.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::at::ErrorCode;
use crate::error::Error;

pyo3::create_exception!(modemqtt, ModemError, pyo3::exceptions::PyException);
pyo3::create_exception!(modemqtt, ModemTimeout, ModemError);
pyo3::create_exception!(modemqtt, CommandError, ModemError);
pyo3::create_exception!(modemqtt, MqttError, ModemError);
pyo3::create_exception!(modemqtt, PortError, ModemError);
pyo3::create_exception!(modemqtt, NotConnectedError, ModemError);
pyo3::create_exception!(modemqtt, ProtocolError, ModemError);
pyo3::create_exception!(modemqtt, ReplayMismatch, ModemError);

fn with_attrs(err: PyErr, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    Python::attach(|py| {
        let value = err.value(py);
        for (name, v) in attrs {
            if let Err(e) = value.setattr(*name, v.bind(py)) {
                return e;
            }
        }
        err.clone_ref(py)
    })
}

fn obj<'py, T: IntoPyObjectExt<'py>>(py: Python<'py>, v: T) -> Py<PyAny> {
    v.into_py_any(py).unwrap_or_else(|_| py.None())
}

pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::InvalidArgument(m) => PyValueError::new_err(m),
        Error::Timeout { command, .. } => Python::attach(|py| {
            with_attrs(ModemTimeout::new_err(msg), &[("command", obj(py, command))])
        }),
        Error::Command { command, code, .. } => Python::attach(|py| {
            let code = match code {
                Some(ErrorCode::Numeric(n)) => obj(py, n),
                Some(ErrorCode::Text(t)) => obj(py, t),
                None => py.None(),
            };
            with_attrs(
                CommandError::new_err(msg),
                &[("code", code), ("command", obj(py, command))],
            )
        }),
        Error::Mqtt {
            operation,
            code,
            name,
        } => Python::attach(|py| {
            let attrs = [
                ("code", obj(py, code)),
                ("name", obj(py, name)),
                ("operation", obj(py, operation)),
            ];
            with_attrs(MqttError::new_err(msg), &attrs)
        }),
        Error::Port(_) => PortError::new_err(msg),
        Error::NotConnected(_) => NotConnectedError::new_err(msg),
        Error::Protocol(_) => ProtocolError::new_err(msg),
        Error::Closed(_) | Error::Other(_) => ModemError::new_err(msg),
        Error::Interrupted(_) => super::take_pending_signal()
            .unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err(msg)),
    }
}

pub fn type_error(msg: impl Into<String>) -> PyErr {
    PyTypeError::new_err(msg.into())
}

pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ModemError", py.get_type::<ModemError>())?;
    m.add("ModemTimeout", py.get_type::<ModemTimeout>())?;
    m.add("CommandError", py.get_type::<CommandError>())?;
    m.add("MqttError", py.get_type::<MqttError>())?;
    m.add("PortError", py.get_type::<PortError>())?;
    m.add("NotConnectedError", py.get_type::<NotConnectedError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("ReplayMismatch", py.get_type::<ReplayMismatch>())?;
    Ok(())
}
