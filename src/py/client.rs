//! `modemqtt.MqttClient`: one MQTT client of a modem's stack (made by `Modem.mqtt()` or
//! `Modem.aliyun_mqtt()`), its callbacks and its message iterator.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTraverseError;

use super::blocking;
use super::dispatch::{Callbacks, Dispatcher, Item};
use super::errors::{to_py, type_error, value_error, ModemTimeout};
use super::lock;
use super::types::{int_in, opt_seconds, payload_bytes, seconds, type_name, Message, Tls, Will};
use crate::modem::Modem as CoreModem;
use crate::mqtt::{ClientEvent, ConnectOptions, MqttClient as CoreClient};

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
    owner: Py<PyAny>,
    dispatcher: Dispatcher,
}

/// A client Python frees without `close()` says goodbye on a thread of its own, within the
/// modem's timeout: `tp_dealloc` never waits on the modem.
///
/// Its callbacks go with it. They sit in slots the callback thread shares (queued events
/// hold them), and `__traverse__` told the collector they belong to this object: when the
/// collector frees a cycle through them it may clear a callable first (a function's
/// closure and globals emptied) and free this object by reference count without calling
/// `__clear__`; a callable left in a shared slot would then be called in that state.
impl Drop for MqttClient {
    fn drop(&mut self) {
        self.callbacks.clear();
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

/// The callback in `slot`, if any.
fn current(py: Python<'_>, slot: &Mutex<Option<Py<PyAny>>>) -> Option<Py<PyAny>> {
    lock(slot).as_ref().map(|c| c.clone_ref(py))
}

/// Puts `cb` in `slot`.
fn replace(slot: &Mutex<Option<Py<PyAny>>>, cb: Option<Py<PyAny>>) -> PyResult<()> {
    *lock(slot) = cb;
    Ok(())
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
        current(py, &self.callbacks.on_message)
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
        current(py, &self.callbacks.on_disconnect)
    }

    #[setter]
    fn set_on_disconnect(&self, cb: Option<Py<PyAny>>) -> PyResult<()> {
        replace(
            &self.callbacks.on_disconnect,
            callable("on_disconnect", cb)?,
        )
    }

    #[getter]
    fn get_on_connect(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        current(py, &self.callbacks.on_connect)
    }

    #[setter]
    fn set_on_connect(&self, cb: Option<Py<PyAny>>) -> PyResult<()> {
        replace(&self.callbacks.on_connect, callable("on_connect", cb)?)
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
        Ok(py_dict!(py,
            "family" => c.family,
            "profile" => &c.profile,
            "clients" => c.clients,
            "client_id_len" => c.client_id_len,
            "topic_max" => c.topic_max,
            "payload_max" => c.payload_max,
            "will_topic_max" => c.will_topic_max,
            "will_payload_max" => c.will_payload_max,
            "max_qos" => c.max_qos,
            "keepalive" => c.keepalive,
            "credential_max" => c.credential_max,
            "server_addr_len" => c.server_addr_len,
            "tls" => c.tls,
            "will" => c.will,
            "will_retain" => c.will_retain,
            "retain" => c.retain,
            "empty_payload" => c.empty_payload,
        ))
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
    /// The Python face of a client opened on `modem` (owned by the Python `owner`), its
    /// events passed to the callbacks by `dispatcher`.
    pub(super) fn new(
        inner: Arc<CoreClient>,
        modem: Arc<CoreModem>,
        owner: Py<PyAny>,
        dispatcher: &Dispatcher,
    ) -> Self {
        let callbacks = Arc::new(Callbacks::default());
        install_sink(&inner, &callbacks, dispatcher);
        MqttClient {
            inner,
            callbacks,
            modem,
            owner,
            dispatcher: dispatcher.clone(),
        }
    }

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
