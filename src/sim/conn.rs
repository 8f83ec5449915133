//! A client's MQTT link as the modem state holds it, and what a link reports: the
//! handle the AT side keeps ([`Link`]), the requests it queued ([`Pending`]) and the
//! events the link thread reports in the family's words ([`LinkEvent`]). The link thread
//! itself is `link`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ClientError, Publish, QoS, SubscribeFilter};

use super::lock;

/// What the AT engine queued, in request order; the link thread matches each
/// entry with the `Outgoing` event of the same kind.
#[derive(Default)]
pub(crate) struct Pending {
    pub pubs: VecDeque<(u8, Duration)>,
    pub subs: VecDeque<Duration>,
    /// One entry per UNSUBSCRIBE packet: (group, packets in the group).
    pub unsubs: VecDeque<(u64, usize, Duration)>,
    /// QMT only, one entry per `pubs` / `subs` / `unsubs` entry: the host's message id
    /// (and for publishes whether `AT+QMTPUBEX` was used), echoed in the result URC.
    pub pub_tags: VecDeque<(u16, bool)>,
    pub sub_tags: VecDeque<u16>,
    pub unsub_tags: VecDeque<u16>,
    /// A link retired after DISCONNECT keeps its kill sender here, so that
    /// it lives until the link thread ends by itself.
    pub retired_kill: Option<flume::Sender<()>>,
    /// Keep-alive pings after CONNACK: `None` always (rumqttc's own), `Some(false)` held
    /// back until set to `Some(true)` (u-blox `AT+UMQTTC=8,1`).
    pub pings: Option<bool>,
}

/// A PUBLISH a virtual modem hands to its link ([`Link::queue_publish`]).
pub(crate) struct OutPublish {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload: Vec<u8>,
    /// The command's answer is complete whatever the QoS (e.g. ESP-AT's text
    /// `AT+MQTTPUB`): no result is reported.
    pub answered: bool,
}

impl OutPublish {
    pub fn new(
        topic: impl Into<String>,
        qos: u8,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) -> OutPublish {
        OutPublish {
            topic: topic.into(),
            qos,
            retain,
            payload: payload.into(),
            answered: false,
        }
    }
}

pub(crate) struct Link {
    pub gen: u64,
    /// The MQTT client id of the link (for its open QoS 2 exchanges).
    pub client_id: String,
    pub client: AsyncClient,
    pub kill: Option<flume::Sender<()>>,
    pub pending: Arc<Mutex<Pending>>,
    pub connected: bool,
    pub disconnecting: bool,
    pub thread: Option<JoinHandle<()>>,
    /// For the read form of AT+CMQTTCONNECT.
    pub info: String,
    /// Topic filters subscribed on this link, in order (for the read form of AT+CMQTTSUB).
    pub subscribed: Vec<String>,
    /// The filters of each SUBSCRIBE sent and not yet answered, oldest first.
    pub sub_waiting: VecDeque<Vec<String>>,
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

    /// The oldest unanswered SUBSCRIBE was answered: its filters count as subscribed (the
    /// read form of AT+CMQTTSUB, AT+SMSUB) when `granted`.
    pub fn sub_settled(&mut self, granted: bool) {
        let Some(names) = self.sub_waiting.pop_front() else {
            return;
        };
        if granted {
            for n in names {
                if !self.subscribed.contains(&n) {
                    self.subscribed.push(n);
                }
            }
        }
    }
}

/// Marks a queued publish whose result the command already reported.
pub(crate) const ANSWERED: u8 = u8::MAX;

/// What happened on a link, reported to the host in the family's words (`+CMQTT...` or
/// `+QMT...`, see `super::qmt::link_event`).
pub(crate) enum LinkEvent<'a> {
    Connected,
    /// The connection failed before CONNACK; the code is the CMQTT `<err>` (2.2.1).
    ConnectFailed(u8),
    Published {
        tag: u16,
        ex: bool,
    },
    PublishTimedOut {
        tag: u16,
        ex: bool,
    },
    Subscribed {
        tag: u16,
        failed: bool,
        granted: Vec<u8>,
    },
    SubscribeTimedOut {
        tag: u16,
    },
    Unsubscribed {
        tag: u16,
    },
    UnsubscribeTimedOut {
        tag: u16,
    },
    Disconnected,
    /// Lost after CONNACK; the code is the CMQTT `+CMQTTCONNLOST` cause.
    Lost(u8),
    Message(&'a Publish),
}

impl Link {
    /// Queues `entry` (and `tag`, if any) on the pending queues `queues` picks, then
    /// `send`s the request; when the client cannot take it, both come off again and the
    /// answer is `false`.
    fn queue_request<E, T>(
        &self,
        queues: fn(&mut Pending) -> (&mut VecDeque<E>, &mut VecDeque<T>),
        entry: E,
        tag: Option<T>,
        send: impl FnOnce(&AsyncClient) -> Result<(), ClientError>,
    ) -> bool {
        let tagged = tag.is_some();
        {
            let mut p = lock(&self.pending);
            let (entries, tags) = queues(&mut p);
            entries.push_back(entry);
            tags.extend(tag);
        }
        if send(&self.client).is_ok() {
            return true;
        }
        let mut p = lock(&self.pending);
        let (entries, tags) = queues(&mut p);
        entries.pop_back();
        if tagged {
            tags.pop_back();
        }
        false
    }

    /// Hands `publish` to the client, with the wait for its result queued first
    /// (`timeout`; a publish with no acknowledgement to wait for, QoS 0 or
    /// [`OutPublish::answered`], is queued as answered: the module reports it sent once
    /// the link has it, not when the link thread next runs) and, for the families that name
    /// each publish in their reports, its `tag`. `false`, with nothing left queued, when the
    /// client cannot take it.
    pub fn queue_publish(
        &self,
        publish: OutPublish,
        timeout: Duration,
        tag: Option<(u16, bool)>,
    ) -> bool {
        let OutPublish {
            topic,
            qos: q,
            retain,
            payload,
            answered,
        } = publish;
        let queued_as = if answered || q == 0 { ANSWERED } else { q };
        self.queue_request(
            |p| (&mut p.pubs, &mut p.pub_tags),
            (queued_as, timeout),
            tag,
            |c| c.try_publish(topic, qos(q), retain, payload),
        )
    }

    /// Sends one SUBSCRIBE for `filters`, with the wait for its SUBACK queued first
    /// (`timeout`) and its `tag` as for [`Link::queue_publish`].
    pub fn queue_subscribe<F: IntoIterator<Item = SubscribeFilter>>(
        &self,
        filters: F,
        timeout: Duration,
        tag: Option<u16>,
    ) -> bool {
        self.queue_request(
            |p| (&mut p.subs, &mut p.sub_tags),
            timeout,
            tag,
            |c| c.try_subscribe_many(filters),
        )
    }

    /// Sends UNSUBSCRIBE for `topic`, one of the `of` that answer together as `group`,
    /// with the wait for its UNSUBACK queued first (`timeout`) and its `tag` as for
    /// [`Link::queue_publish`].
    pub fn queue_unsubscribe<S: Into<String>>(
        &self,
        topic: S,
        (group, of): (u64, usize),
        timeout: Duration,
        tag: Option<u16>,
    ) -> bool {
        self.queue_request(
            |p| (&mut p.unsubs, &mut p.unsub_tags),
            (group, of, timeout),
            tag,
            |c| c.try_unsubscribe(topic),
        )
    }
}

/// The rumqttc QoS of a modem's 0 / 1 / 2.
pub(crate) fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}
