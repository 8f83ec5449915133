//! Plain value classes seen from Python.

use std::time::{Duration, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::errors::{type_error, value_error};
use crate::engine::Response as CoreResponse;
use crate::error::final_text;
use crate::modem::{ModemInfo as CoreInfo, SignalQuality as CoreSignal};
use crate::mqtt::{self, Message as CoreMessage};

/// Bytes from `bytes`, `bytearray`, `memoryview` or `str` (UTF-8).
pub fn payload_bytes(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    v.extract::<Vec<u8>>().map_err(|_| {
        type_error(format!(
            "{name}: expected bytes or str, got {}",
            type_name(v)
        ))
    })
}

pub fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// An integer argument checked against its range, with a ValueError naming it.
pub fn int_in(name: &str, v: i64, min: i64, max: i64) -> PyResult<i64> {
    if v < min || v > max {
        return Err(value_error(format!(
            "{name}: {v} is out of range (must be {min} to {max})"
        )));
    }
    Ok(v)
}

/// A timeout in seconds: positive and finite.
pub fn seconds(name: &str, v: f64) -> PyResult<Duration> {
    if !v.is_finite() || v <= 0.0 || v > 1.0e7 {
        return Err(value_error(format!(
            "{name}: {v} must be a positive number of seconds"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

pub fn opt_seconds(name: &str, v: Option<f64>) -> PyResult<Option<Duration>> {
    v.map(|s| seconds(name, s)).transpose()
}

#[pyclass(frozen, module = "modemqtt")]
pub struct Message {
    #[pyo3(get)]
    topic: String,
    payload: Vec<u8>,
    #[pyo3(get)]
    qos: Option<u8>,
    #[pyo3(get)]
    retain: Option<bool>,
    #[pyo3(get)]
    client_index: u8,
    #[pyo3(get)]
    received_at: f64,
}

impl Message {
    pub fn from_core(m: CoreMessage) -> Self {
        let received_at = m
            .received_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Message {
            topic: m.topic,
            payload: m.payload,
            qos: m.qos,
            retain: m.retain,
            client_index: m.client_index,
            received_at,
        }
    }
}

#[pymethods]
impl Message {
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }

    /// The payload decoded as UTF-8 (errors are replaced).
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    fn __len__(&self) -> usize {
        self.payload.len()
    }

    fn __repr__(&self) -> String {
        let shown: String =
            String::from_utf8_lossy(&self.payload[..self.payload.len().min(40)]).into();
        let more = if self.payload.len() > 40 { "..." } else { "" };
        format!(
            "Message(topic={:?}, payload={:?}{more} ({} bytes), qos={}, retain={}, client_index={})",
            self.topic,
            shown,
            self.payload.len(),
            self.qos.map(|q| q.to_string()).unwrap_or_else(|| "None".into()),
            self.retain.map(|r| if r { "True" } else { "False" }.to_string()).unwrap_or_else(|| "None".into()),
            self.client_index
        )
    }

    fn _repr_html_(&self) -> String {
        format!(
            "<b>Message</b> <code>{}</code> &mdash; {} bytes: <code>{}</code>",
            html_escape(&self.topic),
            self.payload.len(),
            html_escape(&String::from_utf8_lossy(
                &self.payload[..self.payload.len().min(200)]
            ))
        )
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The last-will message the broker publishes when the client's link is lost.
#[pyclass(frozen, module = "modemqtt")]
#[derive(Clone)]
pub struct Will {
    #[pyo3(get)]
    topic: String,
    payload: Vec<u8>,
    #[pyo3(get)]
    qos: u8,
    #[pyo3(get)]
    retain: bool,
}

impl Will {
    pub fn to_core(&self) -> mqtt::Will {
        mqtt::Will {
            topic: self.topic.clone(),
            payload: self.payload.clone(),
            qos: self.qos,
            retain: self.retain,
        }
    }
}

#[pymethods]
impl Will {
    #[new]
    #[pyo3(signature = (topic, payload, qos = 0, retain = false))]
    fn new(topic: String, payload: &Bound<'_, PyAny>, qos: i64, retain: bool) -> PyResult<Self> {
        mqtt::topic::validate_name(&topic).map_err(super::errors::to_py)?;
        let qos = int_in("qos", qos, 0, 2)? as u8;
        Ok(Will {
            topic,
            payload: payload_bytes("payload", payload)?,
            qos,
            retain,
        })
    }

    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }

    fn __repr__(&self) -> String {
        format!(
            "Will(topic={:?}, payload=<{} bytes>, qos={}, retain={})",
            self.topic,
            self.payload.len(),
            self.qos,
            if self.retain { "True" } else { "False" }
        )
    }
}

/// TLS settings. Certificates are a path to a PEM file (`str` or `os.PathLike`) or the
/// PEM content (`bytes`); they are read at once and uploaded to the modem on connect.
#[pyclass(frozen, module = "modemqtt")]
#[derive(Clone)]
pub struct Tls {
    pub inner: mqtt::Tls,
}

fn pem(name: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    let Some(v) = v else { return Ok(None) };
    if v.is_none() {
        return Ok(None);
    }
    let content = if let Ok(b) = v.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else {
        let path: std::path::PathBuf = v.extract().map_err(|_| {
            type_error(format!(
                "{name}: expected a path or PEM bytes, got {}",
                type_name(v)
            ))
        })?;
        std::fs::read(&path)
            .map_err(|e| value_error(format!("{name}: cannot read {}: {e}", path.display())))?
    };
    if content.is_empty() {
        return Err(value_error(format!("{name}: is empty")));
    }
    if !content.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(value_error(format!(
            "{name}: is not PEM (no -----BEGIN line)"
        )));
    }
    Ok(Some(content))
}

#[pymethods]
impl Tls {
    #[new]
    #[pyo3(signature = (ca_cert = None, client_cert = None, client_key = None, *, verify_server = true,
        ssl_version = 4, ignore_local_time = true, negotiate_time = 300, context = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        ca_cert: Option<&Bound<'_, PyAny>>,
        client_cert: Option<&Bound<'_, PyAny>>,
        client_key: Option<&Bound<'_, PyAny>>,
        verify_server: bool,
        ssl_version: i64,
        ignore_local_time: bool,
        negotiate_time: i64,
        context: Option<i64>,
    ) -> PyResult<Self> {
        let inner = mqtt::Tls {
            ca_cert: pem("ca_cert", ca_cert)?,
            client_cert: pem("client_cert", client_cert)?,
            client_key: pem("client_key", client_key)?,
            verify_server,
            ssl_version: int_in("ssl_version", ssl_version, 0, 4)? as u8,
            ignore_local_time,
            negotiate_time: int_in("negotiate_time", negotiate_time, 10, 300)? as u32,
            context: context
                .map(|c| int_in("context", c, 0, 9))
                .transpose()?
                .map(|c| c as u8),
        };
        if inner.client_cert.is_some() != inner.client_key.is_some() {
            return Err(value_error("client_cert and client_key go together"));
        }
        if inner.verify_server && inner.ca_cert.is_none() {
            return Err(value_error(
                "ca_cert: needed to verify the server (or pass verify_server=False)",
            ));
        }
        Ok(Tls { inner })
    }

    #[getter]
    fn verify_server(&self) -> bool {
        self.inner.verify_server
    }

    fn __repr__(&self) -> String {
        format!(
            "Tls(ca_cert={}, client_cert={}, client_key={}, verify_server={})",
            if self.inner.ca_cert.is_some() {
                "<pem>"
            } else {
                "None"
            },
            if self.inner.client_cert.is_some() {
                "<pem>"
            } else {
                "None"
            },
            if self.inner.client_key.is_some() {
                "***"
            } else {
                "None"
            },
            if self.inner.verify_server {
                "True"
            } else {
                "False"
            },
        )
    }
}

/// What `Modem.command()` returned.
#[pyclass(frozen, module = "modemqtt")]
pub struct Response {
    #[pyo3(get)]
    lines: Vec<String>,
    #[pyo3(get, name = "final")]
    final_: String,
}

impl Response {
    pub fn from_core(r: &CoreResponse) -> Self {
        let mut lines = r.text_lines();
        // The result a family's command waits for after the data (ESP-AT `+MQTTPUB:OK`).
        if let Some(u) = &r.urc {
            lines.push(String::from_utf8_lossy(u).into_owned());
        }
        Response {
            lines,
            final_: final_text(&r.final_result),
        }
    }
}

#[pymethods]
impl Response {
    fn __repr__(&self) -> String {
        format!("Response(lines={:?}, final={:?})", self.lines, self.final_)
    }
}

#[pyclass(frozen, module = "modemqtt")]
pub struct ModemInfo {
    #[pyo3(get)]
    manufacturer: String,
    #[pyo3(get)]
    model: String,
    #[pyo3(get)]
    revision: String,
    #[pyo3(get)]
    imei: String,
    #[pyo3(get)]
    family: String,
}

impl ModemInfo {
    pub fn from_core(i: CoreInfo) -> Self {
        ModemInfo {
            manufacturer: i.manufacturer,
            model: i.model,
            revision: i.revision,
            imei: i.imei,
            family: i.dialect,
        }
    }
}

#[pymethods]
impl ModemInfo {
    /// Deprecated name of `family`.
    #[getter]
    fn dialect(&self, py: Python<'_>) -> PyResult<String> {
        deprecated(py, "ModemInfo.dialect", "ModemInfo.family")?;
        Ok(self.family.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "ModemInfo(manufacturer={:?}, model={:?}, revision={:?}, imei={:?}, family={:?})",
            self.manufacturer, self.model, self.revision, self.imei, self.family
        )
    }
}

#[pyclass(frozen, module = "modemqtt")]
pub struct SignalQuality {
    #[pyo3(get)]
    rssi: u8,
    #[pyo3(get)]
    rssi_dbm: Option<i32>,
    #[pyo3(get)]
    ber: Option<u8>,
}

impl SignalQuality {
    pub fn from_core(s: CoreSignal) -> Self {
        SignalQuality {
            rssi: s.rssi,
            rssi_dbm: s.rssi_dbm,
            ber: s.ber,
        }
    }
}

#[pymethods]
impl SignalQuality {
    fn __repr__(&self) -> String {
        let opt = |v: Option<i32>| v.map(|x| x.to_string()).unwrap_or_else(|| "None".into());
        format!(
            "SignalQuality(rssi={}, rssi_dbm={}, ber={})",
            self.rssi,
            opt(self.rssi_dbm),
            opt(self.ber.map(i32::from))
        )
    }
}

/// Warns (DeprecationWarning) that `old` is now called `new` and goes in a later release.
pub fn deprecated(py: Python<'_>, old: &str, new: &str) -> PyResult<()> {
    let category = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
    let message = std::ffi::CString::new(format!(
        "{old} is deprecated and will be removed in the next release: use {new}"
    ))
    .map_err(|e| value_error(e.to_string()))?;
    PyErr::warn(py, &category, &message, 1)
}

/// The `family=` argument of `Modem(...)`, or its deprecated spelling `dialect=`: one of
/// "auto", "cmqtt", "qmt", "aliyun" (or a maker's name the core knows).
pub fn family_argument(
    py: Python<'_>,
    family: Option<&str>,
    dialect: Option<&str>,
) -> PyResult<String> {
    let name = match (family, dialect) {
        (Some(_), Some(_)) => {
            return Err(value_error(
                "family: give family= only (dialect= is its deprecated old name)",
            ))
        }
        (Some(f), None) => f,
        (None, Some(d)) => {
            deprecated(py, "Modem(dialect=...)", "Modem(family=...)")?;
            d
        }
        (None, None) => "auto",
    };
    if crate::dialect::Family::parse(name).is_err() {
        return Err(value_error(format!(
            "family: unknown family {name:?} (use \"auto\", \"cmqtt\", \"qmt\" or \"aliyun\")"
        )));
    }
    Ok(name.to_string())
}
