//! What the dialects' tests share: a client opened on a scripted modem, the modem's
//! answers, the client's events and messages, what the modem received and what the
//! engine's transcript shows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};

use crate::dialect::ClientContext;
use crate::engine::memport::{self, ScriptedModem};
use crate::engine::Engine;
use crate::mqtt::{ClientEvent, ClientOptions, ConnectOptions, Message, MqttClient, Will};

/// A scripted modem's answer: `parts`, each written as a separate chunk.
pub(crate) fn v(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Client 0, named `id`, of a `C` family modem of `profile` that answers by `script`.
pub(crate) fn open_scripted<C: ClientContext>(
    script: memport::Script,
    profile: &str,
    id: &str,
    options: ClientOptions,
) -> (MqttClient, ScriptedModem, Engine) {
    let (port, modem) = memport::scripted(script);
    let engine = Engine::start(port);
    let ctx = C::new(engine.clone(), profile).expect("profile");
    let (backend, shared) = ctx.open_client(id, 0, &options).expect("open client");
    (MqttClient::new(backend, shared, options), modem, engine)
}

/// The events of `client` from now on.
pub(crate) fn events(client: &MqttClient) -> Receiver<ClientEvent> {
    let (tx, rx) = unbounded();
    client.set_event_sink(Some(Arc::new(move |ev| {
        let _ = tx.send(ev);
    })));
    rx
}

/// The next message `client` receives (on `topic`, when given), within 5 s.
pub(crate) fn next_message(client: &MqttClient, topic: Option<&str>) -> Message {
    client
        .shared()
        .next_message(topic, Instant::now() + Duration::from_secs(5))
        .expect("a message")
}

/// How the manuals' sample sessions end: `topic` unsubscribed, then disconnect and close.
pub(crate) fn unsubscribe_and_close(client: &MqttClient, topic: &str) {
    client
        .unsubscribe(&[topic.into()], None)
        .expect("unsubscribe");
    client.disconnect(None).expect("disconnect");
    client.close().expect("close");
}

/// `modem` received exactly `expected`, line by line; a mismatch names the first line that
/// differs.
pub(crate) fn assert_sent(modem: &ScriptedModem, expected: &[&str]) {
    let sent = modem.inputs_text();
    let first = sent
        .iter()
        .zip(expected)
        .position(|(s, e)| s != e)
        .unwrap_or(sent.len().min(expected.len()));
    assert_eq!(sent, expected, "the lines sent differ from line {first} on");
}

/// What `modem` receives while `act` runs, line by line.
pub(crate) fn sent_during(modem: &ScriptedModem, act: impl FnOnce()) -> Vec<String> {
    let before = modem.inputs_text().len();
    act();
    modem.inputs_text()[before..].to_vec()
}

/// Everything the engine's transcript holds, as text: what logs and traces would show.
pub(crate) fn transcript_text(engine: &Engine) -> String {
    let bytes: Vec<u8> = engine
        .transcript()
        .into_iter()
        .flat_map(|e| e.bytes)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Connect options for `host`:1883 with a will of `payload` on `topic`, at `qos`, retained
/// or not.
pub(crate) fn with_will(
    host: &str,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
) -> ConnectOptions {
    let mut opts = ConnectOptions::new(host, 1883);
    opts.will = Some(Will {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        retain,
    });
    opts
}
