//! `modemqtt.Modem` and `modemqtt.MqttClient`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, UNIX_EPOCH};

use pyo3::exceptions::PyOSError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use pyo3::PyTraverseError;

use super::blocking;
use super::dispatch::{Callbacks, Dispatcher, Item};
use super::errors::{to_py, type_error, value_error, ModemTimeout};
use super::types::{
    int_in, opt_seconds, payload_bytes, seconds, type_name, Message, ModemInfo, Response,
    SignalQuality, Tls, Will,
};
use crate::at::Frame;
use crate::engine::Recorder;
use crate::modem::Modem as CoreModem;
use crate::mqtt::{ClientEvent, ClientOptions, ConnectOptions, MqttClient as CoreClient};
use crate::transcript::escape;

/// A numeric client option checked against its range in the core's table.
fn option_in(name: &str, value: i64) -> PyResult<i64> {
    crate::mqtt::check_option(name, value).map_err(super::errors::to_py)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    #[pyo3(signature = (port, baudrate = 115200, timeout = 5.0, dialect = "auto", *, record = None))]
    fn new(
        py: Python<'_>,
        port: std::path::PathBuf,
        baudrate: i64,
        timeout: f64,
        dialect: &str,
        record: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        // A str, or any os.PathLike (pathlib.Path) naming a device.
        let port = port.into_os_string().into_string().map_err(|p| {
            value_error(format!("port: {} is not valid UTF-8", p.to_string_lossy()))
        })?;
        let baud = int_in("baudrate", baudrate, 50, 20_000_000)? as u32;
        let timeout = seconds("timeout", timeout)?;
        super::reset_log_cache();
        let dialect = dialect.to_string();
        let p = port.clone();
        // The file is created before the port is opened, so a bad path costs nothing.
        let recorder = match record {
            Some(path) => Some(Arc::new(Recorder::create(&path, &port).map_err(|e| {
                PyOSError::new_err(format!("record: cannot create {}: {e}", path.display()))
            })?)),
            None => None,
        };
        let inner = blocking(py, move || {
            CoreModem::open_recorded(&p, baud, timeout, &dialect, recorder)
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

    /// The family learnt when the modem was opened (None if none answered); asks nothing.
    #[getter]
    fn dialect(&self) -> Option<&'static str> {
        self.inner.dialect_name()
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
    /// model, revision, IMEI, and the MQTT command family (dialect) in use.
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
        let cb = lock(&self.urc_cb).take();
        self.inner.on_urc(None);
        drop(cb);
    }

    fn __repr__(&self) -> String {
        let state = if self.inner.engine().is_closed() {
            "closed"
        } else {
            "open"
        };
        let d = self.inner.dialect_name().unwrap_or("?");
        format!("<Modem {} dialect={d} {state}>", self.port)
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
impl Drop for Modem {
    fn drop(&mut self) {
        for c in lock(&self.clients).drain(..).filter_map(|w| w.upgrade()) {
            c.shared().mark_closed();
        }
        self.inner.close();
    }
}

impl Modem {
    fn wrap(&self, slf: &Bound<'_, Self>, client: CoreClient) -> MqttClient {
        let client = Arc::new(client);
        let callbacks = Arc::new(Callbacks::default());
        install_sink(&client, &callbacks, &self.dispatcher);
        lock(&self.clients).push(Arc::downgrade(&client));
        MqttClient {
            inner: client,
            callbacks,
            modem: self.inner.clone(),
            owner: slf.clone().unbind(),
            dispatcher: self.dispatcher.clone(),
        }
    }
}

fn install_sink(client: &Arc<CoreClient>, cbs: &Arc<Callbacks>, d: &Dispatcher) {
    let cbs = cbs.clone();
    let d = d.clone();
    let shared = Arc::downgrade(client.shared());
    client.set_event_sink(Some(Arc::new(move |ev: ClientEvent| match ev {
        ClientEvent::MessageQueued => {
            if cbs.has_on_message.load(Ordering::SeqCst)
                && !cbs.drain_scheduled.swap(true, Ordering::SeqCst)
            {
                d.send(Item::Drain(cbs.clone(), shared.clone()));
            }
        }
        ClientEvent::Disconnected { cause, .. } => d.send(Item::Disconnected(cbs.clone(), cause)),
        ClientEvent::Connected { .. } => d.send(Item::Connected(cbs.clone())),
        ClientEvent::ReconnectFailed { .. } => {}
    })));
}

/// An MQTT client on one of the modem's client indexes.
#[pyclass(frozen, module = "modemqtt")]
pub struct MqttClient {
    inner: Arc<CoreClient>,
    callbacks: Arc<Callbacks>,
    modem: Arc<CoreModem>,
    /// Keeps the `Modem` object (and so the port) alive while its clients are:
    /// `Modem(port).mqtt("x").connect(...)` works.
    owner: Py<Modem>,
    dispatcher: Dispatcher,
}

/// A client Python frees without `close()` says goodbye on a thread of its own, within the
/// modem's timeout: `tp_dealloc` never waits on the modem.
impl Drop for MqttClient {
    fn drop(&mut self) {
        let c = self.inner.clone();
        super::in_background("modemqtt-close", move || {
            if let Err(e) = c.close() {
                log::debug!(
                    "closing client {} after it was freed: {e}",
                    c.shared().index
                );
            }
        });
    }
}

fn callable(name: &str, v: Option<Py<PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    if let Some(cb) = &v {
        let ok = Python::attach(|py| cb.bind(py).is_callable());
        if !ok {
            return Err(type_error(format!("{name}: must be callable or None")));
        }
    }
    Ok(v)
}

fn topics_arg(v: &Bound<'_, PyAny>, qos: i64) -> PyResult<Vec<(String, u8)>> {
    if let Ok(s) = v.extract::<String>() {
        return Ok(vec![(s, int_in("qos", qos, 0, 2)? as u8)]);
    }
    let items: Vec<Bound<'_, PyAny>> = v.extract().map_err(|_| {
        type_error(format!(
            "topic: expected str or a list of (topic, qos), got {}",
            type_name(v)
        ))
    })?;
    items
        .iter()
        .map(|it| {
            if let Ok(s) = it.extract::<String>() {
                return Ok((s, int_in("qos", qos, 0, 2)? as u8));
            }
            let (t, q): (String, i64) = it
                .extract()
                .map_err(|_| type_error("topic: list items must be str or (topic, qos)"))?;
            Ok((t, int_in("qos", q, 0, 2)? as u8))
        })
        .collect()
}

/// Splits `mqtt://host:port` given as host.
fn host_port(host: &str, port: i64) -> PyResult<(String, u16)> {
    if let Some(rest) = host
        .strip_prefix("mqtt://")
        .or_else(|| host.strip_prefix("tcp://"))
    {
        let rest = rest.trim_end_matches('/');
        return match rest.rsplit_once(':') {
            Some((h, p)) => {
                let p: u16 = p
                    .parse()
                    .map_err(|_| value_error(format!("host: invalid port in {host:?}")))?;
                Ok((h.to_string(), p))
            }
            None => Ok((rest.to_string(), int_in("port", port, 1, 65535)? as u16)),
        };
    }
    Ok((host.to_string(), int_in("port", port, 1, 65535)? as u16))
}

#[pymethods]
impl MqttClient {
    #[getter]
    fn client_id(&self) -> String {
        self.inner.backend().client_id().to_string()
    }

    #[getter]
    fn index(&self) -> u8 {
        self.inner.shared().index
    }

    /// Messages dropped because the inbound queue was full.
    #[getter]
    fn dropped(&self) -> u64 {
        self.inner.shared().dropped()
    }

    /// Messages received so far (delivered or dropped).
    #[getter]
    fn received(&self) -> u64 {
        self.inner.shared().received()
    }

    /// Counters: received, dropped, queued, published, disconnects, reconnects.
    fn stats(&self) -> std::collections::HashMap<&'static str, u64> {
        let s = self.inner.shared().stats();
        std::collections::HashMap::from([
            ("received", s.received),
            ("dropped", s.dropped),
            ("queued", s.queued),
            ("published", s.published),
            ("disconnects", s.disconnects),
            ("reconnects", s.reconnects),
        ])
    }

    #[getter]
    fn get_on_message(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        lock(&self.callbacks.on_message)
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    #[setter]
    fn set_on_message(&self, cb: Option<Py<PyAny>>) -> PyResult<()> {
        let cb = callable("on_message", cb)?;
        let set = cb.is_some();
        *lock(&self.callbacks.on_message) = cb;
        self.callbacks.has_on_message.store(set, Ordering::SeqCst);
        self.inner.shared().set_callback_attached(set);
        // Messages queued before the callback was set go to it too.
        if set && !self.callbacks.drain_scheduled.swap(true, Ordering::SeqCst) {
            let shared = Arc::downgrade(self.inner.shared());
            self.dispatcher
                .send(Item::Drain(self.callbacks.clone(), shared));
        }
        Ok(())
    }

    #[getter]
    fn get_on_disconnect(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        lock(&self.callbacks.on_disconnect)
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    #[setter]
    fn set_on_disconnect(&self, cb: Option<Py<PyAny>>) -> PyResult<()> {
        *lock(&self.callbacks.on_disconnect) = callable("on_disconnect", cb)?;
        Ok(())
    }

    #[getter]
    fn get_on_connect(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        lock(&self.callbacks.on_connect)
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    #[setter]
    fn set_on_connect(&self, cb: Option<Py<PyAny>>) -> PyResult<()> {
        *lock(&self.callbacks.on_connect) = callable("on_connect", cb)?;
        Ok(())
    }

    /// `host` is required, except on Alibaba-cloud firmware, which connects to the
    /// platform by itself and takes no host.
    #[pyo3(signature = (host = None, port = 1883, keepalive = 60, clean_session = true, username = None,
        password = None, will = None, tls = None, timeout = 30.0))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &self,
        py: Python<'_>,
        host: Option<&str>,
        port: i64,
        keepalive: i64,
        clean_session: bool,
        username: Option<String>,
        password: Option<String>,
        will: Option<PyRef<'_, Will>>,
        tls: Option<PyRef<'_, Tls>>,
        timeout: f64,
    ) -> PyResult<()> {
        let backend = self.inner.backend();
        let (host, port) = match (host, backend.own_endpoint()) {
            (Some(h), None) => host_port(h, port)?,
            (None, None) => return Err(value_error("host: required")),
            (Some(_), Some(_)) => {
                return Err(value_error(format!(
                    "host: the {} firmware connects to its platform by itself; leave host out",
                    backend.capabilities().family
                )))
            }
            // The endpoint is informational: the firmware picks it.
            (None, Some(endpoint)) => (endpoint, 1883),
        };
        let mut opts = ConnectOptions::new(&host, port);
        opts.keepalive = int_in("keepalive", keepalive, 0, u32::MAX as i64)? as u32;
        opts.clean_session = clean_session;
        opts.username = username;
        opts.password = password;
        opts.will = will.map(|w| w.to_core());
        opts.tls = tls.map(|t| t.inner.clone());
        opts.timeout = seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || c.connect(opts))
    }

    #[pyo3(signature = (topic, payload, qos = 0, retain = false, timeout = None))]
    fn publish(
        &self,
        py: Python<'_>,
        topic: String,
        payload: &Bound<'_, PyAny>,
        qos: i64,
        retain: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let payload = payload_bytes("payload", payload)?;
        let qos = int_in("qos", qos, 0, 2)? as u8;
        let timeout = opt_seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || {
            c.publish(&topic, &payload, qos, retain, timeout)
        })
    }

    #[pyo3(signature = (topic, qos = 0, timeout = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        qos: i64,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let topics = topics_arg(topic, qos)?;
        let timeout = opt_seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || c.subscribe(&topics, timeout))
    }

    #[pyo3(signature = (topic, timeout = None))]
    fn unsubscribe(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let topics: Vec<String> = topics_arg(topic, 0)?.into_iter().map(|(t, _)| t).collect();
        let timeout = opt_seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || c.unsubscribe(&topics, timeout))
    }

    /// What the modem's MQTT stack allows (family, profile, limits, features), as a dict.
    fn capabilities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let c = self.inner.backend().capabilities();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("family", c.family)?;
        d.set_item("profile", &c.profile)?;
        d.set_item("clients", c.clients)?;
        d.set_item("client_id_len", c.client_id_len)?;
        d.set_item("topic_max", c.topic_max)?;
        d.set_item("payload_max", c.payload_max)?;
        d.set_item("will_topic_max", c.will_topic_max)?;
        d.set_item("will_payload_max", c.will_payload_max)?;
        d.set_item("max_qos", c.max_qos)?;
        d.set_item("keepalive", c.keepalive)?;
        d.set_item("credential_max", c.credential_max)?;
        d.set_item("server_addr_len", c.server_addr_len)?;
        d.set_item("tls", c.tls)?;
        d.set_item("will", c.will)?;
        d.set_item("will_retain", c.will_retain)?;
        d.set_item("retain", c.retain)?;
        d.set_item("empty_payload", c.empty_payload)?;
        Ok(d)
    }

    /// The topic filters currently subscribed, with their QoS.
    fn subscriptions(&self) -> Vec<(String, u8)> {
        self.inner.subscriptions()
    }

    #[pyo3(signature = (timeout = None))]
    fn disconnect(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = opt_seconds("timeout", timeout)?;
        let c = self.inner.clone();
        blocking(py, move || c.disconnect(timeout))
    }

    /// Whether the client is connected; on Alibaba firmware the modem is asked
    /// (`AT+CMSTATUS?`) where it can be.
    fn is_connected(&self, py: Python<'_>) -> PyResult<bool> {
        let c = self.inner.clone();
        blocking(py, move || Ok(c.is_connected()))
    }

    /// Waits for the next message (matching the `topic` filter, if given).
    #[pyo3(signature = (topic = None, timeout = 10.0))]
    fn wait_message(
        &self,
        py: Python<'_>,
        topic: Option<String>,
        timeout: f64,
    ) -> PyResult<Message> {
        let t = seconds("timeout", timeout)?;
        if let Some(f) = &topic {
            crate::mqtt::topic::validate_filter(f).map_err(to_py)?;
        }
        match self.next(py, topic.as_deref(), t)? {
            Some(m) => Ok(m),
            None => Err(ModemTimeout::new_err(format!(
                "no message{} within {timeout} s",
                topic.map(|f| format!(" on {f:?}")).unwrap_or_default()
            ))),
        }
    }

    /// Iterates over messages until none arrives within `timeout` seconds.
    #[pyo3(signature = (timeout = 1.0))]
    fn messages(slf: Py<Self>, timeout: f64) -> PyResult<MessageIter> {
        Ok(MessageIter {
            client: slf,
            timeout: seconds("timeout", timeout)?,
        })
    }

    /// Disconnects and releases the client on the modem, taking the modem's `timeout` at
    /// most in all (or `timeout` seconds), even against a modem that no longer answers.
    #[pyo3(signature = (timeout = None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let budget = opt_seconds("timeout", timeout)?.unwrap_or(self.inner.close_timeout());
        let c = self.inner.clone();
        blocking(py, move || c.close_within(budget))
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
        self.callbacks.traverse(&visit)?;
        visit.call(&self.owner)
    }

    fn __clear__(&self) {
        self.callbacks.clear();
    }

    fn _repr_html_(&self) -> String {
        let connected = self.inner.shared().is_connected();
        let subs = self
            .inner
            .subscriptions()
            .into_iter()
            .map(|(t, q)| {
                format!(
                    "<code>{}</code>&nbsp;(QoS&nbsp;{q})",
                    super::types::html_escape(&t)
                )
            })
            .collect::<Vec<_>>();
        format!(
            "<b>MqttClient</b> <code>{}</code> index {} on <code>{}</code>: \
             <span style=\"color:{}\">{}</span>; subscriptions: {}; \
             received {}, dropped {}",
            super::types::html_escape(self.inner.backend().client_id()),
            self.inner.shared().index,
            super::types::html_escape(self.modem.engine().name()),
            if connected { "green" } else { "gray" },
            if connected {
                "connected"
            } else {
                "not connected"
            },
            if subs.is_empty() {
                "none".to_string()
            } else {
                subs.join(", ")
            },
            self.inner.shared().received(),
            self.inner.shared().dropped(),
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "<MqttClient {:?} index={} {} on {}>",
            self.inner.backend().client_id(),
            self.inner.shared().index,
            if self.inner.shared().is_connected() {
                "connected"
            } else {
                "not connected"
            },
            self.modem.engine().name()
        )
    }
}

impl MqttClient {
    /// Waits in short slices so Ctrl-C (KeyboardInterrupt) is noticed.
    fn next(
        &self,
        py: Python<'_>,
        filter: Option<&str>,
        timeout: Duration,
    ) -> PyResult<Option<Message>> {
        let deadline = Instant::now() + timeout;
        loop {
            let slice = (Instant::now() + crate::waits::CHECK_EVERY).min(deadline);
            let shared = self.inner.shared().clone();
            let f = filter.map(str::to_string);
            let got = super::gate::detach(py, move || shared.next_message(f.as_deref(), slice));
            if let Some(m) = got {
                return Ok(Some(Message::from_core(m)));
            }
            py.check_signals()?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
}

#[pyclass(module = "modemqtt")]
pub struct MessageIter {
    client: Py<MqttClient>,
    timeout: Duration,
}

#[pymethods]
impl MessageIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Message>> {
        let client = self.client.bind(py).get();
        client.next(py, None, self.timeout)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.client)
    }
}
