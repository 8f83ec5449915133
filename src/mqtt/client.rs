//! The client object users hold: one operation at a time, connection wanted or not, the
//! reconnect-and-resubscribe worker; its inbound queues are in [`inbox`].

mod inbox;

pub use inbox::*;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use super::{topic, Backend, ClientEvent, ClientOptions, ConnectOptions, Message};
use crate::error::{Error, Result};
use crate::waits;

pub type EventSink = Arc<dyn Fn(ClientEvent) + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One operation at a time on a client, taken with a deadline: a publish is several AT
/// commands on some families (topic, payload, publish), and two threads (or asyncio tasks,
/// or the reconnect worker) must not interleave theirs on one client.
#[derive(Default)]
pub(crate) struct OpLock {
    busy: Mutex<bool>,
    freed: Condvar,
}

pub(crate) struct OpGuard<'a>(&'a OpLock);

impl Drop for OpGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) = false;
        self.0.freed.notify_one();
    }
}

impl OpLock {
    /// Takes the lock, waiting until `deadline` (brought forward to the calling thread's
    /// cap) and asking the thread's interrupt check meanwhile.
    pub(crate) fn acquire(&self, what: &str, deadline: Instant) -> Result<OpGuard<'_>> {
        let deadline = waits::capped(deadline);
        let started = Instant::now();
        let mut busy = lock(&self.busy);
        while *busy {
            if waits::interrupted() {
                return Err(Error::Interrupted(what.to_string()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    command: what.to_string(),
                    waited_for: "the client's previous operation to end".into(),
                    timeout: deadline.saturating_duration_since(started),
                });
            }
            busy = match self
                .freed
                .wait_timeout(busy, waits::next_check(deadline) - now)
            {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        *busy = true;
        Ok(OpGuard(self))
    }
}

/// How long an operation waits for the one before it when it has no timeout of its own.
const OP_WAIT: Duration = Duration::from_secs(180);

/// A client of one modem family, with the behaviour every family shares.
pub struct MqttClient {
    backend: Arc<dyn Backend>,
    shared: Arc<ClientShared>,
    options: ClientOptions,
    last_connect: Arc<Mutex<Option<ConnectOptions>>>,
    subscriptions: Arc<Mutex<Vec<(String, u8)>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Held for the whole of one operation (see [`OpLock`]).
    ops: Arc<OpLock>,
    /// The bound of `close()` (and of a drop) over all its commands: the modem's timeout.
    close_timeout: Mutex<Duration>,
}

impl MqttClient {
    pub fn new(
        backend: Arc<dyn Backend>,
        shared: Arc<ClientShared>,
        options: ClientOptions,
    ) -> Self {
        MqttClient {
            backend,
            shared,
            options,
            last_connect: Arc::new(Mutex::new(None)),
            subscriptions: Arc::new(Mutex::new(Vec::new())),
            worker: Mutex::new(None),
            ops: Arc::new(OpLock::default()),
            close_timeout: Mutex::new(Duration::from_secs(5)),
        }
    }

    pub fn shared(&self) -> &Arc<ClientShared> {
        &self.shared
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// How long `close()` may take in all (default 5 s; a modem sets its own timeout).
    pub fn set_close_timeout(&self, d: Duration) {
        *lock(&self.close_timeout) = d;
    }

    pub fn close_timeout(&self) -> Duration {
        *lock(&self.close_timeout)
    }

    fn op(&self, what: &str, timeout: Option<Duration>) -> Result<OpGuard<'_>> {
        self.ops
            .acquire(what, Instant::now() + timeout.unwrap_or(OP_WAIT))
    }

    pub fn set_event_sink(&self, sink: Option<EventSink>) {
        *self.shared.sink.write().unwrap_or_else(|p| p.into_inner()) = sink;
    }

    fn check_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed("MQTT client"));
        }
        Ok(())
    }

    /// Refuses an operation that needs a connection when the user has none: `connect()`
    /// never called or failed, or `disconnect()` called. A link that was lost while a
    /// connection is wanted goes to the modem (it may be back, e.g. reconnected by the
    /// reconnect worker or by Alibaba firmware itself).
    fn check_wanted(&self, operation: &'static str) -> Result<()> {
        if !self.shared.wanted.load(Ordering::SeqCst) {
            return Err(Error::NotConnected(operation));
        }
        Ok(())
    }

    pub fn connect(&self, opts: ConnectOptions) -> Result<()> {
        self.check_open()?;
        opts.validate(self.backend.capabilities())?;
        self.shared.wanted.store(true, Ordering::SeqCst);
        let res = self
            .op("connect", Some(opts.timeout))
            .and_then(|_op| self.backend.connect(&opts));
        match res {
            Ok(()) => {
                self.shared.connected.store(true, Ordering::SeqCst);
                *lock(&self.last_connect) = Some(opts);
                if self.options.auto_reconnect {
                    self.ensure_worker();
                }
                self.shared
                    .emit(ClientEvent::Connected { reconnect: false });
                Ok(())
            }
            Err(e) => {
                self.shared.wanted.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn ensure_worker(&self) {
        let mut worker = lock(&self.worker);
        if worker.is_some() {
            return;
        }
        let (tx, rx) = unbounded::<()>();
        *lock(&self.shared.reconnect_tx) = Some(tx);
        let backend = self.backend.clone();
        let shared = self.shared.clone();
        let last = self.last_connect.clone();
        let subs = self.subscriptions.clone();
        let delays = self.options.reconnect_delay;
        let ops = self.ops.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("modemqtt-reconnect-{}", shared.index))
            .spawn(move || reconnect_worker(rx, backend, shared, last, subs, delays, ops));
        match spawned {
            Ok(h) => *worker = Some(h),
            Err(e) => log::error!("cannot start the reconnect worker: {e}"),
        }
    }

    pub fn publish(
        &self,
        topic_name: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.check_open()?;
        let caps = self.backend.capabilities();
        topic::validate_name(topic_name)?;
        super::check_len("topic", topic_name.len(), (1, caps.topic_max))?;
        let min = if caps.empty_payload { 0 } else { 1 };
        super::check_len("payload", payload.len(), (min, caps.payload_max))?;
        super::check_qos("qos", qos, caps)?;
        if retain && !caps.retain {
            return Err(Error::invalid(format!(
                "retain: not supported on {}",
                caps.profile
            )));
        }
        check_timeout(timeout)?;
        self.check_wanted("publish")?;
        let _op = self.op("publish", timeout)?;
        self.backend
            .publish(topic_name, payload, qos, retain, timeout)?;
        self.shared.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        self.check_open()?;
        let caps = self.backend.capabilities();
        if topics.is_empty() {
            return Err(Error::invalid("topic: at least one topic is needed"));
        }
        for (t, q) in topics {
            topic::validate_filter(t)?;
            super::check_len("topic", t.len(), (1, caps.topic_max))?;
            super::check_qos("qos", *q, caps)?;
        }
        check_timeout(timeout)?;
        self.check_wanted("subscribe")?;
        let _op = self.op("subscribe", timeout)?;
        self.backend.subscribe(topics, timeout)?;
        let mut subs = lock(&self.subscriptions);
        for (t, q) in topics {
            subs.retain(|(s, _)| s != t);
            subs.push((t.clone(), *q));
        }
        Ok(())
    }

    pub fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        self.check_open()?;
        let caps = self.backend.capabilities();
        if topics.is_empty() {
            return Err(Error::invalid("topic: at least one topic is needed"));
        }
        for t in topics {
            topic::validate_filter(t)?;
            super::check_len("topic", t.len(), (1, caps.topic_max))?;
        }
        check_timeout(timeout)?;
        self.check_wanted("unsubscribe")?;
        let _op = self.op("unsubscribe", timeout)?;
        self.backend.unsubscribe(topics, timeout)?;
        lock(&self.subscriptions).retain(|(s, _)| !topics.contains(s));
        Ok(())
    }

    pub fn subscriptions(&self) -> Vec<(String, u8)> {
        lock(&self.subscriptions).clone()
    }

    pub fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_open()?;
        check_timeout(timeout)?;
        self.shared.wanted.store(false, Ordering::SeqCst);
        let res = self
            .op("disconnect", timeout)
            .and_then(|_op| self.backend.disconnect(timeout));
        self.shared.connected.store(false, Ordering::SeqCst);
        res
    }

    /// Whether the client is connected; on firmware that can be asked (Alibaba
    /// `AT+CMSTATUS?`) the modem is asked and the cached state follows its answer.
    pub fn is_connected(&self) -> bool {
        if !self.shared.closed.load(Ordering::SeqCst) {
            match self.backend.query_connected() {
                Some(Ok(up)) => self.shared.sync_connected(up),
                Some(Err(e)) => log::debug!("client {}: status query: {e}", self.shared.index),
                None => {}
            }
        }
        self.shared.is_connected()
    }

    /// Disconnects if connected and releases the client on the modem, within the close
    /// timeout (the modem's timeout) in all, even against a modem that no longer answers.
    /// Idempotent.
    pub fn close(&self) -> Result<()> {
        self.close_within(self.close_timeout())
    }

    /// Like [`MqttClient::close`], with every command it sends ending within `timeout` in
    /// all; what is left undone then is skipped (the next connect on this index clears
    /// what an earlier run left on the modem).
    pub fn close_within(&self, timeout: Duration) -> Result<()> {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        self.shared.wanted.store(false, Ordering::SeqCst);
        // The reconnect worker ends when its channel closes; it is not joined: it may be
        // in the middle of a connect, and it stops by itself when that ends.
        lock(&self.shared.reconnect_tx).take();
        lock(&self.worker).take();
        let res = waits::with_cap(deadline, || {
            self.ops
                .acquire("close", deadline)
                .and_then(|_op| self.backend.close())
        });
        self.shared.connected.store(false, Ordering::SeqCst);
        match res {
            // The goodbye is best effort: a modem that does not answer in time, or a port
            // that is gone, leaves nothing for the caller to do (the next connect on this
            // index clears what is left on the modem). An interrupt is the caller's own.
            Err(e @ Error::Interrupted(_)) => Err(e),
            Err(e) => {
                log::warn!(
                    "client {}: closed without the modem's goodbye: {e}",
                    self.shared.index
                );
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::debug!("closing client {} on drop: {e}", self.shared.index);
        }
    }
}

fn check_timeout(timeout: Option<Duration>) -> Result<()> {
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(Error::invalid("timeout: must be positive"));
    }
    Ok(())
}

fn reconnect_worker(
    rx: Receiver<()>,
    backend: Arc<dyn Backend>,
    shared: Arc<ClientShared>,
    last: Arc<Mutex<Option<ConnectOptions>>>,
    subs: Arc<Mutex<Vec<(String, u8)>>>,
    (first, max): (Duration, Duration),
    ops: Arc<OpLock>,
) {
    // Each message on `rx` asks for a reconnect; the channel closing ends the worker.
    while rx.recv().is_ok() {
        let mut delay = first;
        loop {
            if shared.closed.load(Ordering::SeqCst) || !shared.wanted.load(Ordering::SeqCst) {
                break;
            }
            if shared.is_connected() {
                break;
            }
            match rx.recv_timeout(delay) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if shared.closed.load(Ordering::SeqCst) || !shared.wanted.load(Ordering::SeqCst) {
                break;
            }
            let Some(opts) = lock(&last).clone() else {
                break;
            };
            let attempt = ops
                .acquire("reconnect", Instant::now() + OP_WAIT)
                .and_then(|_op| {
                    if shared.closed.load(Ordering::SeqCst) {
                        return Err(Error::Closed("MQTT client"));
                    }
                    backend.connect(&opts).and_then(|()| {
                        let topics = lock(&subs).clone();
                        if topics.is_empty() {
                            Ok(())
                        } else {
                            backend.subscribe(&topics, None)
                        }
                    })
                });
            match attempt {
                Ok(()) => {
                    shared.connected.store(true, Ordering::SeqCst);
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    log::info!("client {}: reconnected", shared.index);
                    shared.emit(ClientEvent::Connected { reconnect: true });
                    break;
                }
                Err(e) => {
                    delay = (delay * 2).min(max);
                    log::warn!(
                        "client {}: reconnect failed: {e}; next try in {delay:?}",
                        shared.index
                    );
                    shared.emit(ClientEvent::ReconnectFailed {
                        error: e.to_string(),
                        retry_in: delay,
                    });
                    if matches!(e, Error::Port(_) | Error::Closed(_)) {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime};

    use super::*;

    fn msg(topic: &str, n: u8) -> Message {
        Message {
            topic: topic.into(),
            payload: vec![n],
            qos: Some(1),
            retain: Some(false),
            client_index: 0,
            received_at: SystemTime::now(),
        }
    }

    fn payloads(it: impl Iterator<Item = Message>) -> Vec<u8> {
        it.map(|m| m.payload[0]).collect()
    }

    #[test]
    fn without_callback_a_full_queue_drops_the_new_message() {
        let s = ClientShared::new(0, 2);
        for n in 0..3 {
            s.deliver(msg("t", n));
        }
        assert_eq!(
            (s.dropped(), s.stats().queued, s.free_capacity()),
            (1, 2, 0)
        );
        assert_eq!(payloads(std::iter::from_fn(|| s.try_next())), [0, 1]);
    }

    #[test]
    fn with_callback_each_consumer_sees_every_message_and_old_copies_give_way() {
        let s = ClientShared::new(0, 2);
        s.set_callback_attached(true);
        let mut to_callback = Vec::new();
        for n in 0..3 {
            s.deliver(msg("t", n));
            to_callback.extend(s.next_for_callback().map(|m| m.payload[0]));
        }
        assert_eq!(to_callback, [0, 1, 2]);
        // The oldest unread copy gave way, uncounted: the callback had it.
        assert_eq!(
            (s.dropped(), s.stats().queued, s.free_capacity()),
            (0, 2, 2)
        );
        assert_eq!(payloads(std::iter::from_fn(|| s.try_next())), [1, 2]);
    }

    #[test]
    fn with_callback_at_most_tee_max_copies_wait() {
        let s = ClientShared::new(0, 100_000);
        s.set_callback_attached(true);
        for n in 0..(TEE_MAX + 500) {
            s.deliver(msg("t", (n % 256) as u8));
            assert!(s.next_for_callback().is_some());
        }
        assert_eq!((s.dropped(), s.stats().queued), (0, TEE_MAX as u64));
        // The most recent ones.
        assert_eq!(s.try_next().map(|m| m.payload[0]), Some((500 % 256) as u8));
    }

    #[test]
    fn a_callback_queue_that_is_full_drops_and_counts() {
        let s = ClientShared::new(0, 2);
        s.set_callback_attached(true);
        for n in 0..3 {
            s.deliver(msg("t", n));
        }
        assert_eq!(s.dropped(), 1);
        assert_eq!(
            payloads(std::iter::from_fn(|| s.next_for_callback())),
            [0, 1]
        );
    }

    #[test]
    fn attaching_passes_queued_messages_and_detaching_keeps_the_copies() {
        let s = ClientShared::new(0, 4);
        s.deliver(msg("t", 0));
        s.deliver(msg("t", 1));
        s.set_callback_attached(true);
        s.deliver(msg("t", 2));
        assert_eq!(
            payloads(std::iter::from_fn(|| s.next_for_callback())),
            [0, 1, 2]
        );
        s.deliver(msg("t", 3));
        s.set_callback_attached(false);
        assert!(s.next_for_callback().is_none());
        assert_eq!(payloads(std::iter::from_fn(|| s.try_next())), [0, 1, 2, 3]);
    }

    #[test]
    fn a_filtered_wait_leaves_other_messages_queued_in_order() {
        let s = ClientShared::new(0, 8);
        s.deliver(msg("a", 0));
        s.deliver(msg("b", 1));
        s.deliver(msg("a", 2));
        let soon = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            s.next_message(Some("b"), soon).map(|m| m.payload[0]),
            Some(1)
        );
        assert!(s.next_message(Some("c"), Instant::now()).is_none());
        assert_eq!(payloads(std::iter::from_fn(|| s.try_next())), [0, 2]);
    }

    #[test]
    fn a_waiter_is_woken_by_a_message_from_another_thread() {
        let s = ClientShared::new(0, 8);
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            s2.next_message(Some("x/+"), Instant::now() + Duration::from_secs(30))
        });
        s.deliver(msg("y", 0));
        s.deliver(msg("x/1", 1));
        let got = t.join().expect("waiter");
        assert_eq!(got.map(|m| m.payload[0]), Some(1));
        assert_eq!(payloads(std::iter::from_fn(|| s.try_next())), [0]);
    }
}
