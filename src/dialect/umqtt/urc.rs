//! URC routing: `+UUMQTTC` results to the waiting command, link losses and unread-message
//! notices to the client, the read answer `+UMQTTC: 6,...` (counted) to its inbox.

use super::*;
pub(super) use crate::dialect::common::field_int;
use crate::dialect::common::{detached_router, UrcListener};

/// The read answer's header `+UMQTTC: 6,<qos>,<total>,<topic_len>,"<topic>",<msg_len>`
/// (the codec took the counted message): QoS and topic. The topic is taken by its length
/// field when it agrees, so a topic holding `,` is read whole.
pub fn parse_read_header(header: &[u8]) -> Option<(u8, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let body = text.strip_prefix("+UMQTTC:")?.trim_start();
    let body = body.strip_prefix("6,")?;
    let (qos, rest) = body.split_once(',')?;
    let (_total, rest) = rest.split_once(',')?;
    let (tlen, rest) = rest.split_once(',')?;
    let tlen: usize = tlen.trim().parse().ok()?;
    let rest = rest.strip_prefix('"')?;
    let topic = match rest.get(..tlen) {
        Some(t) if rest[tlen..].starts_with('"') => t,
        _ => &rest[..rest.rfind('"')?],
    };
    Some((qos.trim().parse().ok()?, topic.to_string()))
}

/// What the router knows of the one client.
pub(super) struct Slot {
    pub(super) shared: Arc<ClientShared>,
}

/// Unread messages the module announced, for the reader.
#[derive(Default)]
pub(super) struct Unread {
    /// The count of the last `+UUMQTTC: 6,<n>`, less the messages read since.
    pub(super) count: u32,
    /// Bumped by every notice: a read that found nothing clears the count only when no
    /// notice came meanwhile.
    pub(super) notices: u64,
    /// Messages delivered from read answers.
    pub(super) delivered: u64,
}

/// URC routing for the client of one modem.
pub(super) struct Router {
    pub(super) slot: Mutex<Option<Slot>>,
    pub(super) unread: Mutex<Unread>,
    /// Wakes the reader (bounded(1): wake-ups coalesce).
    pub(super) wake: Mutex<Option<Sender<()>>>,
    /// The result URCs the client waits for.
    pub(super) results: Results,
    /// Whether a login is wanted (a `+UUMQTTC: 1,0` that nobody waits for is a loss).
    pub(super) logged_in: AtomicBool,
}

impl Router {
    pub(super) fn new() -> Router {
        Router {
            slot: Mutex::new(None),
            unread: Mutex::new(Unread::default()),
            wake: Mutex::new(None),
            results: Results::default(),
            logged_in: AtomicBool::new(false),
        }
    }

    pub(super) fn shared(&self) -> Option<Arc<ClientShared>> {
        lock(&self.slot).as_ref().map(|s| s.shared.clone())
    }

    fn wake(&self) {
        if let Some(w) = lock(&self.wake).as_ref() {
            let _ = w.try_send(());
        }
    }

    /// `+UUMQTTC: 6,<n>`: `n` messages wait in the module.
    pub(super) fn note_unread(&self, n: u32) {
        {
            let mut u = lock(&self.unread);
            u.count = n;
            u.notices += 1;
        }
        self.wake();
    }

    pub(super) fn deliver(&self, qos: u8, topic: String, payload: Vec<u8>) {
        {
            let mut u = lock(&self.unread);
            u.count = u.count.saturating_sub(1);
            u.delivered += 1;
        }
        // The read answer has no retain flag.
        let msg = Message {
            qos: Some(qos),
            ..Message::received(topic, payload, 0)
        };
        match self.shared() {
            Some(c) => c.deliver(msg),
            None => log::warn!("umqtt: message for a client that is not open here; dropped"),
        }
    }

    pub(super) fn on_line(&self, line: &[u8]) {
        if !line.starts_with(b"+UUMQTTC:") {
            if line.starts_with(b"+UUPSDA:") && !self.results.offer(line) {
                log::debug!("umqtt: {:?}", String::from_utf8_lossy(line));
            }
            return;
        }
        let op = field_int(line, 0);
        let value = field_int(line, 1);
        match (op, value) {
            (Some(6), Some(n)) => self.note_unread(n.clamp(0, i64::from(u32::MAX)) as u32),
            (Some(0), Some(code)) => {
                if self.results.offer(line) {
                    return;
                }
                let name = logout_reason_name(code as i32);
                self.all_lost(code as i32, &name);
            }
            (Some(1), Some(0)) => {
                // Nobody waits for it: logged out while a login was up (ubxlib treats it
                // as a disconnection).
                if !self.results.offer(line) && self.logged_in.load(Ordering::SeqCst) {
                    self.all_lost(101, "connection lost (+UUMQTTC: 1,0)");
                }
            }
            (Some(8), Some(0)) => {
                log::warn!("umqtt: keep-alive ping failed (+UUMQTTC: 8,0)");
            }
            _ => {
                if !self.results.offer(line) {
                    log::debug!(
                        "umqtt: result {:?} that nobody waits for; dropped",
                        String::from_utf8_lossy(line)
                    );
                }
            }
        }
    }

    pub(super) fn forget_unread(&self) {
        let mut u = lock(&self.unread);
        u.count = 0;
        u.notices += 1;
    }
}

/// The URC prefixes [`Context`] registers (the read answer included: it goes through the
/// router like a URC, so that messages and notices are handled in the order sent).
pub(super) const PREFIXES: [&[u8]; 3] = [b"+UUMQTTC:", b"+UMQTTC: 6,", b"+UUPSDA:"];

impl UrcListener for Router {
    fn on_frame(&self, frame: &Frame) {
        match frame {
            Frame::Raw { header, data } => match parse_read_header(header) {
                Some((qos, topic)) => self.deliver(qos, topic, data.clone()),
                None => log::warn!(
                    "umqtt: cannot parse {:?}; message dropped",
                    String::from_utf8_lossy(header)
                ),
            },
            Frame::Line(line) => self.on_line(line),
            _ => {}
        }
    }

    fn all_lost(&self, cause: i32, reason: &str) {
        self.logged_in.store(false, Ordering::SeqCst);
        // A publish or subscribe waiting for its result will not get one.
        self.results.lost(reason);
        if let Some(c) = self.shared() {
            c.connection_lost(cause, reason);
        }
    }

    /// The unread count and result waits are gone with the old session.
    fn forget_session(&self) {
        self.forget_unread();
        self.results.restarted();
    }

    fn end_waits(&self, reason: &str) {
        self.results.port_lost(reason);
    }
}

/// The router of `clients` (one) detached from any engine, routing as [`Context`]'s
/// handlers do. For the fuzz targets and the framing property tests.
#[doc(hidden)]
pub fn urc_router(clients: &[Arc<ClientShared>]) -> UrcRouter {
    let router = Router::new();
    *lock(&router.slot) = clients.first().map(|c| Slot { shared: c.clone() });
    detached_router(router, &PREFIXES)
}

pub fn raw_rules() -> Vec<RawRule> {
    // +UMQTTC: 6,<qos>,<total_len>,<topic_len>,"<topic>",<msg_len>,"<msg>": the fields
    // are counted after the prefix, so <msg_len> is the fifth.
    vec![RawRule::Inline {
        prefix: b"+UMQTTC: 6,".to_vec(),
        len_field: 4,
    }]
}
