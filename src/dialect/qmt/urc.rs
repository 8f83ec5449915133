//! URC routing: result URCs to the waiting command, `+QMTRECV` (inline, counted) and
//! `+QMTSTAT` to the clients.

use super::*;
use crate::dialect::common::{detached_router, UrcListener};

/// The result URCs of the QMT commands (also registered as URC prefixes so that the
/// command in flight, whichever it is, never claims them).
pub(super) const RESULT_PREFIXES: [&[u8]; 8] = [
    b"+QMTOPEN:",
    b"+QMTCLOSE:",
    b"+QMTCONN:",
    b"+QMTDISC:",
    b"+QMTSUB:",
    b"+QMTUNS:",
    b"+QMTPUBEX:",
    b"+QMTPUB:",
];

pub(super) fn is_result(line: &[u8]) -> bool {
    RESULT_PREFIXES.iter().any(|p| line.starts_with(p))
}
pub(super) use crate::dialect::common::{field_int, fields};

pub(super) fn int_fields(line: &[u8]) -> Vec<i64> {
    fields(line).iter().filter_map(|f| f.parse().ok()).collect()
}

/// A result URC is final unless its `result` (field `I`) is 1, "packet retransmission".
pub(crate) fn final_unless_retransmission<const I: usize>(line: &[u8]) -> bool {
    field_int(line, I) != Some(1)
}

/// Parses `+QMTRECV: <idx>,<msgID>,"<topic>",<len>` (the header of a raw frame).
pub(super) fn parse_recv_header(header: &[u8]) -> Option<(usize, u16, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let body = text.strip_prefix("+QMTRECV:")?.trim_start();
    let (idx, rest) = body.split_once(',')?;
    let (msgid, rest) = rest.split_once(',')?;
    let rest = rest.strip_prefix('"')?;
    let end = rest.rfind('"')?;
    let topic = &rest[..end];
    Some((
        idx.trim().parse().ok()?,
        msgid.trim().parse().ok()?,
        topic.to_string(),
    ))
}

/// The number before the first comma of `body` (blanks around it allowed), and what
/// follows that comma.
fn leading_number<T: std::str::FromStr>(body: &[u8]) -> Option<(T, &[u8])> {
    let comma = body.iter().position(|&b| b == b',')?;
    let n = std::str::from_utf8(&body[..comma])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some((n, &body[comma + 1..]))
}

/// Parses the length-less form `+QMTRECV: <idx>,<msgID>,"<topic>","<payload>"` (a modem
/// that refused `msg_len_enable`). Without the length nothing is escaped, so only what is
/// unambiguous is delivered (docs/qmt.md, "Receiving without the length field"):
/// the payload runs from the first `","` to the closing `"` at the end of the line, so
/// a topic holding `","` is misread; a payload holding CR or LF arrives cut into several
/// lines (the first no longer ends with `"`, the rest are not `+QMTRECV` lines) and is
/// dropped, never delivered cut. Bytes are taken as they are (payloads need not be UTF-8);
/// a topic must be UTF-8.
pub(super) fn parse_recv_line(line: &[u8]) -> Option<(usize, u16, String, Vec<u8>)> {
    let (idx, body) = leading_number(line.strip_prefix(b"+QMTRECV:")?)?;
    let (msgid, body) = leading_number(body)?;
    let rest = body.strip_prefix(b"\"")?;
    let sep = rest.windows(3).position(|w| w == b"\",\"")?;
    let topic = std::str::from_utf8(&rest[..sep]).ok()?;
    let payload = rest[sep + 3..].strip_suffix(b"\"")?;
    Some((idx, msgid, topic.to_string(), payload.to_vec()))
}

/// Whether a command waiting for the result URC `prefix` (`+QMTCONN: 0,`,
/// `+QMTPUBEX: 0,17,`, `+QMTSUB: 2,5,` ...) is one of client `idx`'s that `+QMTSTAT`
/// ends: every QMT result but `+QMTOPEN`'s (the network open reports its own failure).
pub(crate) fn waits_for_client(prefix: &[u8], idx: i64) -> bool {
    if !prefix.starts_with(b"+QMT") || prefix.starts_with(b"+QMTOPEN") {
        return false;
    }
    let Some(colon) = memchr::memchr(b':', prefix) else {
        return false;
    };
    let rest = &prefix[colon + 1..];
    let first = rest.split(|&b| b == b',').next().unwrap_or_default();
    std::str::from_utf8(first)
        .ok()
        .and_then(|f| f.trim().parse::<i64>().ok())
        == Some(idx)
}

/// What the router knows about one open client.
pub(super) struct Slot {
    pub(super) shared: Arc<ClientShared>,
    pub(super) pdp_cid: u8,
    /// Buffer-mode notices not read yet, in arrival order.
    pub(super) pending: VecDeque<u8>,
    /// Wakes the client's buffer reader (bounded(1): wake-ups coalesce).
    pub(super) wake: Option<Sender<()>>,
}

/// URC routing for all clients of one modem.
pub(super) struct Router {
    pub(super) slots: Mutex<Vec<Option<Slot>>>,
    /// The result URCs the clients wait for.
    pub(super) results: Results,
}

impl Router {
    pub(super) fn shared(&self, idx: usize) -> Option<Arc<ClientShared>> {
        lock(&self.slots)
            .get(idx)
            .and_then(|s| s.as_ref().map(|s| s.shared.clone()))
    }

    pub(super) fn deliver(&self, idx: usize, msgid: u16, topic: String, payload: Vec<u8>) {
        let msg = Message {
            // The URC has the packet id but neither QoS nor retain.
            qos: if msgid == 0 { Some(0) } else { None },
            ..Message::received(topic, payload, idx as u8)
        };
        match self.shared(idx) {
            Some(c) => c.deliver(msg),
            None => log::warn!("qmt: message for client {idx}, which is not open here; dropped"),
        }
    }

    /// Buffer mode: message stored in buffer `recv_id`; the client's reader fetches it.
    pub(super) fn note_buffer(&self, idx: usize, recv_id: u8) {
        let mut slots = lock(&self.slots);
        let Some(Some(slot)) = slots.get_mut(idx) else {
            log::warn!("qmt: buffer notice for client {idx}, which is not open here");
            return;
        };
        if !slot.pending.contains(&recv_id) {
            slot.pending.push_back(recv_id);
        }
        if let Some(w) = &slot.wake {
            let _ = w.try_send(());
        }
    }

    pub(super) fn on_line(&self, line: &[u8]) {
        if is_result(line) {
            if !self.results.offer(line) {
                log::debug!(
                    "qmt: result {:?} that nobody waits for; dropped",
                    String::from_utf8_lossy(line)
                );
            }
        } else if line.starts_with(b"+QMTRECV:") {
            let f = fields(line);
            if f.len() == 2 {
                if let (Ok(idx), Ok(id)) = (f[0].parse::<usize>(), f[1].parse::<u8>()) {
                    self.note_buffer(idx, id);
                    return;
                }
            }
            match parse_recv_line(line) {
                Some((idx, msgid, topic, payload)) => {
                    log::warn!(
                        "qmt: +QMTRECV without a length field; payload taken between quotes"
                    );
                    self.deliver(idx, msgid, topic, payload);
                }
                None => log::warn!(
                    "qmt: cannot parse {:?}; dropped",
                    String::from_utf8_lossy(line)
                ),
            }
        } else if line.starts_with(b"+QMTSTAT:") {
            let f = int_fields(line);
            if let (Some(&idx), Some(&code)) = (f.first(), f.get(1)) {
                // An operation of this client waiting for its result URC will not get one
                // (ended before the listeners hear of the loss and start the next one); the
                // network open's end is left: the open reports its own failure.
                let i = idx as usize;
                self.results
                    .lost_for(i, |p| waits_for_client(p, idx), &stat_name(code as i32));
                if let Some(c) = self.shared(idx as usize) {
                    c.connection_lost(code as i32, &stat_name(code as i32));
                }
            }
        } else if line.starts_with(b"+QIURC:") {
            let f = fields(line);
            if f.first().map(String::as_str) == Some("pdpdeact") {
                let cid = f.get(1).and_then(|c| c.parse::<u8>().ok());
                let hit: Vec<_> = lock(&self.slots)
                    .iter()
                    .flatten()
                    .filter(|s| cid.is_none_or(|c| c == s.pdp_cid))
                    .map(|s| s.shared.clone())
                    .collect();
                for c in hit {
                    c.connection_lost(CAUSE_PDP_DEACTIVATED, "PDP context deactivated");
                }
            }
        }
    }

    pub(super) fn forget_buffers(&self) {
        for s in lock(&self.slots).iter_mut().flatten() {
            s.pending.clear();
        }
    }

    /// Takes the oldest notice; a notice for the same buffer that arrives while it is
    /// being read (the modem refilled it) queues up again.
    pub(super) fn take_pending(&self, idx: usize) -> Option<u8> {
        lock(&self.slots)
            .get_mut(idx)
            .and_then(|s| s.as_mut())
            .and_then(|s| s.pending.pop_front())
    }

    /// A read failed: the notice goes back to the front, to be tried again.
    pub(super) fn requeue(&self, idx: usize, recv_id: u8) {
        if let Some(Some(s)) = lock(&self.slots).get_mut(idx) {
            if !s.pending.contains(&recv_id) {
                s.pending.push_front(recv_id);
            }
        }
    }
}

/// The URC prefixes [`Context`] registers (beside the boot URC).
pub(super) fn prefixes() -> Vec<&'static [u8]> {
    let mut prefixes = vec![&b"+QMTRECV:"[..], b"+QMTSTAT:", b"+QIURC: \"pdpdeact\""];
    prefixes.extend(RESULT_PREFIXES);
    prefixes
}

impl UrcListener for Router {
    fn on_frame(&self, frame: &Frame) {
        match frame {
            Frame::Raw { header, data } => match parse_recv_header(header) {
                Some((idx, msgid, topic)) => self.deliver(idx, msgid, topic, data.clone()),
                None => log::warn!(
                    "qmt: cannot parse {:?}; message dropped",
                    String::from_utf8_lossy(header)
                ),
            },
            Frame::Line(line) => self.on_line(line),
            _ => {}
        }
    }

    fn all_lost(&self, cause: i32, reason: &str) {
        let all: Vec<_> = lock(&self.slots)
            .iter()
            .flatten()
            .map(|s| s.shared.clone())
            .collect();
        for c in all {
            c.connection_lost(cause, reason);
        }
    }

    /// Buffer notices and result waits are gone with the old session.
    fn forget_session(&self) {
        self.forget_buffers();
        self.results.restarted();
    }

    fn end_waits(&self, reason: &str) {
        self.results.port_lost(reason);
    }
}

/// The router of `clients` (position = client index, all on PDP context 1; buffer-mode
/// notices are queued, not read) detached from any engine, routing as [`Context`]'s
/// handlers do. For the fuzz targets and the framing property tests (`modemqtt::fuzzing`).
#[doc(hidden)]
pub fn urc_router(clients: &[Arc<ClientShared>]) -> UrcRouter {
    let router = Router {
        results: Results::default(),
        slots: Mutex::new(
            clients
                .iter()
                .map(|c| {
                    Some(Slot {
                        shared: c.clone(),
                        pdp_cid: 1,
                        pending: VecDeque::new(),
                        wake: None,
                    })
                })
                .collect(),
        ),
    };
    detached_router(router, &prefixes())
}

pub fn raw_rules() -> Vec<RawRule> {
    // +QMTRECV: <idx>,<msgID>,"<topic>",<payload_len>,"<payload>"
    vec![RawRule::Inline {
        prefix: b"+QMTRECV:".to_vec(),
        len_field: 3,
    }]
}
