//! URC routing: `+CMYIELD` statuses to the waiting command and the client.

use super::*;
use crate::dialect::common::{detached_router, UrcListener};
use crate::dialect::UrcRouter;

pub(super) struct Waiter {
    pub(super) id: u64,
    pub(super) kind: AckKind,
    pub(super) tx: Sender<i32>,
}

/// Routes `+CMYIELD` reports (from polls, the user's own operations, or automatic yield).
pub(super) struct Router {
    pub(super) shared: Arc<ClientShared>,
    pub(super) waiters: Mutex<VecDeque<Waiter>>,
    pub(super) next_id: AtomicU64,
    /// Per kind (sub, unsub, pub): acknowledgements still owed to operations that gave up
    /// waiting. The firmware's acks carry no id and come in order, so the next ack of that
    /// kind is the late one: it is discarded instead of completing a later operation.
    pub(super) late: Mutex<[u32; 3]>,
}

/// The URC prefixes the client registers (beside the boot URC).
pub(super) const PREFIXES: [&[u8]; 1] = [b"+CMYIELD:"];

impl UrcListener for Router {
    fn on_frame(&self, frame: &Frame) {
        if let Frame::Line(l) = frame {
            self.on_line(l);
        }
    }

    fn all_lost(&self, cause: i32, reason: &str) {
        self.shared.connection_lost(cause, reason);
    }
}

impl Router {
    pub(super) fn new(shared: Arc<ClientShared>) -> Router {
        Router {
            shared,
            waiters: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            late: Mutex::new([0; 3]),
        }
    }

    pub(super) fn on_line(&self, line: &[u8]) {
        let Some((status, rest)) = status_and_rest(line) else {
            log::warn!("aliyun: cannot parse {:?}", String::from_utf8_lossy(line));
            return;
        };
        if let Some(kind) = AckKind::of(status) {
            {
                let mut late = lock(&self.late);
                let owed = &mut late[kind.slot()];
                if *owed > 0 {
                    *owed -= 1;
                    log::debug!(
                        "aliyun: late {} ({status}) for an operation that timed out; discarded",
                        yield_status_name(status)
                    );
                    return;
                }
            }
            let waiter = {
                let mut w = lock(&self.waiters);
                let pos = w.iter().position(|x| x.kind == kind);
                pos.and_then(|p| w.remove(p))
            };
            match waiter {
                Some(w) => {
                    let _ = w.tx.send(status);
                }
                None => log::debug!(
                    "aliyun: {} ({status}) with no operation waiting",
                    yield_status_name(status)
                ),
            }
            return;
        }
        match status {
            12 => match parse_message_fields(rest) {
                Some((topic, payload)) => self.shared.deliver(Message::received(topic, payload, 0)),
                None => log::warn!(
                    "aliyun: message report without topic and payload: {:?}",
                    String::from_utf8_lossy(line)
                ),
            },
            1 => {
                // Nothing still owed survives the connection.
                *lock(&self.late) = [0; 3];
                self.shared.connection_lost(1, "connection lost")
            }
            2 => self.shared.reconnected(),
            13 => {
                log::debug!("aliyun: wait-ack list is empty");
                *lock(&self.late) = [0; 3];
            }
            other => log::warn!("aliyun: +CMYIELD: {other} ({})", yield_status_name(other)),
        }
    }

    pub(super) fn register(&self, kind: AckKind) -> (u64, Receiver<i32>) {
        let (tx, rx) = bounded(1);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiters).push_back(Waiter { id, kind, tx });
        (id, rx)
    }

    pub(super) fn forget(&self, id: u64) {
        lock(&self.waiters).retain(|w| w.id != id);
    }

    /// The operation `id` (of `kind`) stops waiting after its command went out: if its
    /// ack has not come yet, the next one of that kind will be its, late.
    pub(super) fn abandon(&self, id: u64, kind: AckKind, rx: &Receiver<i32>) {
        let mut waiters = lock(&self.waiters);
        let before = waiters.len();
        waiters.retain(|w| w.id != id);
        let still_waiting = waiters.len() != before;
        drop(waiters);
        if still_waiting || rx.try_recv().is_err() {
            lock(&self.late)[kind.slot()] += 1;
        }
    }
}

/// The URC prefixes [`AliyunMqtt::open`] registers and a handler routing frames as its
/// handlers do, for the single client `shared`. For the fuzz targets and the framing
/// property tests (`modemqtt::fuzzing`), which drive the router without an engine.
#[doc(hidden)]
pub fn urc_router(shared: &Arc<ClientShared>) -> UrcRouter {
    detached_router(Router::new(shared.clone()), &PREFIXES)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum AckKind {
    Sub,
    Unsub,
    Pub,
}

impl AckKind {
    pub(super) fn of(status: i32) -> Option<AckKind> {
        match status {
            3..=5 => Some(AckKind::Sub),
            6..=8 => Some(AckKind::Unsub),
            9..=11 => Some(AckKind::Pub),
            _ => None,
        }
    }
    pub(super) fn success(self) -> i32 {
        match self {
            AckKind::Sub => 3,
            AckKind::Unsub => 6,
            AckKind::Pub => 9,
        }
    }
    pub(super) fn slot(self) -> usize {
        match self {
            AckKind::Sub => 0,
            AckKind::Unsub => 1,
            AckKind::Pub => 2,
        }
    }

    pub(super) fn operation(self) -> &'static str {
        match self {
            AckKind::Sub => "subscribe",
            AckKind::Unsub => "unsubscribe",
            AckKind::Pub => "publish",
        }
    }
}
