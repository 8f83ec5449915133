//! URC routing: result URCs to the waiting command, `+CMQTTRX*` parts reassembled into
//! messages, `+CMQTTCONNLOST` to the clients.

use super::*;

pub fn raw_rules() -> Vec<RawRule> {
    vec![
        RawRule::Trailing {
            prefix: b"+CMQTTRXTOPIC:".to_vec(),
            len_field: 1,
        },
        RawRule::Trailing {
            prefix: b"+CMQTTRXPAYLOAD:".to_vec(),
            len_field: 1,
        },
    ]
}

pub(super) use crate::dialect::common::int_fields;

#[derive(Debug, Default)]
pub(super) struct Rx {
    pub(super) topic_total: usize,
    pub(super) payload_total: usize,
    pub(super) topic: Vec<u8>,
    pub(super) payload: Vec<u8>,
}

/// URC routing and reassembly for all clients of one modem.
pub(super) struct Router {
    pub(super) engine: crate::engine::WeakEngine,
    pub(super) clients: Mutex<Vec<Option<Arc<ClientShared>>>>,
    pub(super) rx: Mutex<Vec<Option<Rx>>>,
    /// Counts `+CMQTTNONET`: the network closed and the service with it, so the service
    /// must be started and the clients acquired again.
    pub(super) nonet: std::sync::atomic::AtomicU64,
}

impl Router {
    pub(super) fn client(&self, idx: usize) -> Option<Arc<ClientShared>> {
        lock(&self.clients).get(idx).cloned().flatten()
    }

    fn route(&self, frame: &Frame) {
        match frame {
            Frame::Raw { header, data } => {
                let f = int_fields(header);
                let Some(&idx) = f.first() else { return };
                let mut rx = lock(&self.rx);
                let Some(Some(cur)) = rx.get_mut(idx as usize) else {
                    log::warn!(
                        "cmqtt: {} without +CMQTTRXSTART",
                        String::from_utf8_lossy(header)
                    );
                    return;
                };
                if header.starts_with(b"+CMQTTRXTOPIC:") {
                    cur.topic.extend_from_slice(data);
                } else {
                    cur.payload.extend_from_slice(data);
                }
            }
            Frame::Line(line) => self.on_line(line),
            _ => {}
        }
    }

    pub(super) fn on_line(&self, line: &[u8]) {
        let f = int_fields(line);
        let Some(&idx) = f.first() else { return };
        let Ok(idx) = usize::try_from(idx) else {
            return;
        };
        if line.starts_with(b"+CMQTTRXSTART:") {
            let mut rx = lock(&self.rx);
            if let Some(slot) = rx.get_mut(idx) {
                if slot.is_some() {
                    log::warn!(
                        "cmqtt: client {idx}: +CMQTTRXSTART before the previous message ended"
                    );
                }
                *slot = Some(Rx {
                    topic_total: f.get(1).copied().unwrap_or(0).max(0) as usize,
                    payload_total: f.get(2).copied().unwrap_or(0).max(0) as usize,
                    ..Rx::default()
                });
            }
        } else if line.starts_with(b"+CMQTTRXEND:") {
            let done = lock(&self.rx).get_mut(idx).and_then(Option::take);
            let Some(rx) = done else {
                log::warn!("cmqtt: client {idx}: +CMQTTRXEND without +CMQTTRXSTART");
                return;
            };
            if rx.topic.len() != rx.topic_total || rx.payload.len() != rx.payload_total {
                log::warn!(
                    "cmqtt: client {idx}: message lengths differ from +CMQTTRXSTART (topic {}/{}, payload {}/{})",
                    rx.topic.len(),
                    rx.topic_total,
                    rx.payload.len(),
                    rx.payload_total
                );
            }
            let topic = match String::from_utf8(rx.topic) {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("cmqtt: client {idx}: topic is not UTF-8");
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            let msg = Message::received(topic, rx.payload, idx as u8);
            match self.client(idx) {
                Some(c) => c.deliver(msg),
                None => {
                    log::warn!("cmqtt: message for client {idx}, which is not open here; dropped")
                }
            }
        } else if line.starts_with(b"+CMQTTCONNLOST:") {
            let cause = f.get(1).copied().unwrap_or(0) as i32;
            // A publish or subscribe of this client waiting for its result URC will not
            // get one now. Before the listeners hear of the loss: one of them may start
            // the next command at once, which this must not catch.
            if let Some(engine) = self.engine.upgrade() {
                let tail = format!(": {idx},");
                engine.abort_waiting_for(connlost_reason(cause), |p| {
                    p.starts_with(b"+CMQTT") && p.ends_with(tail.as_bytes())
                });
            }
            if let Some(c) = self.client(idx) {
                c.connection_lost(cause, connlost_reason(cause));
            }
        }
    }
}

/// The URC prefixes [`Context`] registers (beside the boot URC).
pub(super) const PREFIXES: [&[u8]; 3] = [b"+CMQTTRX", b"+CMQTTCONNLOST:", b"+CMQTTNONET"];

impl UrcListener for Router {
    fn on_frame(&self, frame: &Frame) {
        if matches!(frame, Frame::Line(l) if l.starts_with(b"+CMQTTNONET")) {
            self.nonet.fetch_add(1, Ordering::SeqCst);
            self.all_lost(3, "network closed");
        } else {
            self.route(frame);
        }
    }

    fn all_lost(&self, cause: i32, reason: &str) {
        for c in lock(&self.clients).iter().flatten() {
            c.connection_lost(cause, reason);
        }
    }

    /// Message parts under way are gone with the old session.
    fn forget_session(&self) {
        lock(&self.rx).iter_mut().for_each(|slot| *slot = None);
    }
}

/// The router of `clients` (position = client index) detached from any engine, routing
/// exactly as a [`Context`]'s handlers do. For the fuzz targets and the framing property
/// tests (`modemqtt::fuzzing`).
#[doc(hidden)]
pub fn urc_router(clients: &[Arc<ClientShared>]) -> UrcRouter {
    let router = Router {
        engine: crate::engine::WeakEngine::detached(),
        clients: Mutex::new(clients.iter().cloned().map(Some).collect()),
        rx: Mutex::new(clients.iter().map(|_| None).collect()),
        nonet: std::sync::atomic::AtomicU64::new(0),
    };
    detached_router(router, &PREFIXES)
}
