//! URC routing: `+SMSUB` messages, `+SMSTATE: 0` and `+APP PDP: <n>,DEACTIVE` link losses.

use super::*;
use crate::dialect::common::{detached_router, UrcListener};
use crate::dialect::UrcRouter;

/// The URC prefixes of the family.
pub(super) const PREFIXES: [&[u8]; 3] = [b"+SMSUB:", b"+SMSTATE:", b"+APP PDP:"];

/// Splits `+SMSUB: <topic>,<message>` into topic and payload.
///
/// The URC is not length-framed (ATM V1.05 §17.2.13): the manual prints
/// `+SMSUB: "information","hello"`, and AN80 §5.3.4 an unquoted
/// `+SMSUB: /ext/regnwl,{"clientId":...}`. Quoted form: the topic runs to the first `","`,
/// the payload from there to the line's last `"` (so the payload may hold `"` and `","`;
/// a topic holding `","` is split at the wrong place, and nothing tells). Unquoted form:
/// the topic runs to the first `,`. A line break inside a payload ends the line: the rest
/// arrives as a line of its own and is lost (logged). `None`: not a message line.
pub fn parse_smsub(line: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let rest = line.strip_prefix(b"+SMSUB:")?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    if let Some(q) = rest.strip_prefix(b"\"") {
        let sep = q.windows(3).position(|w| w == b"\",\"")?;
        let topic = &q[..sep];
        let body = &q[sep + 3..];
        let payload = body.strip_suffix(b"\"")?;
        return Some((topic.to_vec(), payload.to_vec()));
    }
    let comma = rest.iter().position(|&b| b == b',')?;
    let (topic, payload) = (&rest[..comma], &rest[comma + 1..]);
    if topic.is_empty() {
        return None;
    }
    Some((topic.to_vec(), payload.to_vec()))
}

use crate::dialect::common::int_fields;

/// URC routing for the one client of a modem.
pub(super) struct Router {
    pub(super) client: Mutex<Option<Arc<ClientShared>>>,
}

impl Router {
    pub(super) fn client(&self) -> Option<Arc<ClientShared>> {
        lock(&self.client).clone()
    }

    fn on_message(&self, line: &[u8]) {
        let Some((topic, payload)) = parse_smsub(line) else {
            log::warn!(
                "sm: cannot frame {:?} (a payload holding a line break is cut there)",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            );
            return;
        };
        let topic = match String::from_utf8(topic) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("sm: topic is not UTF-8");
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        let msg = Message::received(topic, payload, 0);
        match self.client() {
            Some(c) => c.deliver(msg),
            None => log::warn!("sm: message for a client that is not open here; dropped"),
        }
    }

    pub(super) fn lost(&self, cause: i32) {
        if let Some(c) = self.client() {
            c.connection_lost(cause, cause_reason(cause));
        }
    }
}

impl UrcListener for Router {
    fn on_frame(&self, frame: &Frame) {
        let Frame::Line(line) = frame else { return };
        if line.starts_with(b"+SMSUB:") {
            self.on_message(line);
        } else if line.starts_with(b"+SMSTATE:") {
            // `+SMSTATE: 0` as a URC: the link is down (field log SIM7000_AWS_Log.txt).
            if int_fields(line).first() == Some(&0) {
                self.lost(CAUSE_LINK_DOWN);
            }
        } else if line.starts_with(b"+APP PDP:") {
            // `+APP PDP: 0,DEACTIVE` (SIM7080, ATM V1.05 §22.3) or `+APP PDP: DEACTIVE`
            // (SIM7000 AN70 §5.1): the bearer and the MQTT link on it are gone.
            let text = String::from_utf8_lossy(line).to_ascii_uppercase();
            if text.trim_end().ends_with("DEACTIVE") {
                self.lost(crate::mqtt::CAUSE_PDP_DEACTIVATED);
            }
        }
    }

    fn all_lost(&self, cause: i32, reason: &str) {
        if let Some(c) = self.client() {
            c.connection_lost(cause, reason);
        }
    }
}

/// The router of `clients` (the first is client 0) detached from any engine, routing as
/// [`Context`]'s handlers do. For the fuzz targets and the framing property tests
/// (`modemqtt::fuzzing`).
#[doc(hidden)]
pub fn urc_router(clients: &[Arc<ClientShared>]) -> UrcRouter {
    let router = Router {
        client: Mutex::new(clients.first().cloned()),
    };
    detached_router(router, &PREFIXES)
}
