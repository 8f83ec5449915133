//! `modemqtt.AliyunCoap`, `modemqtt.CoapResponse` and `modemqtt.aliyun_sign` (SIMCom
//! Alibaba-cloud firmware).

use std::sync::Arc;
use std::time::Duration;

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use pyo3::PyTraverseError;

use super::blocking;
use super::errors::value_error;
use super::types::{opt_seconds, payload_bytes};
use crate::dialect::aliyun::{self, SignMethod};

/// The server's answer to a CoAP send.
#[pyclass(frozen, module = "modemqtt")]
pub struct CoapResponse {
    /// The CoAP response code, e.g. 0x45 (2.05 Content).
    #[pyo3(get)]
    pub code: u8,
    /// What the code means, from the manual.
    #[pyo3(get)]
    pub name: String,
    pub payload: Vec<u8>,
}

#[pymethods]
impl CoapResponse {
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }

    /// Whether the server accepted the request (0x45).
    #[getter]
    fn ok(&self) -> bool {
        self.code == 0x45
    }

    fn __repr__(&self) -> String {
        format!(
            "CoapResponse(code=0x{:02X}, name={:?}, payload={} bytes)",
            self.code,
            self.name,
            self.payload.len()
        )
    }
}

impl CoapResponse {
    fn from_core(r: aliyun::CoapResponse) -> Self {
        CoapResponse {
            code: r.code,
            name: r.name,
            payload: r.payload,
        }
    }
}

/// The Alibaba-cloud CoAP client (`AT+CCINIT` / `AT+CCAUTH` / `AT+CCSEND` / `AT+CCYIELD`
/// / `AT+CCDEINIT`). Made by `Modem.aliyun_coap`.
#[pyclass(frozen, module = "modemqtt")]
pub struct AliyunCoap {
    pub(crate) inner: Arc<aliyun::AliyunCoap>,
    /// Keeps the `Modem` object (and the port) alive while this client is.
    pub(crate) owner: Py<PyAny>,
    /// The bound of `close()`: the modem's timeout.
    pub(crate) close_timeout: Duration,
}

/// Freed without `close()`: `AT+CCDEINIT` goes on a thread of its own, within the modem's
/// timeout; `tp_dealloc` never waits on the modem.
impl Drop for AliyunCoap {
    fn drop(&mut self) {
        let c = self.inner.clone();
        let budget = self.close_timeout;
        super::in_background("modemqtt-close", move || {
            let deadline = std::time::Instant::now() + budget;
            if let Err(e) = crate::waits::with_cap(deadline, || c.close()) {
                log::debug!("aliyun coap: closing after it was freed: {e}");
            }
        });
    }
}

#[pymethods]
impl AliyunCoap {
    /// The manual revision's profile name ("sim7600-aliyun" or "sim7000-aliyun").
    #[getter]
    fn profile(&self) -> &'static str {
        self.inner.revision().profile()
    }

    /// Creates the CoAP object if needed and authenticates (`AT+CCAUTH=<ms>`).
    #[pyo3(signature = (timeout = None))]
    fn auth(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let t = opt_seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || c.auth(t))
    }

    /// Sends `payload` (str or bytes, UTF-8 text) to `topic`, authenticating first if
    /// needed, and returns the server's response. Raises `MqttError` when the modem
    /// reports an error code.
    #[pyo3(signature = (topic, payload, timeout = None))]
    fn send(
        &self,
        py: Python<'_>,
        topic: String,
        payload: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<CoapResponse> {
        let payload = payload_bytes("payload", payload)?;
        let t = opt_seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || c.send(&topic, &payload, t)).map(CoapResponse::from_core)
    }

    /// `AT+CCYIELD`: the response the modem holds, if any.
    #[pyo3(signature = (timeout = None))]
    fn receive(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<CoapResponse>> {
        let t = opt_seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || c.receive(t)).map(|r| r.map(CoapResponse::from_core))
    }

    /// Releases the CoAP object (`AT+CCDEINIT`), within the modem's timeout (or `timeout`
    /// seconds) even against a modem that no longer answers. Idempotent.
    #[pyo3(signature = (timeout = None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let budget = opt_seconds("timeout", timeout)?.unwrap_or(self.close_timeout);
        let c = self.inner.clone();
        blocking(py, move || {
            crate::waits::with_cap(std::time::Instant::now() + budget, || c.close())
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.owner)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py, None)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<AliyunCoap {}>", self.inner.revision().profile())
    }
}

/// The MQTT login the Alibaba IoT platform expects for a device triple:
/// `(client_id, username, password)`.
#[pyfunction]
#[pyo3(signature = (product_key, device_name, device_secret, client_id = None, timestamp = None, method = "hmacsha1"))]
fn aliyun_sign(
    product_key: &str,
    device_name: &str,
    device_secret: &str,
    client_id: Option<&str>,
    timestamp: Option<&str>,
    method: &str,
) -> PyResult<(String, String, String)> {
    let m = match method {
        "hmacsha1" => SignMethod::HmacSha1,
        "hmacsha256" => SignMethod::HmacSha256,
        other => {
            return Err(value_error(format!(
                "method: {other:?} is not \"hmacsha1\" or \"hmacsha256\""
            )))
        }
    };
    for (what, v) in [
        ("product_key", product_key),
        ("device_name", device_name),
        ("device_secret", device_secret),
    ] {
        if v.is_empty() {
            return Err(value_error(format!("{what}: must not be empty")));
        }
    }
    let s = aliyun::sign_mqtt(
        product_key,
        device_name,
        device_secret,
        client_id,
        timestamp,
        m,
    );
    Ok((s.client_id, s.username, s.password))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AliyunCoap>()?;
    m.add_class::<CoapResponse>()?;
    m.add_function(wrap_pyfunction!(aliyun_sign, m)?)?;
    Ok(())
}
