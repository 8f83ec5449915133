//! URC routing: `+MQTTSUBRECV` messages, `+MQTTDISCONNECTED` and the Wi-Fi lines.

use super::*;
use crate::dialect::common::{detached_router, UrcListener};
use crate::dialect::UrcRouter;

pub const SUBRECV: &[u8] = b"+MQTTSUBRECV:";
pub const DISCONNECTED: &[u8] = b"+MQTTDISCONNECTED:";
pub const WIFI_DISCONNECT: &[u8] = b"WIFI DISCONNECT";
/// ESP-AT prints `ready` when the firmware has (re)started (AT Command Set, "AT
/// Messages"), where cellular modems print `RDY`.
pub const READY: &[u8] = b"ready";

/// `on_disconnect` cause: the module reported `+MQTTDISCONNECTED:0` (no reason given).
pub const CAUSE_MQTT_CLOSED: i32 = 1;
/// `on_disconnect` cause: the module lost its Wi-Fi access point (`WIFI DISCONNECT`).
pub const CAUSE_WIFI_LOST: i32 = 2;

pub fn cause_reason(cause: i32) -> &'static str {
    match cause {
        CAUSE_WIFI_LOST => "Wi-Fi disconnected",
        _ => "the module closed the MQTT connection (no reason given)",
    }
}

/// `+MQTTSUBRECV:<LinkID>,"<topic>",<len>,<data>`: the data follows the length field
/// raw, then CR LF (MQTT AT Commands; Espressif's AWS log shows LF bytes inside it).
pub fn raw_rules() -> Vec<RawRule> {
    vec![RawRule::Bare {
        prefix: SUBRECV.to_vec(),
        len_field: 2,
    }]
}

/// The topic of a `+MQTTSUBRECV` header (`+MQTTSUBRECV:0,"<topic>",<len>`): printed raw
/// between the quotes, so it is everything between the first `"` and the last `",`.
pub fn subrecv_topic(header: &[u8]) -> Option<&[u8]> {
    let body = header.strip_prefix(SUBRECV)?;
    let open = body.iter().position(|&b| b == b'"')?;
    let close = body.windows(2).rposition(|w| w == b"\",")?;
    (close > open).then(|| &body[open + 1..close])
}

/// URC routing for the one client of a modem.
pub(super) struct Router {
    pub(super) engine: crate::engine::WeakEngine,
    pub(super) client: Mutex<Option<Arc<ClientShared>>>,
    /// Counts `+MQTTDISCONNECTED` lines: one before the `ERROR` of `AT+MQTTCONN` means
    /// the broker was not reached (field log esp32_espat427_connect_refused).
    pub(super) disconnects: AtomicU64,
}

impl Router {
    pub(super) fn client(&self) -> Option<Arc<ClientShared>> {
        lock(&self.client).clone()
    }

    fn route(&self, frame: &Frame) {
        match frame {
            Frame::Raw { header, data } if header.starts_with(SUBRECV) => {
                self.message(header, data)
            }
            Frame::Line(l) if l.starts_with(DISCONNECTED) => {
                self.disconnects.fetch_add(1, Ordering::SeqCst);
                self.lost(CAUSE_MQTT_CLOSED)
            }
            Frame::Line(l) if l.starts_with(WIFI_DISCONNECT) => self.lost(CAUSE_WIFI_LOST),
            Frame::Line(l) if l.starts_with(SUBRECV) => {
                log::warn!(
                    "espat: +MQTTSUBRECV without a readable length: {:?}",
                    String::from_utf8_lossy(l)
                )
            }
            _ => {}
        }
    }

    fn message(&self, header: &[u8], data: &[u8]) {
        let Some(topic) = subrecv_topic(header) else {
            log::warn!(
                "espat: cannot read the topic of {:?}",
                String::from_utf8_lossy(header)
            );
            return;
        };
        let topic = String::from_utf8_lossy(topic).into_owned();
        let msg = Message::received(topic, data.to_vec(), 0);
        match self.client() {
            Some(c) => c.deliver(msg),
            None => log::warn!("espat: message for a client that is not open here; dropped"),
        }
    }

    pub(super) fn lost(&self, cause: i32) {
        // A publish waiting for `+MQTTPUB:` will not get it now; abort it before the
        // listeners hear of the loss (one of them may start the next command at once).
        if let Some(engine) = self.engine.upgrade() {
            engine.abort_waiting_for(cause_reason(cause), |p| p.starts_with(b"+MQTTPUB:"));
        }
        if let Some(c) = self.client() {
            c.connection_lost(cause, cause_reason(cause));
        }
    }
}

/// The URC prefixes [`Context`] registers (beside the boot URC).
pub(super) const PREFIXES: [&[u8]; 4] = [SUBRECV, DISCONNECTED, WIFI_DISCONNECT, READY];

impl UrcListener for Router {
    fn on_frame(&self, frame: &Frame) {
        if matches!(frame, Frame::Line(l) if l.starts_with(READY)) {
            self.restarted();
        } else {
            self.route(frame);
        }
    }

    fn all_lost(&self, cause: i32, reason: &str) {
        if let Some(c) = self.client() {
            c.connection_lost(cause, reason);
        }
    }
}

/// The router of `clients` (the first is client 0) detached from any engine, routing as
/// [`Context`]'s handlers do. For the fuzz targets and the framing property tests.
#[doc(hidden)]
pub fn urc_router(clients: &[Arc<ClientShared>]) -> UrcRouter {
    let router = Router {
        engine: crate::engine::WeakEngine::detached(),
        client: Mutex::new(clients.first().cloned()),
        disconnects: AtomicU64::new(0),
    };
    detached_router(router, &PREFIXES)
}
