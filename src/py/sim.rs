//! Python class `VirtualModem` and function `profiles()`.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use super::errors::{ModemError, PortError};
use crate::sim::{self, SimConfig, SimError, MAX_PART_SIZE};

fn to_py(e: SimError) -> PyErr {
    match e {
        SimError::UnknownProfile(_) | SimError::InvalidArgument(_) => {
            PyValueError::new_err(e.to_string())
        }
        SimError::Pty(_) | SimError::Listen(..) => PortError::new_err(e.to_string()),
        _ => ModemError::new_err(e.to_string()),
    }
}

/// A virtual SIMCom modem on a pseudo-terminal, connected to an MQTT broker.
#[pyclass(module = "modemqtt", name = "VirtualModem", frozen)]
pub struct PyVirtualModem {
    inner: sim::VirtualModem,
}

#[pymethods]
impl PyVirtualModem {
    #[new]
    #[pyo3(signature = (profile = "a7600", broker = None, *, part_size = 1024, listen = None))]
    fn new(
        py: Python<'_>,
        profile: &str,
        broker: Option<String>,
        part_size: i64,
        listen: Option<String>,
    ) -> PyResult<Self> {
        if !sim::profiles()
            .iter()
            .any(|p| p.eq_ignore_ascii_case(profile))
        {
            return Err(PyValueError::new_err(format!(
                "profile: unknown profile {profile:?}; valid profiles: {}",
                sim::profiles().join(", ")
            )));
        }
        if part_size < 1 || part_size > MAX_PART_SIZE as i64 {
            return Err(PyValueError::new_err(format!(
                "part_size: must be between 1 and {MAX_PART_SIZE}, got {part_size}"
            )));
        }
        let config = SimConfig {
            profile: profile.to_owned(),
            broker_url: broker,
            part_size: part_size as usize,
        };
        if let Some(addr) = &listen {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(PyValueError::new_err(format!(
                    "listen: expected an address like \"127.0.0.1:0\", got {addr:?}"
                )));
            }
        }
        let inner = py
            .detach(|| {
                let vm = sim::VirtualModem::start(config)?;
                if let Some(addr) = &listen {
                    vm.listen_tcp(addr)?;
                }
                Ok(vm)
            })
            .map_err(to_py)?;
        Ok(PyVirtualModem { inner })
    }

    /// The pty path for the host to open, e.g. "/dev/pts/7".
    #[getter]
    fn port(&self) -> String {
        self.inner.port().to_owned()
    }

    /// "socket://HOST:PORT" when serving over TCP (`listen=`), else None.
    #[getter]
    fn tcp_url(&self) -> Option<String> {
        self.inner.tcp_url()
    }

    #[getter]
    fn broker_url(&self) -> String {
        self.inner.broker_url().to_owned()
    }

    #[getter]
    fn profile(&self) -> String {
        self.inner.profile().to_owned()
    }

    /// Closes the client's TCP link abruptly (the broker sends the will),
    /// then reports "+CMQTTCONNLOST: client_index,cause".
    #[pyo3(signature = (client_index = 0, cause = 1))]
    fn drop_link(&self, py: Python<'_>, client_index: i64, cause: i64) -> PyResult<()> {
        if !(0..=255).contains(&client_index) {
            return Err(PyValueError::new_err(format!(
                "client_index: out of range, got {client_index}"
            )));
        }
        if !(1..=3).contains(&cause) {
            return Err(PyValueError::new_err(format!(
                "cause: must be 1, 2 or 3, got {cause}"
            )));
        }
        py.detach(|| self.inner.drop_link(client_index as u8, cause as u8))
            .map_err(to_py)
    }

    /// Power-cycles the modem and sends the boot URCs.
    fn reboot(&self, py: Python<'_>) {
        py.detach(|| self.inner.reboot())
    }

    /// Delivers output in pieces of at most n bytes (None: whole frames).
    #[pyo3(signature = (n))]
    fn set_chunk_size(&self, py: Python<'_>, n: Option<i64>) -> PyResult<()> {
        let n = match n {
            None => None,
            Some(v) if v >= 1 => Some(v as usize),
            Some(v) => {
                return Err(PyValueError::new_err(format!(
                    "n: must be at least 1 or None, got {v}"
                )))
            }
        };
        py.detach(|| self.inner.set_chunk_size(n));
        Ok(())
    }

    /// Writes `data` to the host once, between two frames.
    fn inject_noise(&self, py: Python<'_>, data: Vec<u8>) {
        py.detach(|| self.inner.inject_noise(&data))
    }

    /// Waits `seconds` before answering each command.
    fn set_response_delay(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        if !seconds.is_finite() || !(0.0..=3600.0).contains(&seconds) {
            return Err(PyValueError::new_err(format!(
                "seconds: must be between 0 and 3600, got {seconds}"
            )));
        }
        py.detach(|| {
            self.inner
                .set_response_delay(Duration::from_secs_f64(seconds))
        });
        Ok(())
    }

    /// Answers commands starting with `command_prefix` with `reply` instead
    /// of executing them; None clears.
    #[pyo3(signature = (command_prefix, reply = "ERROR"))]
    fn refuse(&self, py: Python<'_>, command_prefix: Option<String>, reply: &str) -> PyResult<()> {
        if let Some(p) = &command_prefix {
            if p.is_empty() {
                return Err(PyValueError::new_err(
                    "command_prefix: must not be empty (use None to clear)",
                ));
            }
        }
        if reply.contains(['\r', '\n']) {
            return Err(PyValueError::new_err(
                "reply: must be one line (no CR or LF)",
            ));
        }
        let reply = reply.to_owned();
        py.detach(|| self.inner.refuse(command_prefix.as_deref(), &reply));
        Ok(())
    }

    /// Largest +CMQTTRXTOPIC / +CMQTTRXPAYLOAD part.
    fn set_part_size(&self, py: Python<'_>, n: i64) -> PyResult<()> {
        if n < 1 || n > MAX_PART_SIZE as i64 {
            return Err(PyValueError::new_err(format!(
                "n: must be between 1 and {MAX_PART_SIZE}, got {n}"
            )));
        }
        py.detach(|| self.inner.set_part_size(n as usize));
        Ok(())
    }

    /// Counters: commands, bytes_in, bytes_out, published, delivered.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("commands", s.commands)?;
        d.set_item("bytes_in", s.bytes_in)?;
        d.set_item("bytes_out", s.bytes_out)?;
        d.set_item("published", s.published)?;
        d.set_item("delivered", s.delivered)?;
        Ok(d)
    }

    /// Stops the modem and closes the pty; idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyType>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        py.detach(|| self.inner.close());
        false
    }

    fn __repr__(&self) -> String {
        let tcp = self
            .inner
            .tcp_url()
            .map(|u| format!(", tcp_url='{u}'"))
            .unwrap_or_default();
        format!(
            "VirtualModem(profile='{}', port='{}', broker_url='{}'{tcp})",
            self.inner.profile(),
            self.inner.port(),
            self.inner.broker_url()
        )
    }
}

/// Names of the modems the virtual modem can imitate.
#[pyfunction]
fn profiles() -> Vec<&'static str> {
    sim::profiles()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyVirtualModem>()?;
    m.add_function(wrap_pyfunction!(profiles, m)?)?;
    Ok(())
}
