//! A virtual modem answering AT commands on a pseudo-terminal and speaking real MQTT to a
//! broker: SIMCom `AT+CMQTT*` (`cmqtt`), Quectel `AT+QMT*` (`qmt`) and the SIMCom
//! Alibaba firmware (`aliyun`), each behind the `modem::SimFamily` seam over a shared
//! core (`parser`, `args`, `modem`, `ssl`, `link`).
//!
//! Threads: one reader per modem (host bytes → AT engine; commands are
//! executed there), one thread per live MQTT link (rumqttc `Connection`), and
//! with a network delay set one thread that writes network output when it is
//! due (`netdelay`).
//! All output goes through [`Shared::write_frame`], which holds one mutex for
//! the whole frame, so a URC never lands inside another frame. The modem
//! state lock is always taken before the output lock; a command's response is
//! written while the state lock is held, so a link's result URC (e.g.
//! `+CMQTTPUB: 0,0`) can never overtake the command's `OK`.
//!
//! Where the host may connect: see `hosts` (loopback as given, `broker.example.org` and
//! the names the user maps to the broker, any other name a DNS error, any other address
//! unreachable). An SSL client's TLS link checks the server certificate against the host
//! it asked for, also when redirected (see `tls`).

mod aliyun;
mod args;
mod cmqtt;
mod conn;
mod espat;
mod hosts;
mod link;
mod modem;
mod netdelay;
mod parser;
mod profile;
mod pty;
mod qmt;
pub mod replay;
mod sign;
mod sm;
mod ssl;
mod tcp;
mod tls;
mod umqtt;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::broker::{BrokerError, EmbeddedBroker};

use modem::{Modem, SimFamily};
pub use netdelay::{NetTiming, MAX_DELAY as MAX_NET_DELAY, PRESETS as TIMING_PRESETS};
use parser::HostInput;
use profile::Profile;
use pty::Pty;
pub use replay::{ReplayModem, ReplayStatus};

/// The registered families (`modem::SIM_FAMILIES`) in probe order (their profiles' family).
fn sim_families() -> &'static [&'static dyn SimFamily] {
    static SORTED: std::sync::OnceLock<Vec<&'static dyn SimFamily>> = std::sync::OnceLock::new();
    SORTED.get_or_init(|| {
        crate::family::in_probe_order(modem::SIM_FAMILIES.iter().copied(), |f| {
            f.profiles().first().map(|p| p.family)
        })
    })
}

/// Every imitated modem, family by family.
fn all_profiles() -> impl Iterator<Item = &'static Profile> {
    sim_families()
        .iter()
        .flat_map(|f| f.profiles().iter().copied())
}

/// Names of the imitated modems.
pub fn profiles() -> Vec<&'static str> {
    all_profiles().map(|p| p.name).collect()
}

/// The profile called `name` (any case), with its family.
fn find(name: &str) -> Option<(&'static Profile, &'static dyn SimFamily)> {
    sim_families()
        .iter()
        .flat_map(|f| f.profiles().iter().map(move |p| (*p, *f)))
        .find(|(p, _)| p.name.eq_ignore_ascii_case(name))
}

/// The profile called `name` (any case).
pub(crate) fn find_profile(name: &str) -> Option<&'static Profile> {
    find(name).map(|(p, _)| p)
}

/// Largest part size accepted by [`VirtualModem::set_part_size`].
pub const MAX_PART_SIZE: usize = 65536;

/// How late a paced write may come after the line went free and still continue the line's
/// busy time (see `Shared::pace_line`): more than a sleep overshoots, less than a real gap.
const PACE_SLACK: Duration = Duration::from_millis(2);

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown profile {0:?}; valid profiles: {v}", v = profiles().join(", "))]
    UnknownProfile(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("cannot create the pseudo-terminal: {0}")]
    Pty(io::Error),
    #[error("embedded broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, io::Error),
    #[error("cannot spawn a thread: {0}")]
    Thread(io::Error),
    #[error("client {0} has no MQTT link")]
    NoLink(u8),
    #[error("the virtual modem is closed")]
    Closed,
    #[error("recording: {0}")]
    Recording(String),
}

/// How to start a [`VirtualModem`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// "a7600", "sim7600" or "sim7028".
    pub profile: String,
    /// `mqtt://host:port` (also `tcp://`, or bare `host:port`); `None` uses
    /// [`EmbeddedBroker::shared`].
    pub broker_url: Option<String>,
    /// Largest `+CMQTTRXTOPIC` / `+CMQTTRXPAYLOAD` part, 1..=65536; `None`: the
    /// profile's own (1500 on sim7600, 1024 elsewhere).
    pub part_size: Option<usize>,
    /// Host names the virtual network resolves, besides `localhost`, loopback addresses and
    /// [`DEFAULT_HOST`]: name → `None` (the broker) or `"host"` / `"host:port"`.
    pub hosts: Vec<(String, Option<String>)>,
    /// How long network results, received messages and link losses take to reach the
    /// host (see `netdelay`); the default is no delay.
    pub timing: NetTiming,
}

pub use hosts::DEFAULT_NAME as DEFAULT_HOST;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            profile: "a7600".to_owned(),
            broker_url: None,
            part_size: None,
            hosts: Vec::new(),
            timing: NetTiming::FAST,
        }
    }
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// AT command lines executed (or refused).
    pub commands: u64,
    /// Bytes received from the host.
    pub bytes_in: u64,
    /// Bytes written to the host.
    pub bytes_out: u64,
    /// PUBLISH packets sent to the broker.
    pub published: u64,
    /// Messages delivered to the host as `+CMQTTRX*` blocks.
    pub delivered: u64,
}

#[derive(Default)]
struct Stats {
    commands: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    published: AtomicU64,
    delivered: AtomicU64,
}

#[derive(Default)]
struct Faults {
    delay: Duration,
    refuse: Option<(String, String)>,
}

pub(crate) struct Shared {
    profile: &'static Profile,
    /// The profile's command family.
    family: &'static dyn SimFamily,
    broker_host: String,
    broker_port: u16,
    /// Where a client's host goes (see `hosts`).
    hosts: hosts::Hosts,
    pty: RwLock<Option<Pty>>,
    closed: AtomicBool,
    /// Held for the whole of one frame; holds the chunk size.
    out: Mutex<Option<usize>>,
    state: Mutex<Modem>,
    faults: Mutex<Faults>,
    part_size: AtomicUsize,
    /// Bumped by a reboot: every reader starts a fresh AT parser.
    parser_gen: AtomicU64,
    stats: Stats,
    /// Per client id, the packet ids of QoS 2 messages this modem answered with PUBREC whose
    /// PUBREL the broker may still send: kept across links so that a persistent session's
    /// resent PUBREL finds its exchange (see `link::resume_qos2`). An id stays after its
    /// PUBCOMP (the PUBCOMP may die with the link) until the broker uses it again.
    qos2_open: Mutex<std::collections::HashMap<String, std::collections::BTreeSet<u16>>>,
    /// The TCP host, when one is connected (see `tcp`).
    remote: tcp::Remote,
    /// Output pacing: `(baud, when the emulated line is free again)`; see `set_baudrate`.
    pace: Mutex<Option<(u32, Instant)>>,
    /// Network timing: the scheduler of network output (see `netdelay`).
    net: netdelay::NetDelay,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Modem> {
        lock(&self.state)
    }

    /// Writes one frame (or noise) to the host, in one piece or in pieces of
    /// the configured chunk size.
    fn write_raw(&self, data: &[u8]) {
        if data.is_empty() || self.closed.load(Ordering::Acquire) {
            return;
        }
        let chunk = lock(&self.out);
        let guard = self.pty.read().unwrap_or_else(|e| e.into_inner());
        let Some(pty) = guard.as_ref() else {
            return;
        };
        // A connected TCP host gets the output instead of the pty.
        let put = |piece: &[u8]| {
            self.pace_line(piece.len());
            self.remote
                .write_all(piece)
                .unwrap_or_else(|| pty.write_all(piece, &self.closed))
        };
        match *chunk {
            Some(n) if n > 0 && n < data.len() => {
                for (i, piece) in data.chunks(n).enumerate() {
                    if i > 0 {
                        // Let the host see each piece as a separate read.
                        thread::sleep(Duration::from_micros(500));
                    }
                    if !put(piece) {
                        return;
                    }
                    self.stats
                        .bytes_out
                        .fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
            }
            _ => {
                // Paced output leaves in slices of about a millisecond of line time, so the
                // host sees a long write arrive progressively, as from a UART, not all at
                // the end of its line time.
                let slice = self.pace_slice().unwrap_or(data.len()).max(1);
                for piece in data.chunks(slice) {
                    if !put(piece) {
                        return;
                    }
                    self.stats
                        .bytes_out
                        .fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// With a baud rate set: the bytes the line carries in about a millisecond (at least 16).
    fn pace_slice(&self) -> Option<usize> {
        lock(&self.pace)
            .as_ref()
            .map(|(baud, _)| (*baud as usize / 10_000).max(16))
    }

    fn write_frame(&self, data: &[u8]) {
        self.write_raw(data)
    }

    /// With a baud rate set, waits until `n` more bytes would have crossed a UART at that
    /// rate (10 bits a byte: start, 8 data, stop), so output leaves no faster than a real
    /// line carries it. The time the line is busy until is kept across writes: a write that
    /// comes less than [`PACE_SLACK`] after the line went free continues from that instant,
    /// as a UART with data queued would have, so a sleep that overshot is paid back rather
    /// than lost on every message. Called with the output lock held.
    fn pace_line(&self, n: usize) {
        let until = {
            let mut pace = lock(&self.pace);
            let Some((baud, free_at)) = pace.as_mut() else {
                return;
            };
            let now = Instant::now();
            let start = if now > *free_at + PACE_SLACK {
                now
            } else {
                *free_at
            };
            let nanos = (n as u64).saturating_mul(10_000_000_000) / u64::from((*baud).max(1));
            *free_at = start + Duration::from_nanos(nanos);
            *free_at
        };
        let wait = until.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
    }

    /// The command family of the profile.
    fn family(&self) -> &'static dyn SimFamily {
        self.family
    }

    fn part_size(&self) -> usize {
        self.part_size.load(Ordering::Relaxed).max(1)
    }
}

/// A virtual modem on a pseudo-terminal.
pub struct VirtualModem {
    shared: Arc<Shared>,
    port: String,
    broker_url: String,
    reader: Mutex<Option<JoinHandle<()>>>,
    tcp: Mutex<Option<tcp::Listener>>,
}

fn parse_broker_url(url: &str) -> Result<(String, u16), SimError> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url);
    let rest = rest.trim_end_matches('/');
    let bad =
        || SimError::InvalidArgument(format!("broker url {url:?}: expected mqtt://host:port"));
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (rest, 1883),
    };
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

impl VirtualModem {
    pub fn start(config: SimConfig) -> Result<VirtualModem, SimError> {
        let (profile, family) = find(&config.profile)
            .ok_or_else(|| SimError::UnknownProfile(config.profile.clone()))?;
        let part_size = config.part_size.unwrap_or(profile.rx_part_size());
        if part_size == 0 || part_size > MAX_PART_SIZE {
            return Err(SimError::InvalidArgument(format!(
                "part_size: must be 1 to {MAX_PART_SIZE}, got {part_size}"
            )));
        }
        let broker_url = match config.broker_url {
            Some(u) => u,
            None => EmbeddedBroker::shared()?.url(),
        };
        let (broker_host, broker_port) = parse_broker_url(&broker_url)?;
        let hosts = hosts::Hosts::new(&config.hosts).map_err(SimError::InvalidArgument)?;
        let pty = Pty::open().map_err(SimError::Pty)?;
        let port = pty.path().to_owned();
        let shared = Arc::new(Shared {
            profile,
            family,
            broker_host,
            broker_port,
            hosts,
            pty: RwLock::new(Some(pty)),
            closed: AtomicBool::new(false),
            out: Mutex::new(None),
            state: Mutex::new(Modem::new(profile, family)),
            faults: Mutex::new(Faults::default()),
            part_size: AtomicUsize::new(part_size),
            parser_gen: AtomicU64::new(0),
            stats: Stats::default(),
            qos2_open: Mutex::new(std::collections::HashMap::new()),
            remote: tcp::Remote::default(),
            pace: Mutex::new(None),
            net: netdelay::NetDelay::new(config.timing),
        });
        shared.net.attach(Arc::downgrade(&shared));
        let s2 = Arc::clone(&shared);
        let reader = thread::Builder::new()
            .name(format!(
                "vmodem-{}",
                port.rsplit('/').next().unwrap_or("pty")
            ))
            .spawn(move || reader_loop(s2))
            .map_err(SimError::Thread)?;
        Ok(VirtualModem {
            shared,
            port,
            broker_url,
            reader: Mutex::new(Some(reader)),
            tcp: Mutex::new(None),
        })
    }

    /// The pty slave path for the host to open, e.g. "/dev/pts/7".
    pub fn port(&self) -> &str {
        &self.port
    }

    pub fn broker_url(&self) -> &str {
        &self.broker_url
    }

    /// Also serves the modem over raw TCP on `addr` ("127.0.0.1:0" picks a free port);
    /// returns the URL to open, e.g. "socket://127.0.0.1:40123". See `tcp`.
    pub fn listen_tcp(&self, addr: &str) -> Result<String, SimError> {
        self.check_open()?;
        let mut slot = lock(&self.tcp);
        if let Some(l) = slot.as_ref() {
            return Err(SimError::InvalidArgument(format!(
                "already listening on {}",
                l.url()
            )));
        }
        let listener = tcp::Listener::start(&self.shared, addr)
            .map_err(|e| SimError::Listen(addr.to_owned(), e))?;
        let url = listener.url();
        *slot = Some(listener);
        Ok(url)
    }

    /// "socket://HOST:PORT" while serving over TCP.
    pub fn tcp_url(&self) -> Option<String> {
        lock(&self.tcp).as_ref().map(|l| l.url())
    }

    pub fn profile(&self) -> &str {
        self.shared.profile.name
    }

    fn check_open(&self) -> Result<(), SimError> {
        if self.shared.closed.load(Ordering::Acquire) {
            Err(SimError::Closed)
        } else {
            Ok(())
        }
    }

    /// The causes [`VirtualModem::drop_link`] takes on this profile.
    pub fn link_causes(&self) -> std::ops::RangeInclusive<u8> {
        self.shared.family().link_causes()
    }

    /// Closes client `client_index`'s TCP link abruptly (no DISCONNECT, so
    /// the broker publishes the will), then reports it in the family's words:
    /// CMQTT `+CMQTTCONNLOST: client_index,cause` with `cause` 1 (closed
    /// passively), 2 (reset) or 3 (network closed); QMT `+QMTSTAT:
    /// client_index,cause` with the `+QMTSTAT` codes 1-7.
    pub fn drop_link(&self, client_index: u8, cause: u8) -> Result<(), SimError> {
        self.check_open()?;
        self.shared.family().drop_link(self, client_index, cause)
    }

    /// Power-cycles the modem: all links dropped silently, all state reset
    /// (MQTT service stopped, clients released, echo on; downloaded
    /// certificates survive, they live in the module's file system), then
    /// the profile's boot URCs ("RDY", "+CPIN: READY", ...).
    pub fn reboot(&self) {
        if self.check_open().is_err() {
            return;
        }
        let links = {
            let mut st = self.shared.state();
            let links = st.take_all_links();
            st.reset();
            // News of the old links never arrives after the boot URCs.
            self.shared.net.clear();
            self.shared.parser_gen.fetch_add(1, Ordering::AcqRel);
            links
        };
        for l in links {
            l.shutdown(Duration::from_secs(5));
        }
        let st = self.shared.state();
        let mut boot = Vec::new();
        for u in self.shared.profile.boot_urcs {
            boot.extend_from_slice(format!("\r\n{u}\r\n").as_bytes());
        }
        self.shared.write_frame(&boot);
        drop(st);
    }

    /// Delivers all output in pieces of at most `n` bytes (`None`: whole
    /// frames).
    pub fn set_chunk_size(&self, n: Option<usize>) {
        *lock(&self.shared.out) = n.filter(|&n| n > 0);
    }

    /// Paces all output as a UART at `baud` would (`None`: as fast as the host reads).
    pub fn set_baudrate(&self, baud: Option<u32>) {
        *lock(&self.shared.pace) = baud.filter(|&b| b > 0).map(|b| (b, Instant::now()));
    }

    /// Writes `bytes` to the host once, between two frames.
    pub fn inject_noise(&self, bytes: &[u8]) {
        self.shared.write_raw(bytes);
    }

    /// Waits `d` before answering each command.
    pub fn set_response_delay(&self, d: Duration) {
        lock(&self.shared.faults).delay = d;
    }

    /// The network timing (see `netdelay`): how long results, received messages and link
    /// losses take to reach the host after the network produced them.
    pub fn timing(&self) -> NetTiming {
        self.shared.net.timing()
    }

    /// Changes the network timing; what is already on its way keeps its time.
    pub fn set_timing(&self, t: NetTiming) -> Result<(), SimError> {
        self.check_open()?;
        self.shared.net.set_timing(t);
        Ok(())
    }

    /// Answers commands starting with `command_prefix` (case-insensitive,
    /// e.g. "AT+CMQTTPUB") with the line `reply` (e.g. "ERROR" or
    /// "+CME ERROR: 10") instead of executing them. `None` clears.
    pub fn refuse(&self, command_prefix: Option<&str>, reply: &str) {
        lock(&self.shared.faults).refuse =
            command_prefix.map(|p| (p.to_ascii_uppercase(), reply.to_owned()));
    }

    /// Largest `+CMQTTRXTOPIC` / `+CMQTTRXPAYLOAD` part (clamped to
    /// 1..=65536).
    pub fn set_part_size(&self, n: usize) {
        self.shared
            .part_size
            .store(n.clamp(1, MAX_PART_SIZE), Ordering::Relaxed);
    }

    pub fn stats(&self) -> SimStats {
        let s = &self.shared.stats;
        SimStats {
            commands: s.commands.load(Ordering::Relaxed),
            bytes_in: s.bytes_in.load(Ordering::Relaxed),
            bytes_out: s.bytes_out.load(Ordering::Relaxed),
            published: s.published.load(Ordering::Relaxed),
            delivered: s.delivered.load(Ordering::Relaxed),
        }
    }

    /// Whether [`close`](Self::close) ran.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Stops the threads, closes the links and the pty. Idempotent.
    pub fn close(&self) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(mut l) = lock(&self.tcp).take() {
            l.stop(&self.shared);
        }
        // The links stop together: one bound for all of them, not one each.
        let links = self.shared.state().take_all_links();
        let deadline = Instant::now() + Duration::from_secs(2);
        for l in links {
            l.shutdown(deadline.saturating_duration_since(Instant::now()));
        }
        self.shared.net.stop();
        if let Some(p) = self
            .shared
            .pty
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            p.wake();
        }
        if let Some(h) = lock(&self.reader).take() {
            let _ = h.join();
        }
        *self.shared.pty.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for VirtualModem {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for VirtualModem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualModem")
            .field("profile", &self.profile())
            .field("port", &self.port)
            .field("broker_url", &self.broker_url)
            .finish()
    }
}

fn reader_loop(shared: Arc<Shared>) {
    let mut input = HostInput::new(&shared);
    let mut buf = vec![0u8; 16 * 1024];
    while !shared.closed.load(Ordering::Acquire) {
        let r = {
            let guard = shared.pty.read().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(p) => p.read(&mut buf, Duration::from_secs(5)),
                None => break,
            }
        };
        if shared.closed.load(Ordering::Acquire) {
            break;
        }
        match r {
            Ok(0) => {}
            Ok(n) => input.feed(&shared, &buf[..n]),
            Err(e) => {
                log::error!("virtual modem: reading the pty failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Waits for a thread to finish, at most until `deadline`.
fn join_until(h: JoinHandle<()>, deadline: Instant) {
    while !h.is_finished() {
        if Instant::now() >= deadline {
            log::warn!("virtual modem: a link thread did not stop in time");
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = h.join();
}

impl Shared {
    /// Sleeps for `d` (a response delay) unless the modem is closed meanwhile; false when
    /// it was closed, so the pending answers are not played to nobody.
    pub(crate) fn pause(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            thread::sleep((end - now).min(Duration::from_millis(10)));
        }
    }

    /// Runs `f` on the modem state if link `gen` is still client `idx`'s
    /// current link, then writes what `f` produced, all under the state lock.
    /// Returns false (doing nothing) for a link that was replaced or dropped.
    fn with_link(&self, idx: u8, gen: u64, f: impl FnOnce(&mut Modem, &mut Vec<u8>)) -> bool {
        let mut st = self.state();
        if st.link_gen(idx) != Some(gen) {
            return false;
        }
        let mut out = Vec::new();
        f(&mut st, &mut out);
        // What a link reports comes from the network: it keeps the network timing.
        self.write_net(out);
        true
    }
}
