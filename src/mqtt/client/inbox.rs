//! The inbound queues of a client (a tee between the waiters and the callback) and its counters.

use super::*;

/// While a callback is attached, at most this many unread copies wait for `wait_message`
/// (or `queue_size`, if smaller): the most recent ones.
pub const TEE_MAX: usize = 1000;

/// The inbound queues of one client.
///
/// Every message goes to `waiting` (read by `wait_message` / `messages`) and, while a
/// callback is attached, also to `for_callback`. Both hold at most `queue_size` messages:
/// - no callback: a message that finds `waiting` full is dropped (counted);
/// - callback attached: a message that finds `for_callback` full is dropped (counted: the
///   callback is that far behind); otherwise the oldest unread copy in a full `waiting`
///   gives way to it, uncounted, because the callback has the message. `waiting` then
///   holds at most [`TEE_MAX`] copies.
pub(super) struct Inbox {
    /// Unread messages for the waiters, oldest first, each with its sequence number.
    pub(super) waiting: VecDeque<(u64, Message)>,
    /// Messages not yet passed to the callback.
    pub(super) for_callback: VecDeque<Message>,
    pub(super) callback: bool,
    pub(super) next_seq: u64,
}

/// State shared between a client's API, the reader thread (which reports URC-born events
/// here and must never block) and the reconnect worker.
pub struct ClientShared {
    pub index: u8,
    pub(super) queue_size: usize,
    pub(super) inbox: Mutex<Inbox>,
    /// Told each time a message is queued for the waiters.
    pub(super) arrived: Condvar,
    pub(super) dropped: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) published: AtomicU64,
    pub(super) reconnects: AtomicU64,
    pub(super) disconnects: AtomicU64,
    pub(super) connected: AtomicBool,
    /// Set while the user wants a connection (connect called, disconnect not).
    pub(super) wanted: AtomicBool,
    pub(super) closed: AtomicBool,
    pub(super) sink: RwLock<Option<EventSink>>,
    pub(super) reconnect_tx: Mutex<Option<Sender<()>>>,
    /// Told each time a message leaves the inbox (a buffer-mode reader waits for room).
    pub(super) room: RwLock<Option<RoomListener>>,
}

pub type RoomListener = Arc<dyn Fn() + Send + Sync>;

impl ClientShared {
    pub fn new(index: u8, queue_size: usize) -> Arc<Self> {
        Arc::new(ClientShared {
            index,
            queue_size: queue_size.max(1),
            inbox: Mutex::new(Inbox {
                waiting: VecDeque::new(),
                for_callback: VecDeque::new(),
                callback: false,
                next_seq: 0,
            }),
            arrived: Condvar::new(),
            dropped: AtomicU64::new(0),
            received: AtomicU64::new(0),
            published: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            wanted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            sink: RwLock::new(None),
            reconnect_tx: Mutex::new(None),
            room: RwLock::new(None),
        })
    }

    pub(super) fn emit(&self, ev: ClientEvent) {
        let sink = self.sink.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(sink) = sink {
            sink(ev);
        }
    }

    /// Called by the dialect (on the reader thread) for each reassembled message.
    pub fn deliver(&self, msg: Message) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let queued = {
            let mut inbox = lock(&self.inbox);
            let cap = self.queue_size;
            let room = if inbox.callback {
                inbox.for_callback.len() < cap
            } else {
                inbox.waiting.len() < cap
            };
            if room {
                if inbox.callback {
                    inbox.for_callback.push_back(msg.clone());
                    // Copies nobody may ever read are kept to a few: a callback-only user
                    // does not hold queue_size messages in memory.
                    while inbox.waiting.len() >= cap.min(TEE_MAX) {
                        inbox.waiting.pop_front();
                    }
                }
                let seq = inbox.next_seq;
                inbox.next_seq += 1;
                inbox.waiting.push_back((seq, msg));
            }
            room
        };
        match queued {
            true => {
                self.arrived.notify_all();
                self.emit(ClientEvent::MessageQueued);
            }
            false => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_power_of_two() {
                    log::warn!(
                        "client {}: inbound queue full, {n} message(s) dropped so far; read faster or raise queue_size",
                        self.index
                    );
                }
            }
        }
    }

    /// Called by the dialect when the modem reports the link lost.
    pub fn connection_lost(&self, cause: i32, reason: &str) {
        // One loss, one event: a second report of the same loss (Quectel `+QIURC:
        // "pdpdeact"` then `+QMTSTAT`) finds the client already down.
        if !self.connected.swap(false, Ordering::SeqCst) {
            log::debug!(
                "client {}: {reason} (cause {cause}) while not connected",
                self.index
            );
            return;
        }
        self.disconnects.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "client {}: connection lost ({reason}, cause {cause})",
            self.index
        );
        self.emit(ClientEvent::Disconnected {
            cause,
            reason: reason.to_string(),
        });
        if self.wanted.load(Ordering::SeqCst) {
            if let Some(tx) = lock(&self.reconnect_tx).as_ref() {
                let _ = tx.send(());
            }
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Marks the client closed without a word to the modem (its port is being freed):
    /// operations fail with "closed" from now on and the reconnect worker stops.
    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wanted.store(false, Ordering::SeqCst);
        self.connected.store(false, Ordering::SeqCst);
        lock(&self.reconnect_tx).take();
    }

    /// Called by a dialect whose modem reconnected by itself (Alibaba firmware reports
    /// `+CMYIELD: 2`): marks the client connected and reports it, if the user wants a
    /// connection and it was down.
    pub fn reconnected(&self) {
        if !self.wanted.load(Ordering::SeqCst) || self.closed.load(Ordering::SeqCst) {
            return;
        }
        if !self.connected.swap(true, Ordering::SeqCst) {
            log::info!("client {}: the modem reconnected", self.index);
            self.emit(ClientEvent::Connected { reconnect: true });
        }
    }

    /// Brings the cached state in line with what the modem reported.
    pub fn sync_connected(&self, up: bool) {
        if up {
            self.reconnected();
        } else if self.is_connected() {
            self.connection_lost(0, "the modem reports the connection down");
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Counters of this client's traffic and events.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            received: self.received(),
            dropped: self.dropped(),
            queued: lock(&self.inbox).waiting.len() as u64,
            published: self.published.load(Ordering::Relaxed),
            disconnects: self.disconnects.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }

    /// How many more messages the client takes before it drops one: room in the
    /// callback's queue while a callback is attached (unread copies for the waiters give
    /// way then), else room in the waiters' queue.
    pub fn free_capacity(&self) -> usize {
        let inbox = lock(&self.inbox);
        let used = if inbox.callback {
            inbox.for_callback.len()
        } else {
            inbox.waiting.len()
        };
        self.queue_size.saturating_sub(used)
    }

    /// `f` runs (on the consumer's thread; it must not block) each time a message leaves
    /// the inbox.
    pub fn set_room_listener(&self, f: Option<RoomListener>) {
        *self.room.write().unwrap_or_else(|p| p.into_inner()) = f;
    }

    pub(super) fn took_one(&self) {
        let f = self.room.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(f) = f {
            f();
        }
    }

    /// Attaches or detaches the callback consumer. While attached, every message is also
    /// queued for [`next_for_callback`](Self::next_for_callback); attaching passes the
    /// messages already waiting to it too; detaching forgets what it had not taken (the
    /// waiters still have their copies).
    pub fn set_callback_attached(&self, on: bool) {
        {
            let mut inbox = lock(&self.inbox);
            if on && !inbox.callback {
                let copies: VecDeque<Message> =
                    inbox.waiting.iter().map(|(_, m)| m.clone()).collect();
                inbox.for_callback = copies;
            } else if !on {
                inbox.for_callback.clear();
            }
            inbox.callback = on;
        }
        // The room a buffer-mode reader sees may have changed.
        self.took_one();
    }

    /// Takes the next message for the callback, if one is attached and a message waits.
    pub fn next_for_callback(&self) -> Option<Message> {
        let m = lock(&self.inbox).for_callback.pop_front();
        if m.is_some() {
            self.took_one();
        }
        m
    }

    /// Takes the next message queued for the waiters without waiting.
    pub fn try_next(&self) -> Option<Message> {
        let m = lock(&self.inbox).waiting.pop_front().map(|(_, m)| m);
        if m.is_some() {
            self.took_one();
        }
        m
    }

    /// Waits for the next message (matching `filter`, if given) until `deadline`.
    /// Messages that do not match stay queued, in order, for later calls.
    pub fn next_message(&self, filter: Option<&str>, deadline: Instant) -> Option<Message> {
        let matches = |m: &Message| filter.is_none_or(|f| topic::matches(f, &m.topic));
        let mut inbox = lock(&self.inbox);
        // Messages with a lower sequence number were looked at already and did not match.
        let mut scanned = 0u64;
        loop {
            let start = inbox.waiting.partition_point(|(seq, _)| *seq < scanned);
            let found = inbox
                .waiting
                .iter()
                .skip(start)
                .position(|(_, m)| matches(m))
                .and_then(|pos| inbox.waiting.remove(start + pos));
            if let Some((_, m)) = found {
                drop(inbox);
                self.took_one();
                return Some(m);
            }
            scanned = inbox.next_seq;
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            inbox = self
                .arrived
                .wait_timeout(inbox, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Counters of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Messages the modem delivered (queued or dropped).
    pub received: u64,
    /// Messages dropped because the inbound queue was full.
    pub dropped: u64,
    /// Messages waiting unread for `wait_message` / `messages`.
    pub queued: u64,
    /// Publishes the broker acknowledged (QoS 0: the modem reported them sent).
    pub published: u64,
    pub disconnects: u64,
    pub reconnects: u64,
}
