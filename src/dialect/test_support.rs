//! What the dialects' tests share: the scripted modem's answers, the client's events and
//! what the engine's transcript shows.

use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver};

use crate::engine::memport::ScriptedModem;
use crate::engine::Engine;
use crate::mqtt::{ClientEvent, ConnectOptions, MqttClient, Will};

/// A scripted modem's answer: `parts`, each written as a separate chunk.
pub(crate) fn v(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// The events of `client` from now on.
pub(crate) fn events(client: &MqttClient) -> Receiver<ClientEvent> {
    let (tx, rx) = unbounded();
    client.set_event_sink(Some(Arc::new(move |ev| {
        let _ = tx.send(ev);
    })));
    rx
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
