//! `modemqtt.Modem` and `modemqtt.MqttClient`.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Instant, UNIX_EPOCH};

use pyo3::exceptions::PyOSError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::PyTraverseError;

use super::client::MqttClient;
use super::dispatch::{Dispatcher, Item};
use super::errors::{type_error, value_error};
use super::types::{
    int_in, opt_seconds, payload_bytes, seconds, ModemInfo, Response, SignalQuality,
};
use super::{blocking, lock};
use crate::at::{registration, Frame};
use crate::engine::Recorder;
use crate::modem::Modem as CoreModem;
use crate::mqtt::{ClientOptions, MqttClient as CoreClient};
use crate::transcript::escape;

/// A numeric client option checked against its range in the core's table.
fn option_in(name: &str, value: i64) -> PyResult<i64> {
    crate::mqtt::check_option(name, value).map_err(super::errors::to_py)
}

/// A modem on a serial port (or `socket://host:port`, or `sim://<profile>`).
#[pyclass(frozen, module = "modemqtt")]
pub struct Modem {
    inner: Arc<CoreModem>,
    port: String,
    dispatcher: Dispatcher,
    urc_cb: Arc<Mutex<Option<Py<PyAny>>>>,
    clients: Mutex<Vec<Weak<CoreClient>>>,
}

#[pymethods]
impl Modem {
    #[new]
    #[pyo3(signature = (port, baudrate = 115200, timeout = 5.0, family = None, *, record = None, dialect = None))]
    fn new(
        py: Python<'_>,
        port: std::path::PathBuf,
        baudrate: i64,
        timeout: f64,
        family: Option<&str>,
        record: Option<std::path::PathBuf>,
        dialect: Option<&str>,
    ) -> PyResult<Self> {
        let family = super::types::family_argument(py, family, dialect)?;
        // A str, or any os.PathLike (pathlib.Path) naming a device.
        let port = port.into_os_string().into_string().map_err(|p| {
            value_error(format!("port: {} is not valid UTF-8", p.to_string_lossy()))
        })?;
        let baud = int_in("baudrate", baudrate, 50, 20_000_000)? as u32;
        let timeout = seconds("timeout", timeout)?;
        super::reset_log_cache();
        let p = port.clone();
        // The file is created before the port is opened, so a bad path costs nothing.
        let recorder = match record {
            Some(path) => Some(Arc::new(Recorder::create(&path, &port).map_err(|e| {
                PyOSError::new_err(format!("record: cannot create {}: {e}", path.display()))
            })?)),
            None => None,
        };
        let inner = blocking(py, move || {
            CoreModem::open_recorded(&p, baud, timeout, &family, recorder)
        })?;
        let dispatcher = Dispatcher::start(&port);
        Ok(Modem {
            inner: Arc::new(inner),
            port,
            dispatcher,
            urc_cb: Arc::new(Mutex::new(None)),
            clients: Mutex::new(Vec::new()),
        })
    }

    #[getter]
    fn port(&self) -> &str {
        &self.port
    }

    /// The MQTT command family learnt when the modem was opened (None if none answered);
    /// asks nothing.
    #[getter]
    fn family(&self) -> Option<&'static str> {
        self.inner.dialect_name()
    }

    /// Deprecated name of `family`.
    #[getter]
    fn dialect(&self, py: Python<'_>) -> PyResult<Option<&'static str>> {
        super::types::deprecated(py, "Modem.dialect", "Modem.family")?;
        Ok(self.inner.dialect_name())
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.engine().is_closed()
    }

    /// Sends one command line and returns its response; raises on ERROR / +CME ERROR.
    #[pyo3(signature = (line, timeout = None, *, data = None))]
    fn command(
        &self,
        py: Python<'_>,
        line: String,
        timeout: Option<f64>,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Response> {
        let timeout = opt_seconds("timeout", timeout)?;
        let data = data.map(|d| payload_bytes("data", d)).transpose()?;
        let m = self.inner.clone();
        let r = blocking(py, move || m.command(&line, timeout, data))?;
        Ok(Response::from_core(&r))
    }

    /// Asks the modem who it is (`AT+CGMI`, `AT+CGMM`, `AT+CGMR`, `AT+CGSN`): manufacturer,
    /// model, revision, IMEI, and the MQTT command family in use.
    fn info(&self, py: Python<'_>) -> PyResult<ModemInfo> {
        let m = self.inner.clone();
        blocking(py, move || m.info()).map(ModemInfo::from_core)
    }

    /// The signal quality from `AT+CSQ`: `.rssi` (0-31, 99 unknown), `.rssi_dbm` and
    /// `.ber` (`None` when the modem does not know).
    fn signal_quality(&self, py: Python<'_>) -> PyResult<SignalQuality> {
        let m = self.inner.clone();
        blocking(py, move || m.signal_quality()).map(SignalQuality::from_core)
    }

    /// Polls the network registration state (`AT+CREG?`, `AT+CGREG?`, `AT+CEREG?`) until
    /// the modem is registered and returns `"home"` or `"roaming"`; raises ModemTimeout
    /// after `timeout` seconds.
    #[pyo3(signature = (timeout = 60.0))]
    fn wait_registered(&self, py: Python<'_>, timeout: f64) -> PyResult<&'static str> {
        let t = seconds("timeout", timeout)?;
        let m = self.inner.clone();
        blocking(py, move || m.wait_registered(t))
    }

    /// The registration state in words per read command the modem answers, e.g.
    /// `{"creg": "home", "cgreg": "home", "cereg": "searching"}` (3GPP TS 27.007 `<stat>`);
    /// a command the modem refuses (`ERROR`) is left out. Asks once, waits for nothing else.
    fn registration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.inner.clone();
        let states = blocking(py, move || {
            let mut states = Vec::new();
            for (key, command, prefix) in registration::QUERIES {
                let r = match m.command(command, None, None) {
                    Ok(r) => r,
                    Err(crate::error::Error::Command { .. }) => continue,
                    Err(e) => return Err(e),
                };
                if let Some(stat) = r.value(prefix).as_deref().and_then(registration::read_stat) {
                    states.push((key, registration::describe(stat)));
                }
            }
            Ok(states)
        })?;
        let dict = PyDict::new(py);
        for (key, words) in states {
            dict.set_item(key, words)?;
        }
        Ok(dict)
    }

    /// Calls `callback(line)` for every unsolicited line; `None` stops it.
    fn on_urc(&self, callback: Option<Py<PyAny>>) -> PyResult<()> {
        match callback {
            None => {
                *lock(&self.urc_cb) = None;
                self.inner.on_urc(None);
            }
            Some(cb) => {
                Python::attach(|py| {
                    if !cb.bind(py).is_callable() {
                        return Err(type_error("callback: must be callable or None"));
                    }
                    Ok(())
                })?;
                *lock(&self.urc_cb) = Some(cb);
                let slot = self.urc_cb.clone();
                let d = self.dispatcher.clone();
                self.inner.on_urc(Some(Arc::new(move |f: &Frame| {
                    let text = match f {
                        Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
                        Frame::Raw { header, data } => {
                            format!("{} <{} bytes>", String::from_utf8_lossy(header), data.len())
                        }
                        _ => return,
                    };
                    d.send(Item::Urc(slot.clone(), text));
                })));
            }
        }
        Ok(())
    }

    /// Recent wire traffic as `(time, "tx" | "rx", bytes)`, secrets masked.
    fn transcript<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let entries = self.inner.engine().transcript();
        let items = entries
            .into_iter()
            .map(|e| {
                let t = e
                    .time
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                PyTuple::new(
                    py,
                    [
                        t.into_pyobject(py)?.into_any(),
                        PyString::new(py, e.direction.as_str()).into_any(),
                        PyBytes::new(py, &e.bytes).into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The transcript as readable text, one line per entry.
    fn transcript_text(&self) -> String {
        self.inner
            .engine()
            .transcript()
            .iter()
            .map(|e| {
                let t = e
                    .time
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                format!("{t:.3} {} {}", e.direction.as_str(), escape(&e.bytes))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Opens MQTT client `index` on the modem's family. Nothing is sent before `connect()`.
    ///
    /// `reconnect_delay` is (first, longest) wait in seconds between automatic reconnects;
    /// `queue_size` bounds the messages waiting unread (see `MqttClient.on_message`).
    #[pyo3(signature = (client_id, index = 0, *, auto_reconnect = false, reconnect_delay = (1.0, 30.0),
        check_utf8 = None, op_timeout = None, publish_timeout = 60, queue_size = 10000,
        receive_mode = None, protocol = None, pdp_context = None, packet_timeout = None,
        retries = None, timeout_notice = None, aliauth = None),
        text_signature = "(self, client_id, index=0, *, auto_reconnect=False, reconnect_delay=(1.0, 30.0), check_utf8=None, op_timeout=None, publish_timeout=60, queue_size=10000, receive_mode=None, protocol=None, pdp_context=None, packet_timeout=None, retries=None, timeout_notice=None, aliauth=None)")]
    #[allow(clippy::too_many_arguments)]
    fn mqtt(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        client_id: String,
        index: i64,
        auto_reconnect: bool,
        reconnect_delay: (f64, f64),
        check_utf8: Option<bool>,
        op_timeout: Option<i64>,
        publish_timeout: i64,
        queue_size: i64,
        receive_mode: Option<String>,
        protocol: Option<String>,
        pdp_context: Option<i64>,
        packet_timeout: Option<i64>,
        retries: Option<i64>,
        timeout_notice: Option<bool>,
        aliauth: Option<(String, String, String)>,
    ) -> PyResult<MqttClient> {
        let this = slf.get();
        let index = int_in("index", index, 0, 255)? as u8;
        let qmt = crate::mqtt::QmtOptions {
            receive_mode: match receive_mode.as_deref() {
                None => None,
                Some("urc") => Some(crate::mqtt::ReceiveMode::Urc),
                Some("buffer") => Some(crate::mqtt::ReceiveMode::Buffer),
                Some(other) => {
                    return Err(value_error(format!(
                        "receive_mode: must be \"urc\" or \"buffer\", got {other:?}"
                    )))
                }
            },
            mqtt_version: match protocol.as_deref() {
                None => None,
                Some("3.1") => Some(3),
                Some("3.1.1") => Some(4),
                Some(other) => {
                    return Err(value_error(format!(
                        "protocol: must be \"3.1\" or \"3.1.1\", got {other:?}"
                    )))
                }
            },
            pdp_context: pdp_context
                .map(|c| option_in("pdp_context", c))
                .transpose()?
                .map(|c| c as u8),
            packet_timeout: packet_timeout
                .map(|t| option_in("packet_timeout", t))
                .transpose()?
                .map(|t| t as u32),
            retries: retries
                .map(|t| option_in("retries", t))
                .transpose()?
                .map(|t| t as u32),
            timeout_notice,
            aliauth: aliauth.map(|(product_key, device_name, device_secret)| {
                crate::mqtt::AliAuth {
                    product_key,
                    device_name,
                    device_secret,
                }
            }),
        };
        let options = ClientOptions {
            auto_reconnect,
            reconnect_delay: (
                seconds("reconnect_delay", reconnect_delay.0)?,
                seconds("reconnect_delay", reconnect_delay.1)?,
            ),
            queue_size: int_in("queue_size", queue_size, 1, 10_000_000)? as usize,
            check_utf8,
            op_timeout: op_timeout
                .map(|t| option_in("op_timeout", t))
                .transpose()?
                .map(|t| t as u32),
            publish_timeout: option_in("publish_timeout", publish_timeout)? as u32,
            qmt,
        };
        let m = this.inner.clone();
        let id = client_id.clone();
        let client = blocking(py, move || m.mqtt(&id, index, options))?;
        Ok(this.wrap(slf, client))
    }

    /// Opens the MQTT client of SIMCom's Alibaba-cloud firmware (`AT+CM*`) for a device
    /// triple. Receiving runs through `AT+CMYIELD` polls in the background (every
    /// `poll_interval` seconds, each yielding `yield_timeout` ms), or `AT+CMAUTOYIELD` on
    /// firmware that has it (`auto_yield=None` picks it there). The firmware reconnects a
    /// lost link by itself; `auto_reconnect=True` also logs in again after the modem
    /// restarted (or the firmware gave up), with `reconnect_delay` backoff, and resubscribes.
    #[pyo3(signature = (product_key, device_name, device_secret, *, request_timeout = None,
        mqtt_version = None, poll_interval = 0.5, yield_timeout = 100, auto_yield = None,
        auto_yield_interval = 1, queue_size = 10000, auto_reconnect = false,
        reconnect_delay = (1.0, 30.0)),
        text_signature = "(self, product_key, device_name, device_secret, *, request_timeout=None, mqtt_version=None, poll_interval=0.5, yield_timeout=100, auto_yield=None, auto_yield_interval=1, queue_size=10000, auto_reconnect=False, reconnect_delay=(1.0, 30.0))")]
    #[allow(clippy::too_many_arguments)]
    fn aliyun_mqtt(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        product_key: String,
        device_name: String,
        device_secret: String,
        request_timeout: Option<i64>,
        mqtt_version: Option<i64>,
        poll_interval: f64,
        yield_timeout: i64,
        auto_yield: Option<bool>,
        auto_yield_interval: i64,
        queue_size: i64,
        auto_reconnect: bool,
        reconnect_delay: (f64, f64),
    ) -> PyResult<MqttClient> {
        let options = crate::dialect::aliyun::AliyunOptions {
            request_timeout: request_timeout
                .map(|t| int_in("request_timeout", t, 1, 1_000_000))
                .transpose()?
                .map(|t| t as u32),
            mqtt_version: mqtt_version
                .map(|v| int_in("mqtt_version", v, 3, 4))
                .transpose()?
                .map(|v| v as u8),
            poll_interval: seconds("poll_interval", poll_interval)?,
            yield_timeout: int_in("yield_timeout", yield_timeout, 1, 1_000_000)? as u32,
            auto_yield,
            auto_yield_interval: int_in("auto_yield_interval", auto_yield_interval, 1, 180)? as u32,
        };
        let client_options = ClientOptions {
            queue_size: int_in("queue_size", queue_size, 1, 10_000_000)? as usize,
            auto_reconnect,
            reconnect_delay: (
                seconds("reconnect_delay", reconnect_delay.0)?,
                seconds("reconnect_delay", reconnect_delay.1)?,
            ),
            ..ClientOptions::default()
        };
        let this = slf.get();
        let m = this.inner.clone();
        let client = blocking(py, move || {
            m.aliyun_mqtt(
                &product_key,
                &device_name,
                &device_secret,
                options,
                client_options,
            )
        })?;
        Ok(this.wrap(slf, client))
    }

    /// Opens the CoAP client of SIMCom's Alibaba-cloud firmware (`AT+CC*`).
    fn aliyun_coap(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        product_key: String,
        device_name: String,
        device_secret: String,
    ) -> PyResult<super::aliyun::AliyunCoap> {
        let m = slf.get().inner.clone();
        let close_timeout = m.timeout();
        let c = blocking(py, move || {
            m.aliyun_coap(&product_key, &device_name, &device_secret)
        })?;
        Ok(super::aliyun::AliyunCoap {
            inner: Arc::new(c),
            owner: slf.clone().into_any().unbind(),
            close_timeout,
        })
    }

    /// Closes the clients opened here (disconnect, release) and frees the port. Takes the
    /// modem's `timeout` at most in all (or `timeout` seconds): against a modem that no
    /// longer answers, what is left of the goodbye is skipped and the port is freed anyway.
    #[pyo3(signature = (timeout = None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let budget = opt_seconds("timeout", timeout)?.unwrap_or(self.inner.timeout());
        let clients: Vec<_> = lock(&self.clients)
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        let m = self.inner.clone();
        // Interrupting the goodbye (Ctrl-C) still frees the port.
        blocking(py, move || {
            let deadline = Instant::now() + budget;
            let res = crate::waits::with_cap(deadline, || {
                for c in &clients {
                    if let Err(e) =
                        c.close_within(deadline.saturating_duration_since(Instant::now()))
                    {
                        log::debug!("closing client {}: {e}", c.shared().index);
                        if matches!(e, crate::error::Error::Interrupted(_)) {
                            return Err(e);
                        }
                    }
                }
                Ok(())
            });
            m.close();
            res
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py, None)?;
        Ok(false)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(slot) = self.urc_cb.try_lock() {
            if let Some(cb) = slot.as_ref() {
                visit.call(cb)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.forget_urc_callback();
    }

    fn __repr__(&self) -> String {
        let state = if self.inner.engine().is_closed() {
            "closed"
        } else {
            "open"
        };
        let d = self.inner.dialect_name().unwrap_or("?");
        format!("<Modem {} family={d} {state}>", self.port)
    }

    fn _repr_html_(&self) -> String {
        format!(
            "<b>Modem</b> <code>{}</code> ({})",
            super::types::html_escape(&self.port),
            self.__repr__().replace('<', "&lt;").replace('>', "&gt;")
        )
    }
}

/// A `Modem` Python frees (garbage collection, interpreter exit) frees its port at once,
/// without the polite MQTT goodbye of `close()`: nothing here waits on the modem. Its
/// clients were freed before it (each keeps its modem alive).
///
/// Its `on_urc` callback goes with it, as a client's callbacks do (see `MqttClient`'s
/// `Drop`): the callback thread shares its slot.
impl Drop for Modem {
    fn drop(&mut self) {
        self.forget_urc_callback();
        for c in lock(&self.clients).drain(..).filter_map(|w| w.upgrade()) {
            c.shared().mark_closed();
        }
        self.inner.close();
    }
}

impl Modem {
    /// Empties the `on_urc` slot the callback thread shares (`__clear__` and `Drop`).
    fn forget_urc_callback(&self) {
        let cb = lock(&self.urc_cb).take();
        self.inner.on_urc(None);
        drop(cb);
    }

    fn wrap(&self, slf: &Bound<'_, Self>, client: CoreClient) -> MqttClient {
        let client = Arc::new(client);
        lock(&self.clients).push(Arc::downgrade(&client));
        MqttClient::new(
            client,
            self.inner.clone(),
            slf.clone().into_any().unbind(),
            &self.dispatcher,
        )
    }
}
