//! Python class `VirtualModem` and function `profiles()`.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use super::errors::{ModemError, PortError, ReplayMismatch};
use crate::sim::{self, NetTiming, ReplayModem, SimConfig, SimError, MAX_PART_SIZE};

fn to_py(e: SimError) -> PyErr {
    match e {
        SimError::UnknownProfile(_) | SimError::InvalidArgument(_) => {
            PyValueError::new_err(e.to_string())
        }
        SimError::Pty(_) | SimError::Listen(..) => PortError::new_err(e.to_string()),
        SimError::Recording(_) => PyValueError::new_err(e.to_string()),
        _ => ModemError::new_err(e.to_string()),
    }
}

/// How long network results, received messages and link losses take to reach the host:
/// `delay` seconds plus a jitter drawn from `[0, jitter]` by a generator seeded with `seed`.
#[pyclass(module = "modemqtt", name = "NetworkTiming", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyNetworkTiming {
    inner: NetTiming,
}

fn seconds_arg(name: &str, v: f64) -> PyResult<Duration> {
    let max = sim::MAX_NET_DELAY.as_secs_f64();
    if !v.is_finite() || !(0.0..=max).contains(&v) {
        return Err(PyValueError::new_err(format!(
            "{name}: must be 0 to {max} seconds, got {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

#[pymethods]
impl PyNetworkTiming {
    #[new]
    #[pyo3(signature = (delay, jitter = 0.0, seed = 1))]
    fn new(delay: f64, jitter: f64, seed: u64) -> PyResult<Self> {
        let inner = NetTiming::new(
            seconds_arg("delay", delay)?,
            seconds_arg("jitter", jitter)?,
            seed,
        )
        .map_err(to_py)?;
        Ok(PyNetworkTiming { inner })
    }

    /// A named preset for `profile`: "fast" (no delay) or "realistic" (the round trip of
    /// the module's radio: LTE Cat-1/4, LTE-M or NB-IoT).
    #[staticmethod]
    fn preset(name: &str, profile: &str) -> PyResult<Self> {
        Ok(PyNetworkTiming {
            inner: timing_preset(name, profile)?,
        })
    }

    /// Base delay in seconds.
    #[getter]
    fn delay(&self) -> f64 {
        self.inner.delay.as_secs_f64()
    }

    /// Largest extra delay in seconds.
    #[getter]
    fn jitter(&self) -> f64 {
        self.inner.jitter.as_secs_f64()
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The first `n` delays (seconds) a modem with this timing uses, in order.
    fn delays(&self, n: usize) -> PyResult<Vec<f64>> {
        if n > 1_000_000 {
            return Err(PyValueError::new_err(format!(
                "n: must be at most 1000000, got {n}"
            )));
        }
        Ok(self
            .inner
            .delays(n)
            .into_iter()
            .map(|d| d.as_secs_f64())
            .collect())
    }

    fn __repr__(&self) -> String {
        format!(
            "NetworkTiming(delay={}, jitter={}, seed={})",
            self.delay(),
            self.jitter(),
            self.inner.seed
        )
    }
}

fn timing_preset(name: &str, profile: &str) -> PyResult<NetTiming> {
    NetTiming::preset(name, profile).map_err(|e| match e {
        SimError::UnknownProfile(_) => PyValueError::new_err(format!(
            "profile: unknown profile {profile:?}; valid profiles: {}",
            sim::profiles().join(", ")
        )),
        _ => PyValueError::new_err(format!(
            "timing: unknown preset {name:?}; valid presets: {} (or a NetworkTiming)",
            sim::TIMING_PRESETS.join(", ")
        )),
    })
}

/// `timing=`: a preset name or a NetworkTiming.
fn timing_arg(timing: Option<&Bound<'_, PyAny>>, profile: &str) -> PyResult<NetTiming> {
    let Some(t) = timing else {
        return Ok(NetTiming::FAST);
    };
    if let Ok(nt) = t.cast::<PyNetworkTiming>() {
        return Ok(nt.get().inner);
    }
    if let Ok(name) = t.extract::<String>() {
        return timing_preset(&name, profile);
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "timing: expected a preset name ({}) or a NetworkTiming, got {}",
        sim::TIMING_PRESETS.join(", "),
        t.get_type().name()?
    )))
}

enum Inner {
    Live(sim::VirtualModem),
    /// `VirtualModem.replay(path)` / profile `replay:<path>`: plays back a recording.
    Replay(ReplayModem),
}

/// A virtual SIMCom modem on a pseudo-terminal, connected to an MQTT broker.
#[pyclass(module = "modemqtt", name = "VirtualModem", frozen)]
pub struct PyVirtualModem {
    inner: Inner,
}

fn start_replay(py: Python<'_>, path: std::path::PathBuf) -> PyResult<PyVirtualModem> {
    if !path.is_file() {
        return Err(pyo3::exceptions::PyFileNotFoundError::new_err(format!(
            "replay: no recording at {}",
            path.display()
        )));
    }
    let rm = py.detach(|| ReplayModem::start(&path)).map_err(to_py)?;
    Ok(PyVirtualModem {
        inner: Inner::Replay(rm),
    })
}

impl PyVirtualModem {
    /// The live modem, or ValueError naming what a replay cannot do.
    fn live(&self, what: &str) -> PyResult<&sim::VirtualModem> {
        match &self.inner {
            Inner::Live(vm) => Ok(vm),
            Inner::Replay(_) => Err(PyValueError::new_err(format!(
                "{what}: not available on a replay (it only plays back its recording)"
            ))),
        }
    }

    fn replay_modem(&self, what: &str) -> PyResult<&ReplayModem> {
        match &self.inner {
            Inner::Replay(rm) => Ok(rm),
            Inner::Live(_) => Err(PyValueError::new_err(format!(
                "{what}: only a replay (VirtualModem.replay(path)) has a recording to check"
            ))),
        }
    }

    fn is_closed(&self) -> bool {
        match &self.inner {
            Inner::Live(vm) => vm.is_closed(),
            Inner::Replay(rm) => rm.is_closed(),
        }
    }

    fn close_inner(&self) {
        match &self.inner {
            Inner::Live(vm) => vm.close(),
            Inner::Replay(rm) => rm.close(),
        }
    }
}

#[pymethods]
impl PyVirtualModem {
    #[new]
    #[pyo3(signature = (profile = "a7600", broker = None, *, part_size = None, listen = None, hosts = None, timing = None))]
    fn new(
        py: Python<'_>,
        profile: &str,
        broker: Option<String>,
        part_size: Option<i64>,
        listen: Option<String>,
        hosts: Option<std::collections::BTreeMap<String, Option<String>>>,
        timing: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        super::reset_log_cache();
        if let Some(path) = profile.strip_prefix("replay:") {
            return start_replay(py, path.into());
        }
        if !sim::profiles()
            .iter()
            .any(|p| p.eq_ignore_ascii_case(profile))
        {
            return Err(PyValueError::new_err(format!(
                "profile: unknown profile {profile:?}; valid profiles: {}",
                sim::profiles().join(", ")
            )));
        }
        if let Some(n) = part_size {
            if n < 1 || n > MAX_PART_SIZE as i64 {
                return Err(PyValueError::new_err(format!(
                    "part_size: must be between 1 and {MAX_PART_SIZE}, got {n}"
                )));
            }
        }
        let timing = timing_arg(timing, profile)?;
        let config = SimConfig {
            profile: profile.to_owned(),
            broker_url: broker,
            part_size: part_size.map(|n| n as usize),
            hosts: hosts.unwrap_or_default().into_iter().collect(),
            timing,
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
        Ok(PyVirtualModem {
            inner: Inner::Live(inner),
        })
    }

    /// Plays back a recording (`Modem(..., record=path)`, `modemqtt record`) as a virtual
    /// modem that checks the host sends what was recorded.
    #[staticmethod]
    fn replay(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        start_replay(py, path)
    }

    /// The pty path for the host to open, e.g. "/dev/pts/7".
    #[getter]
    fn port(&self) -> String {
        match &self.inner {
            Inner::Live(vm) => vm.port().to_owned(),
            Inner::Replay(rm) => rm.port().to_owned(),
        }
    }

    /// "socket://HOST:PORT" when serving over TCP (`listen=`), else None.
    #[getter]
    fn tcp_url(&self) -> Option<String> {
        match &self.inner {
            Inner::Live(vm) => vm.tcp_url(),
            Inner::Replay(_) => None,
        }
    }

    /// The broker's url; empty for a replay (it talks to no broker).
    #[getter]
    fn broker_url(&self) -> String {
        match &self.inner {
            Inner::Live(vm) => vm.broker_url().to_owned(),
            Inner::Replay(_) => String::new(),
        }
    }

    /// The profile name, or `replay:<path>` for a replay.
    #[getter]
    fn profile(&self) -> String {
        match &self.inner {
            Inner::Live(vm) => vm.profile().to_owned(),
            Inner::Replay(rm) => format!("replay:{}", rm.path()),
        }
    }

    /// Raises ReplayMismatch if the host did not send what the recording holds, or (with
    /// `complete`) stopped before sending all of it.
    #[pyo3(signature = (complete = true))]
    fn check(&self, complete: bool) -> PyResult<()> {
        self.replay_modem("check")?
            .check(complete)
            .map_err(ReplayMismatch::new_err)
    }

    /// Where a replay stands: steps, position, complete, host_bytes, mismatch.
    fn replay_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.replay_modem("replay_status")?.status();
        Ok(py_dict!(py,
            "steps" => s.steps,
            "position" => s.position,
            "complete" => s.complete,
            "host_bytes" => s.host_bytes,
            "mismatch" => s.mismatch,
        ))
    }

    /// Closes the client's TCP link abruptly (the broker sends the will), then reports it
    /// as the family does (e.g. "+CMQTTCONNLOST: client_index,cause", CMQTT 1-3;
    /// "+QMTSTAT: client_index,cause", QMT 1-7; "+UUMQTTC: 0,cause", u-blox 100-102);
    /// `cause` defaults to the first of the profile's range.
    #[pyo3(signature = (client_index = 0, cause = None))]
    fn drop_link(&self, py: Python<'_>, client_index: i64, cause: Option<i64>) -> PyResult<()> {
        if !(0..=255).contains(&client_index) {
            return Err(PyValueError::new_err(format!(
                "client_index: out of range, got {client_index}"
            )));
        }
        let vm = self.live("drop_link")?;
        let causes = vm.link_causes();
        // The profile's first cause when none is given (1 on CMQTT, QMT, Alibaba, SM, ESP-AT).
        let cause = cause.unwrap_or_else(|| i64::from(*causes.start()));
        if !(i64::from(*causes.start())..=i64::from(*causes.end())).contains(&cause) {
            return Err(PyValueError::new_err(format!(
                "cause: must be {}..{} on {}, got {cause}",
                causes.start(),
                causes.end(),
                vm.profile()
            )));
        }
        py.detach(|| vm.drop_link(client_index as u8, cause as u8))
            .map_err(to_py)
    }

    /// QMT profiles: drops every link on PDP context `cid`, then reports
    /// '+QIURC: "pdpdeact",cid'; the context stays down until AT+QIACT or AT+QMTOPEN.
    #[pyo3(signature = (cid = 1))]
    fn pdp_deactivate(&self, py: Python<'_>, cid: i64) -> PyResult<()> {
        if !(1..=16).contains(&cid) {
            return Err(PyValueError::new_err(format!(
                "cid: must be 1 to 16, got {cid}"
            )));
        }
        let vm = self.live("pdp_deactivate")?;
        py.detach(|| vm.pdp_deactivate(cid as u8)).map_err(to_py)
    }

    /// Alibaba profiles: forces the CoAP response code of the following sends (e.g. 0x80;
    /// `None` answers 0x45 again).
    #[pyo3(signature = (code))]
    fn force_coap_response(&self, py: Python<'_>, code: Option<i64>) -> PyResult<()> {
        let code = code
            .map(|c| {
                u8::try_from(c)
                    .map_err(|_| PyValueError::new_err(format!("code: must be 0 to 255, got {c}")))
            })
            .transpose()?;
        let vm = self.live("force_coap_response")?;
        py.detach(|| vm.force_coap_response(code)).map_err(to_py)
    }

    /// Alibaba profiles: the next `AT+CCAUTH` fails with `code`.
    fn force_coap_auth_error(&self, py: Python<'_>, code: i32) -> PyResult<()> {
        let vm = self.live("force_coap_auth_error")?;
        py.detach(|| vm.force_coap_auth_error(code)).map_err(to_py)
    }

    /// Alibaba profiles: sign the MQTT login with a timestamp (default, as the firmware
    /// does) or without (a stable password a broker can hold in a password file).
    fn set_sign_timestamp(&self, py: Python<'_>, on: bool) -> PyResult<()> {
        let vm = self.live("set_sign_timestamp")?;
        py.detach(|| vm.set_sign_timestamp(on)).map_err(to_py)
    }

    /// Alibaba profiles: the next `AT+CCSEND` fails with `code`.
    fn force_coap_send_error(&self, py: Python<'_>, code: i32) -> PyResult<()> {
        let vm = self.live("force_coap_send_error")?;
        py.detach(|| vm.force_coap_send_error(code)).map_err(to_py)
    }

    /// Power-cycles the modem and sends the boot URCs.
    fn reboot(&self, py: Python<'_>) -> PyResult<()> {
        let vm = self.live("reboot")?;
        py.detach(|| vm.reboot());
        Ok(())
    }

    /// Delivers output in pieces of at most n bytes (None: whole frames).
    #[pyo3(signature = (n))]
    fn set_chunk_size(&self, py: Python<'_>, n: Option<i64>) -> PyResult<()> {
        let n = opt_in("n", n, 1..=i64::MAX, "at least 1")?.map(|v| v as usize);
        let vm = self.live("set_chunk_size")?;
        py.detach(|| vm.set_chunk_size(n));
        Ok(())
    }

    /// Paces all output as a UART at `baud` bits/s would (10 bits a byte); None: unpaced.
    #[pyo3(signature = (baud))]
    fn set_baudrate(&self, py: Python<'_>, baud: Option<i64>) -> PyResult<()> {
        let baud =
            opt_in("baud", baud, 50..=16_000_000, "between 50 and 16000000")?.map(|v| v as u32);
        let vm = self.live("set_baudrate")?;
        py.detach(|| vm.set_baudrate(baud));
        Ok(())
    }

    /// Writes `data` to the host once, between two frames.
    fn inject_noise(&self, py: Python<'_>, data: Vec<u8>) -> PyResult<()> {
        let vm = self.live("inject_noise")?;
        py.detach(|| vm.inject_noise(&data));
        Ok(())
    }

    /// The network timing: how long results, received messages and link losses take to
    /// reach the host (a replay has none: it plays its recording as recorded).
    #[getter]
    fn timing(&self) -> PyNetworkTiming {
        let inner = match &self.inner {
            Inner::Live(vm) => vm.timing(),
            Inner::Replay(_) => NetTiming::FAST,
        };
        PyNetworkTiming { inner }
    }

    /// Changes the network timing (a preset name or a NetworkTiming); what is already on
    /// its way keeps its time.
    fn set_timing(&self, py: Python<'_>, timing: &Bound<'_, PyAny>) -> PyResult<()> {
        let vm = self.live("set_timing")?;
        let t = timing_arg(Some(timing), vm.profile())?;
        py.detach(|| vm.set_timing(t)).map_err(to_py)
    }

    /// Waits `seconds` before answering each command.
    fn set_response_delay(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        if !seconds.is_finite() || !(0.0..=3600.0).contains(&seconds) {
            return Err(PyValueError::new_err(format!(
                "seconds: must be between 0 and 3600, got {seconds}"
            )));
        }
        let vm = self.live("set_response_delay")?;
        py.detach(|| vm.set_response_delay(Duration::from_secs_f64(seconds)));
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
        let vm = self.live("refuse")?;
        py.detach(|| vm.refuse(command_prefix.as_deref(), &reply));
        Ok(())
    }

    /// Largest +CMQTTRXTOPIC / +CMQTTRXPAYLOAD part.
    fn set_part_size(&self, py: Python<'_>, n: i64) -> PyResult<()> {
        if n < 1 || n > MAX_PART_SIZE as i64 {
            return Err(PyValueError::new_err(format!(
                "n: must be between 1 and {MAX_PART_SIZE}, got {n}"
            )));
        }
        let vm = self.live("set_part_size")?;
        py.detach(|| vm.set_part_size(n as usize));
        Ok(())
    }

    /// Counters: commands, bytes_in, bytes_out, published, delivered.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.live("stats")?.stats();
        Ok(py_dict!(py,
            "commands" => s.commands,
            "bytes_in" => s.bytes_in,
            "bytes_out" => s.bytes_out,
            "published" => s.published,
            "delivered" => s.delivered,
        ))
    }

    /// Stops the modem and closes the pty; idempotent.
    fn close(&self, py: Python<'_>) {
        super::gate::detach(py, || self.close_inner())
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
    ) -> PyResult<bool> {
        super::gate::detach(py, || self.close_inner());
        // A replay the host strayed from fails the `with` block (unless it already fails).
        if let (Inner::Replay(rm), None) = (&self.inner, &_exc_type) {
            rm.check(false).map_err(ReplayMismatch::new_err)?;
        }
        Ok(false)
    }

    /// Whether `close()` (or the end of its `with` block) stopped it.
    #[getter]
    fn closed(&self) -> bool {
        self.is_closed()
    }

    fn __repr__(&self) -> String {
        // Open, it reads like the call that made it; closed, it says so and keeps no URL.
        let closed = self.is_closed();
        match &self.inner {
            Inner::Live(vm) if closed => format!(
                "<closed VirtualModem profile='{}' port='{}'>",
                vm.profile(),
                vm.port()
            ),
            Inner::Live(vm) => {
                let tcp = vm
                    .tcp_url()
                    .map(|u| format!(", tcp_url='{u}'"))
                    .unwrap_or_default();
                format!(
                    "VirtualModem(profile='{}', port='{}', broker_url='{}'{tcp})",
                    vm.profile(),
                    vm.port(),
                    vm.broker_url()
                )
            }
            Inner::Replay(rm) if closed => format!(
                "<closed VirtualModem.replay('{}') on '{}'>",
                rm.path(),
                rm.port()
            ),
            Inner::Replay(rm) => format!("VirtualModem.replay('{}') on '{}'", rm.path(), rm.port()),
        }
    }

    fn _repr_html_(&self) -> String {
        let e = super::types::html_escape;
        let (what, port, broker) = match &self.inner {
            Inner::Live(vm) => (
                format!("profile <code>{}</code>", e(vm.profile())),
                vm.port().to_string(),
                format!("broker <code>{}</code>", e(vm.broker_url())),
            ),
            Inner::Replay(rm) => (
                format!("replay of <code>{}</code>", e(rm.path())),
                rm.port().to_string(),
                "no broker".to_string(),
            ),
        };
        let (colour, state) = if self.is_closed() {
            ("gray", "closed")
        } else {
            ("green", "running")
        };
        format!(
            "<b>VirtualModem</b> {what} on <code>{}</code>, {broker}: \
             <span style=\"color:{colour}\">{state}</span>",
            e(&port)
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
    m.add_class::<PyNetworkTiming>()?;
    m.add_function(wrap_pyfunction!(profiles, m)?)?;
    Ok(())
}

/// `v` when it is None or in `range`; else ValueError naming `name` and what it must be.
fn opt_in(
    name: &str,
    v: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    wanted: &str,
) -> PyResult<Option<i64>> {
    match v {
        Some(v) if !range.contains(&v) => Err(PyValueError::new_err(format!(
            "{name}: must be {wanted} or None, got {v}"
        ))),
        v => Ok(v),
    }
}
