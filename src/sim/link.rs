//! One MQTT link: a rumqttc `Connection` driven on its own thread.
//!
//! The AT engine keeps the `AsyncClient` half in a [`Link`], with the sending
//! end of a "kill" channel. Dropping the `Link` wakes the link thread, which
//! then drops the event loop and its socket without sending DISCONNECT: that
//! is how links are dropped abruptly (fault injection, reboot, close), and
//! the broker publishes the will.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, Incoming, Outgoing, Publish,
    StateError,
};

use super::{lock, Shared};

/// What the AT engine queued, in request order; the link thread matches each
/// entry with the `Outgoing` event of the same kind.
#[derive(Default)]
pub(crate) struct Pending {
    pub pubs: VecDeque<(u8, Duration)>,
    pub subs: VecDeque<Duration>,
    /// One entry per UNSUBSCRIBE packet: (group, packets in the group).
    pub unsubs: VecDeque<(u64, usize, Duration)>,
    /// A link retired after DISCONNECT keeps its kill sender here, so that
    /// it lives until the link thread ends by itself.
    pub retired_kill: Option<flume::Sender<()>>,
}

pub(crate) struct Link {
    pub gen: u64,
    pub client: AsyncClient,
    pub kill: Option<flume::Sender<()>>,
    pub pending: Arc<Mutex<Pending>>,
    pub connected: bool,
    pub disconnecting: bool,
    pub thread: Option<JoinHandle<()>>,
    /// For the read form of AT+CMQTTCONNECT.
    pub info: String,
}

impl Link {
    /// Sends DISCONNECT and lets the link thread end by itself, silently.
    pub fn retire(mut self) {
        if self.connected && self.client.try_disconnect().is_ok() {
            lock(&self.pending).retired_kill = self.kill.take();
        }
    }

    /// Drops the connection without DISCONNECT and waits for its thread.
    pub fn shutdown(mut self, wait: Duration) {
        let t = self.thread.take();
        drop(self);
        if let Some(t) = t {
            super::join_until(t, Instant::now() + wait);
        }
    }
}

/// Maps a failure before CONNACK to the manual's <err> code (2.2.1).
///
/// On a TLS link, any failure raised by the TLS layer is 32 (handshake fail):
/// a certificate rejected by either side, an alert, a peer that does not
/// speak TLS. With TLS 1.3 the broker checks the client certificate after the
/// client has finished its handshake, so its refusal arrives as an alert
/// while waiting for CONNACK; that is a handshake failure too.
fn connect_error(e: &ConnectionError, had_login: bool, tls: bool) -> u8 {
    if tls && (matches!(e, ConnectionError::Tls(_)) || super::tls::is_tls_failure(e)) {
        return super::tls::HANDSHAKE_FAIL;
    }
    match e {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::RefusedProtocolVersion => 27,
            ConnectReturnCode::BadClientId => 28,
            ConnectReturnCode::ServiceUnavailable => 29,
            ConnectReturnCode::BadUserNamePassword => 30,
            ConnectReturnCode::NotAuthorized => 31,
            ConnectReturnCode::Success => 0,
        },
        ConnectionError::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::TimedOut => 3,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted => closed_before_connack(had_login),
            _ => {
                // Name resolution failures come back as uncategorised I/O
                // errors from the resolver.
                let text = io.to_string();
                if text.contains("lookup") || text.contains("resolve") || text.contains("Name") {
                    25
                } else {
                    3
                }
            }
        },
        ConnectionError::MqttState(StateError::ConnectionAborted)
        | ConnectionError::MqttState(StateError::Io(_)) => closed_before_connack(had_login),
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => 17,
        ConnectionError::NotConnAck(_) => 24,
        _ => 1,
    }
}

/// A broker that rejects credentials may simply close the socket without a
/// CONNACK (rumqttd does): with credentials given this is reported as 30
/// (bad user name or password), otherwise as 26 (socket closed by server).
fn closed_before_connack(had_login: bool) -> u8 {
    if had_login {
        30
    } else {
        26
    }
}

/// `+CMQTTCONNLOST` cause for a link that failed after CONNACK.
fn lost_cause(e: &ConnectionError) -> u8 {
    match e {
        ConnectionError::Io(io) | ConnectionError::MqttState(StateError::Io(io))
            if io.kind() == io::ErrorKind::ConnectionReset =>
        {
            2
        }
        _ => 1,
    }
}

struct Waiting {
    pubs: HashMap<u16, Instant>,
    subs: HashMap<u16, Instant>,
    unsubs: HashMap<u16, (u64, Instant)>,
    /// group → packets still unacknowledged
    groups: HashMap<u64, usize>,
}

impl Waiting {
    fn next_deadline(&self) -> Option<Instant> {
        self.pubs
            .values()
            .chain(self.subs.values())
            .chain(self.unsubs.values().map(|(_, d)| d))
            .min()
            .copied()
    }
}

pub(crate) struct LinkArgs {
    pub shared: Arc<Shared>,
    pub idx: u8,
    pub gen: u64,
    pub eventloop: EventLoop,
    pub kill: flume::Receiver<()>,
    pub pending: Arc<Mutex<Pending>>,
    pub had_login: bool,
    /// The link runs over TLS (for the error codes).
    pub tls: bool,
    pub forced_error: Option<u8>,
}

pub(crate) fn run(a: LinkArgs) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!(
                "virtual modem: cannot build a runtime for link {}: {e}",
                a.idx
            );
            let (idx, gen) = (a.idx, a.gen);
            a.shared.with_link(idx, gen, |st, out| {
                st.clear_link(idx);
                out.extend_from_slice(format!("\r\n+CMQTTCONNECT: {idx},4\r\n").as_bytes());
            });
            return;
        }
    };
    rt.block_on(drive(a));
}

async fn drive(a: LinkArgs) {
    let LinkArgs {
        shared,
        idx,
        gen,
        mut eventloop,
        kill,
        pending,
        had_login,
        tls,
        forced_error,
    } = a;
    if let Some(err) = forced_error {
        // Settled before any socket is opened (DNS error, missing
        // certificate): report like a failed connect.
        shared.with_link(idx, gen, |st, out| {
            st.clear_link(idx);
            out.extend_from_slice(format!("\r\n+CMQTTCONNECT: {idx},{err}\r\n").as_bytes());
        });
        return;
    }
    let mut connected = false;
    let mut w = Waiting {
        pubs: HashMap::new(),
        subs: HashMap::new(),
        unsubs: HashMap::new(),
        groups: HashMap::new(),
    };
    loop {
        let deadline = w.next_deadline();
        let sleep_for = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        let ev = tokio::select! {
            // The Link (holding the sender) was dropped: end without
            // DISCONNECT; dropping the event loop closes the socket.
            _ = kill.recv_async() => return,
            _ = tokio::time::sleep(sleep_for), if deadline.is_some() => None,
            ev = eventloop.poll() => Some(ev),
        };
        expire(&shared, idx, gen, &mut w);
        let Some(ev) = ev else { continue };
        match ev {
            Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                if connected {
                    continue;
                }
                if ack.code != ConnectReturnCode::Success {
                    let code = connect_error(
                        &ConnectionError::ConnectionRefused(ack.code),
                        had_login,
                        tls,
                    );
                    shared.with_link(idx, gen, |st, out| {
                        st.clear_link(idx);
                        out.extend_from_slice(
                            format!("\r\n+CMQTTCONNECT: {idx},{code}\r\n").as_bytes(),
                        );
                    });
                    return;
                }
                connected = true;
                let still = shared.with_link(idx, gen, |st, out| {
                    st.set_connected(idx);
                    out.extend_from_slice(format!("\r\n+CMQTTCONNECT: {idx},0\r\n").as_bytes());
                });
                if !still {
                    return;
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                deliver(&shared, idx, gen, &p);
            }
            Ok(Event::Incoming(Incoming::PubAck(a))) => {
                if w.pubs.remove(&a.pkid).is_some() {
                    emit(&shared, idx, gen, format!("+CMQTTPUB: {idx},0"));
                }
            }
            Ok(Event::Incoming(Incoming::PubComp(c))) => {
                if w.pubs.remove(&c.pkid).is_some() {
                    emit(&shared, idx, gen, format!("+CMQTTPUB: {idx},0"));
                }
            }
            Ok(Event::Incoming(Incoming::SubAck(s))) => {
                if w.subs.remove(&s.pkid).is_some() {
                    let failed = s
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure));
                    let err = if failed { 1 } else { 0 };
                    emit(&shared, idx, gen, format!("+CMQTTSUB: {idx},{err}"));
                }
            }
            Ok(Event::Incoming(Incoming::UnsubAck(u))) => {
                if let Some((group, _)) = w.unsubs.remove(&u.pkid) {
                    let left = w.groups.get_mut(&group).map(|n| {
                        *n = n.saturating_sub(1);
                        *n
                    });
                    if left == Some(0) {
                        w.groups.remove(&group);
                        emit(&shared, idx, gen, format!("+CMQTTUNSUB: {idx},0"));
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                shared.stats.published.fetch_add(1, Ordering::Relaxed);
                let next = lock(&pending).pubs.pop_front();
                if let Some((qos, timeout)) = next {
                    if qos == 0 {
                        emit(&shared, idx, gen, format!("+CMQTTPUB: {idx},0"));
                    } else {
                        w.pubs.insert(pkid, Instant::now() + timeout);
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                if let Some(timeout) = lock(&pending).subs.pop_front() {
                    w.subs.insert(pkid, Instant::now() + timeout);
                }
            }
            Ok(Event::Outgoing(Outgoing::Unsubscribe(pkid))) => {
                if let Some((group, n, timeout)) = lock(&pending).unsubs.pop_front() {
                    w.groups.entry(group).or_insert(n);
                    w.unsubs.insert(pkid, (group, Instant::now() + timeout));
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                shared.with_link(idx, gen, |st, out| {
                    st.clear_link(idx);
                    st.clear_ssl_after_disc(idx);
                    out.extend_from_slice(format!("\r\n+CMQTTDISC: {idx},0\r\n").as_bytes());
                });
                return;
            }
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                if connected {
                    let cause = lost_cause(&e);
                    log::debug!("virtual modem: link {idx} lost: {e}");
                    shared.with_link(idx, gen, |st, out| {
                        st.clear_link(idx);
                        out.extend_from_slice(
                            format!("\r\n+CMQTTCONNLOST: {idx},{cause}\r\n").as_bytes(),
                        );
                    });
                } else {
                    let code = connect_error(&e, had_login, tls);
                    log::debug!("virtual modem: link {idx} connect failed ({code}): {e}");
                    shared.with_link(idx, gen, |st, out| {
                        st.clear_link(idx);
                        st.clear_ssl_after_disc(idx);
                        out.extend_from_slice(
                            format!("\r\n+CMQTTCONNECT: {idx},{code}\r\n").as_bytes(),
                        );
                    });
                }
                return;
            }
        }
    }
}

/// Reports operations whose timeout passed without an acknowledgement
/// (error 17, timeout).
fn expire(shared: &Shared, idx: u8, gen: u64, w: &mut Waiting) {
    let now = Instant::now();
    let mut urcs = Vec::new();
    w.pubs.retain(|_, d| {
        let keep = *d > now;
        if !keep {
            urcs.push(format!("+CMQTTPUB: {idx},17"));
        }
        keep
    });
    w.subs.retain(|_, d| {
        let keep = *d > now;
        if !keep {
            urcs.push(format!("+CMQTTSUB: {idx},17"));
        }
        keep
    });
    let mut dead_groups = Vec::new();
    w.unsubs.retain(|_, (g, d)| {
        let keep = *d > now;
        if !keep {
            dead_groups.push(*g);
        }
        keep
    });
    for g in dead_groups {
        if w.groups.remove(&g).is_some() {
            urcs.push(format!("+CMQTTUNSUB: {idx},17"));
        }
    }
    for u in urcs {
        emit(shared, idx, gen, u);
    }
}

fn emit(shared: &Shared, idx: u8, gen: u64, line: String) {
    shared.with_link(idx, gen, |_, out| {
        out.extend_from_slice(format!("\r\n{line}\r\n").as_bytes());
    });
}

/// Writes one received PUBLISH as a `+CMQTTRX*` block:
///
/// ```text
/// \r\n+CMQTTRXSTART: i,<topic_total>,<payload_total>\r\n
/// \r\n+CMQTTRXTOPIC: i,<n>\r\n<n bytes>\r\n          (one per part)
/// \r\n+CMQTTRXPAYLOAD: i,<n>\r\n<n bytes>\r\n        (one per part; none for an empty payload)
/// \r\n+CMQTTRXEND: i\r\n
/// ```
///
/// An empty payload gives `payload_total` 0 and no `+CMQTTRXPAYLOAD` part, as
/// in the manual's example 3.5.
fn deliver(shared: &Shared, idx: u8, gen: u64, p: &Publish) {
    let part = shared.part_size();
    let topic = p.topic.as_bytes();
    let payload = &p.payload[..];
    let mut out = Vec::with_capacity(topic.len() + payload.len() + 128);
    out.extend_from_slice(
        format!(
            "\r\n+CMQTTRXSTART: {idx},{},{}\r\n",
            topic.len(),
            payload.len()
        )
        .as_bytes(),
    );
    for piece in topic.chunks(part) {
        out.extend_from_slice(format!("\r\n+CMQTTRXTOPIC: {idx},{}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    for piece in payload.chunks(part) {
        out.extend_from_slice(format!("\r\n+CMQTTRXPAYLOAD: {idx},{}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n+CMQTTRXEND: {idx}\r\n").as_bytes());
    let written = shared.with_link(idx, gen, |_, o| o.extend_from_slice(&out));
    if written {
        shared.stats.delivered.fetch_add(1, Ordering::Relaxed);
    }
}
