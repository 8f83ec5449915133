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
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, Incoming, MqttOptions,
    NetworkOptions, Outgoing, Publish, QoS, StateError, TlsConfiguration, Transport,
};

pub(crate) use super::conn::qos;
use super::conn::{Link, LinkEvent, Pending, ANSWERED};
use super::{lock, Shared};

/// Writes `ev` for client `idx` if link `gen` is still current; false otherwise.
pub(crate) fn report(shared: &Shared, idx: u8, gen: u64, ev: LinkEvent<'_>) -> bool {
    shared.with_link(idx, gen, |st, out| family_event(shared, st, idx, ev, out))
}

/// Reports received messages in one write, as a modem's UART sends what it has queued
/// back to back. `None` when the link was replaced meanwhile (nothing written); else
/// whether the messages are on the line now (`false`: a Quectel client in buffer mode
/// stored them, and the modem acknowledges each when the host reads it) and how many of
/// the batch the modem took: a Quectel client in buffer mode takes no more than it has
/// free buffers for (see `drive`).
fn report_messages(shared: &Shared, idx: u8, gen: u64, batch: &[Publish]) -> Option<(bool, usize)> {
    let mut on_line = true;
    let mut taken = 0;
    let current = shared.with_link(idx, gen, |st, out| {
        on_line = !shared.family().stores_messages(st, idx);
        for p in batch {
            if !on_line && !shared.family().has_free_buffer(st, idx) {
                break;
            }
            family_event(shared, st, idx, LinkEvent::Message(p), out);
            taken += 1;
        }
    });
    current.then_some((on_line, taken))
}

/// Whether link `gen` of client `idx` is current and its client has a free buffer (always,
/// outside Quectel buffer mode; see `SimFamily::has_free_buffer`).
fn can_take(shared: &Shared, idx: u8, gen: u64) -> Option<bool> {
    let st = shared.state();
    if st.link_gen(idx) != Some(gen) {
        return None;
    }
    Some(shared.family().has_free_buffer(&st, idx))
}

/// How often a link whose client's buffers are full looks for a freed one.
const FULL_POLL: Duration = Duration::from_millis(20);

/// How many messages a link keeps waiting for a free Quectel buffer before it stops reading
/// its socket (a guess: docs/fidelity.md).
const HELD_MAX: usize = 100;

fn family_event(
    shared: &Shared,
    st: &mut super::modem::Modem,
    idx: u8,
    ev: LinkEvent<'_>,
    out: &mut Vec<u8>,
) {
    // The link's own state is the core's; the family words the event.
    match ev {
        LinkEvent::Connected => st.set_connected(idx),
        LinkEvent::ConnectFailed(_) | LinkEvent::Disconnected | LinkEvent::Lost(_) => {
            st.clear_link(idx)
        }
        _ => {}
    }
    shared.family().link_event(shared, st, idx, ev, out)
}

/// At most this many received messages go out in one write.
const MAX_BATCH: usize = 64;

/// How often a link whose pings are held back looks whether they were switched on.
const PING_POLL: Duration = Duration::from_millis(100);

/// Holds back or lets go the keep-alive pings after CONNACK as the family asked
/// (`Pending::pings`); `saved` keeps the keep-alive while they are held back.
fn apply_pings(pending: &Mutex<Pending>, eventloop: &mut EventLoop, saved: &mut Option<Duration>) {
    match (lock(pending).pings, *saved) {
        (Some(false), None) => {
            let k = eventloop.mqtt_options.keep_alive();
            if !k.is_zero() {
                *saved = Some(k);
                eventloop.mqtt_options.set_keep_alive(Duration::ZERO);
            }
        }
        (Some(true), Some(k)) => {
            eventloop.mqtt_options.set_keep_alive(k);
            *saved = None;
        }
        _ => {}
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

/// In flight, by packet id: deadline and the host's tag.
struct Waiting {
    pubs: HashMap<u16, (Instant, u16, bool)>,
    subs: HashMap<u16, (Instant, u16)>,
    unsubs: HashMap<u16, (u64, Instant, u16)>,
    /// group → packets still unacknowledged
    groups: HashMap<u64, usize>,
}

impl Waiting {
    fn next_deadline(&self) -> Option<Instant> {
        self.pubs
            .values()
            .map(|(d, _, _)| d)
            .chain(self.subs.values().map(|(d, _)| d))
            .chain(self.unsubs.values().map(|(_, d, _)| d))
            .min()
            .copied()
    }
}

pub(crate) struct LinkArgs {
    pub shared: Arc<Shared>,
    pub idx: u8,
    pub gen: u64,
    pub eventloop: EventLoop,
    /// Acknowledges received publishes (the options set manual acks): only once the
    /// message is on the line, so a link that dies before that leaves it with the broker.
    pub acker: AsyncClient,
    pub kill: flume::Receiver<()>,
    pub pending: Arc<Mutex<Pending>>,
    pub had_login: bool,
    /// The link runs over TLS (for the error codes).
    pub tls: bool,
    pub forced_error: Option<u8>,
}

/// The requests an `AsyncClient` queues before `try_*` calls fail.
const REQUEST_CAPACITY: usize = 1024;

/// What a CONNECT command settled before its link starts.
pub(crate) struct Start {
    pub opts: MqttOptions,
    /// TLS to the broker, and the bound in seconds on the whole connection set-up
    /// (TCP connect, handshake and CONNACK: rumqttc's connection timeout).
    pub tls: Option<(rustls::ClientConfig, u16)>,
    pub had_login: bool,
    /// Reported as the connect result without opening a socket.
    pub forced_error: Option<u8>,
    /// For the read form of AT+CMQTTCONNECT.
    pub info: String,
}

/// Starts the link of client `idx`, the modem's next generation, on a thread called
/// `name`. `None` (logged) when the thread cannot be started.
pub(crate) fn spawn(
    shared: &Arc<Shared>,
    m: &mut super::modem::Modem,
    idx: u8,
    name: String,
    start: Start,
) -> Option<Link> {
    let gen = m.next_gen;
    m.next_gen += 1;
    let Start {
        mut opts,
        tls,
        had_login,
        forced_error,
        info,
    } = start;
    let negotiate = tls.map(|(cfg, secs)| {
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(cfg),
        )));
        secs
    });
    let client_id = opts.client_id();
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
    let acker = client.clone();
    if let Some(secs) = negotiate {
        let mut net = NetworkOptions::new();
        net.set_connection_timeout(u64::from(secs));
        eventloop.set_network_options(net);
    }
    let (kill_tx, kill_rx) = flume::bounded(1);
    let pending = Arc::new(Mutex::new(Pending::default()));
    let args = LinkArgs {
        shared: Arc::clone(shared),
        idx,
        gen,
        eventloop,
        acker,
        kill: kill_rx,
        pending: Arc::clone(&pending),
        had_login,
        tls: negotiate.is_some(),
        forced_error,
    };
    let thread = match thread::Builder::new().name(name).spawn(move || run(args)) {
        Ok(t) => t,
        Err(e) => {
            log::error!("virtual modem: cannot spawn a link thread: {e}");
            return None;
        }
    };
    Some(Link {
        gen,
        client_id,
        client,
        kill: Some(kill_tx),
        pending,
        connected: false,
        disconnecting: false,
        thread: Some(thread),
        info,
        subscribed: Vec::new(),
        sub_waiting: VecDeque::new(),
    })
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
            report(&a.shared, a.idx, a.gen, LinkEvent::ConnectFailed(4));
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
        acker,
        kill,
        pending,
        had_login,
        tls,
        forced_error,
    } = a;
    if let Some(err) = forced_error {
        // Settled before any socket is opened (DNS error, missing
        // certificate): report like a failed connect.
        report(&shared, idx, gen, LinkEvent::ConnectFailed(err));
        return;
    }
    let client_id = eventloop.mqtt_options.client_id();
    resume_qos2(&shared, &client_id, &mut eventloop);
    let mut connected = false;
    // Acknowledgements the request queue had no room for yet, retried after each event.
    let mut unacked: VecDeque<Publish> = VecDeque::new();
    let mut w = Waiting {
        pubs: HashMap::new(),
        subs: HashMap::new(),
        unsubs: HashMap::new(),
        groups: HashMap::new(),
    };
    // Quectel buffer mode with every buffer holding an unread message: messages that come
    // meanwhile wait here, unacknowledged (for QoS 1/2 the broker's in-flight window then
    // holds back the rest), while acknowledgements and pings go on being handled, so a
    // subscribe the host waits for completes. Beyond HELD_MAX the modem stops reading the
    // socket until the host reads a buffer.
    let mut held: VecDeque<Publish> = VecDeque::new();
    // The keep-alive while pings are held back (see `apply_pings`).
    let mut pings_held: Option<Duration> = None;
    loop {
        if !held.is_empty() {
            match can_take(&shared, idx, gen) {
                None => return,
                Some(true) => {
                    let n = held.len().min(MAX_BATCH);
                    let batch: Vec<Publish> = held.drain(..n).collect();
                    let Some((on_line, taken)) = report_messages(&shared, idx, gen, &batch) else {
                        return;
                    };
                    let mut batch = batch;
                    for q in batch.split_off(taken).into_iter().rev() {
                        held.push_front(q);
                    }
                    if on_line {
                        // The host switched to URC mode meanwhile: written, so acknowledged.
                        for p in batch {
                            if !unacked.is_empty() || ack(&shared, &client_id, &acker, &p).is_err()
                            {
                                unacked.push_back(p);
                            }
                        }
                    }
                }
                Some(false) if held.len() >= HELD_MAX => {
                    tokio::select! {
                        _ = kill.recv_async() => return,
                        _ = tokio::time::sleep(FULL_POLL) => {}
                    }
                    expire(&shared, idx, gen, &mut w);
                    continue;
                }
                Some(false) => {}
            }
        }
        let deadline = w.next_deadline();
        let sleep_for = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        let ev = tokio::select! {
            // The Link (holding the sender) was dropped: end without
            // DISCONNECT; dropping the event loop closes the socket.
            _ = kill.recv_async() => return,
            _ = tokio::time::sleep(sleep_for), if deadline.is_some() => None,
            // Held messages: look for a freed buffer now and then.
            _ = tokio::time::sleep(FULL_POLL), if !held.is_empty() => None,
            // Pings held back: look now and then whether they were switched on.
            _ = tokio::time::sleep(PING_POLL), if pings_held.is_some() => None,
            ev = eventloop.poll() => Some(ev),
        };
        if connected {
            apply_pings(&pending, &mut eventloop, &mut pings_held);
        }
        expire(&shared, idx, gen, &mut w);
        while let Some(p) = unacked.front() {
            if ack(&shared, &client_id, &acker, p).is_err() {
                break;
            }
            unacked.pop_front();
        }
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
                    report(&shared, idx, gen, LinkEvent::ConnectFailed(code));
                    return;
                }
                connected = true;
                apply_pings(&pending, &mut eventloop, &mut pings_held);
                let still = report(&shared, idx, gen, LinkEvent::Connected);
                if !still {
                    return;
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                // rumqttc decodes what one socket read brought and hands the packets out one
                // poll at a time: take the publishes already decoded along with this one.
                let mut batch = vec![p];
                while batch.len() < MAX_BATCH {
                    match eventloop.state.events.pop_front() {
                        Some(Event::Incoming(Incoming::Publish(q))) => batch.push(q),
                        Some(other) => {
                            eventloop.state.events.push_front(other);
                            break;
                        }
                        None => break,
                    }
                }
                // A payload above the family's maximum (CMQTT `<payload_total_len>` 1-10240,
                // seeds/003 §2.2.2.2, 001 §3.3.2; QMT the profile's 4096) is taken off the
                // socket and discarded, never written: what the module does with one is not
                // documented (a guess). The Alibaba firmware takes any (`receive_max`).
                let max = shared.family().receive_max(shared.profile);
                let (mut batch, too_big): (Vec<Publish>, Vec<Publish>) =
                    batch.into_iter().partition(|p| p.payload.len() <= max);
                for p in too_big {
                    log::debug!(
                        "virtual modem: client {idx}: discarded a {}-byte payload (max {max})",
                        p.payload.len()
                    );
                    if !unacked.is_empty() || ack(&shared, &client_id, &acker, &p).is_err() {
                        unacked.push_back(p);
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                if !held.is_empty() {
                    // Behind messages still waiting for a free buffer.
                    held.extend(batch);
                    continue;
                }
                let Some((on_line, taken)) = report_messages(&shared, idx, gen, &batch) else {
                    continue;
                };
                if taken < batch.len() {
                    // No free buffer: the rest waits, unacknowledged, for one.
                    held.extend(batch.split_off(taken));
                }
                if on_line {
                    shared
                        .stats
                        .delivered
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    // Written to the line: now the broker may forget them. A message the
                    // modem could not take stays unacknowledged and comes again on the next
                    // session. Stored ones (QMT buffer mode) are acknowledged when read.
                    for p in batch {
                        if !unacked.is_empty() || ack(&shared, &client_id, &acker, &p).is_err() {
                            unacked.push_back(p);
                        }
                    }
                }
            }
            Ok(Event::Incoming(Incoming::PubAck(rumqttc::PubAck { pkid, .. })))
            | Ok(Event::Incoming(Incoming::PubComp(rumqttc::PubComp { pkid, .. }))) => {
                if let Some((_, tag, ex)) = w.pubs.remove(&pkid) {
                    report(&shared, idx, gen, LinkEvent::Published { tag, ex });
                }
            }
            Ok(Event::Incoming(Incoming::SubAck(s))) => {
                if let Some((_, tag)) = w.subs.remove(&s.pkid) {
                    let granted: Vec<u8> = s
                        .return_codes
                        .iter()
                        .map(|c| match c {
                            rumqttc::SubscribeReasonCode::Success(q) => *q as u8,
                            rumqttc::SubscribeReasonCode::Failure => 128,
                        })
                        .collect();
                    let failed = granted.contains(&128);
                    let ev = LinkEvent::Subscribed {
                        tag,
                        failed,
                        granted,
                    };
                    report(&shared, idx, gen, ev);
                }
            }
            Ok(Event::Incoming(Incoming::UnsubAck(u))) => {
                if let Some((group, _, tag)) = w.unsubs.remove(&u.pkid) {
                    let left = w.groups.get_mut(&group).map(|n| {
                        *n = n.saturating_sub(1);
                        *n
                    });
                    if left == Some(0) {
                        w.groups.remove(&group);
                        report(&shared, idx, gen, LinkEvent::Unsubscribed { tag });
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                shared.stats.published.fetch_add(1, Ordering::Relaxed);
                let (next, tag) = {
                    let mut p = lock(&pending);
                    (
                        p.pubs.pop_front(),
                        p.pub_tags.pop_front().unwrap_or((0, false)),
                    )
                };
                if let Some((qos, timeout)) = next {
                    if qos == ANSWERED {
                        // The command already reported it (QoS 0, CMQTT and QMT).
                    } else if qos == 0 {
                        let ev = LinkEvent::Published {
                            tag: tag.0,
                            ex: tag.1,
                        };
                        report(&shared, idx, gen, ev);
                    } else {
                        w.pubs
                            .insert(pkid, (Instant::now() + timeout, tag.0, tag.1));
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                let mut p = lock(&pending);
                if let Some(timeout) = p.subs.pop_front() {
                    let tag = p.sub_tags.pop_front().unwrap_or(0);
                    w.subs.insert(pkid, (Instant::now() + timeout, tag));
                }
            }
            Ok(Event::Outgoing(Outgoing::Unsubscribe(pkid))) => {
                let mut p = lock(&pending);
                if let Some((group, n, timeout)) = p.unsubs.pop_front() {
                    let tag = p.unsub_tags.pop_front().unwrap_or(0);
                    w.groups.entry(group).or_insert(n);
                    w.unsubs
                        .insert(pkid, (group, Instant::now() + timeout, tag));
                }
            }
            Ok(Event::Outgoing(Outgoing::PubRec(pkid))) => {
                let mut open = lock(&shared.qos2_open);
                open.entry(client_id.clone()).or_default().insert(pkid);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                report(&shared, idx, gen, LinkEvent::Disconnected);
                return;
            }
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                if connected {
                    let cause = lost_cause(&e);
                    log::warn!("virtual modem: link {idx} lost: {e}");
                    report(&shared, idx, gen, LinkEvent::Lost(cause));
                } else {
                    let code = connect_error(&e, had_login, tls);
                    log::debug!("virtual modem: link {idx} connect failed ({code}): {e}");
                    report(&shared, idx, gen, LinkEvent::ConnectFailed(code));
                }
                return;
            }
        }
    }
}

/// Acknowledges a received publish (PUBACK, or PUBREC for QoS 2). A QoS 2 id is noted as
/// open before the PUBREC can leave: a link that dies right after sending it must not leave
/// the broker's PUBREL unknown to the next link (rumqttc fails the connection on an
/// unsolicited PUBREL, and the broker sends it again on every reconnect).
///
/// The id is not forgotten at the PUBCOMP: rumqttc reports the PUBCOMP as sent when it
/// handles the PUBREL, and a link that dies before the PUBCOMP is on the wire leaves the
/// broker resending that PUBREL on every resume (MQTT 3.1.1 §4.3.3: the receiver answers
/// any PUBREL with PUBCOMP). The broker's next use of the id (a QoS 1 publish here; a QoS 2
/// one notes it afresh) shows that its exchange is over.
fn ack(
    shared: &Shared,
    client_id: &str,
    client: &AsyncClient,
    p: &Publish,
) -> Result<(), rumqttc::ClientError> {
    match p.qos {
        QoS::ExactlyOnce => {
            lock(&shared.qos2_open)
                .entry(client_id.to_string())
                .or_default()
                .insert(p.pkid);
        }
        QoS::AtLeastOnce => {
            if let Some(ids) = lock(&shared.qos2_open).get_mut(client_id) {
                ids.remove(&p.pkid);
            }
        }
        QoS::AtMostOnce => {}
    }
    client.try_ack(p)
}

/// Acknowledges a message a family stored for the host (`SimFamily::stores_messages`) once
/// it is written, if link `gen` it came on is still the client's (`current`); a link gone
/// since leaves it with the broker, which sends it again on the next session.
pub(crate) fn ack_stored(shared: &Shared, current: Option<&Link>, gen: u64, p: &Publish) {
    let Some(link) = current.filter(|l| l.gen == gen) else {
        return;
    };
    if let Err(e) = ack(shared, &link.client_id, &link.client, p) {
        log::debug!("virtual modem: acknowledging a delivered message: {e}");
    }
}

/// Carries the QoS 2 exchanges this client id left open (PUBREC sent, no PUBCOMP yet) into
/// a new link's MQTT state, or forgets them on a clean session. A broker resuming a
/// persistent session resends the PUBREL of each; rumqttc only answers a PUBREL whose
/// packet id it saw arrive in a PUBLISH of its own session (it takes any other for a
/// protocol error and drops the link), so each open id is marked received again here.
fn resume_qos2(shared: &Shared, client_id: &str, eventloop: &mut EventLoop) {
    let mut open = lock(&shared.qos2_open);
    if eventloop.mqtt_options.clean_session() {
        open.remove(client_id);
        return;
    }
    let Some(ids) = open.get(client_id) else {
        return;
    };
    for &pkid in ids {
        let mut p = Publish::new("", QoS::ExactlyOnce, Vec::new());
        p.pkid = pkid;
        // With manual acks this only records the id (nothing is sent); drop the event it
        // queued, so the host never sees this placeholder.
        if eventloop
            .state
            .handle_incoming_packet(Incoming::Publish(p))
            .is_ok()
        {
            eventloop.state.events.pop_back();
        }
    }
}

/// Reports operations whose timeout passed without an acknowledgement
/// (error 17, timeout).
fn expire(shared: &Shared, idx: u8, gen: u64, w: &mut Waiting) {
    let now = Instant::now();
    let mut events = Vec::new();
    w.pubs.retain(|_, (d, tag, ex)| {
        let keep = *d > now;
        if !keep {
            events.push(LinkEvent::PublishTimedOut { tag: *tag, ex: *ex });
        }
        keep
    });
    w.subs.retain(|_, (d, tag)| {
        let keep = *d > now;
        if !keep {
            events.push(LinkEvent::SubscribeTimedOut { tag: *tag });
        }
        keep
    });
    let mut dead_groups = Vec::new();
    w.unsubs.retain(|_, (g, d, tag)| {
        let keep = *d > now;
        if !keep {
            dead_groups.push((*g, *tag));
        }
        keep
    });
    for (g, tag) in dead_groups {
        if w.groups.remove(&g).is_some() {
            events.push(LinkEvent::UnsubscribeTimedOut { tag });
        }
    }
    for ev in events {
        report(shared, idx, gen, ev);
    }
}
