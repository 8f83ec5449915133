//! The Alibaba family's [`FamilySpec`]: what the modem, the fuzz targets and the property
//! tests need of it, and the modem-wide state of its one MQTT client.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::{detect_revision, parse_ccrecv, parse_message_fields, urc_router, AliyunMqtt};
use crate::dialect::{
    quoted_payload_line, Family, FamilyClients, FamilyInfo, FamilySpec, MessageRules,
    ProbeExchange, ProfileBy,
};
use crate::engine::{Engine, UrcHandler};
use crate::error::{Error, Result};
use crate::mqtt::{ClientOptions, ClientShared, MqttClient};

// SIMCom's Alibaba-cloud firmware, `AT+CM*` / `AT+CC*`.
crate::family_spec!(FamilySpec {
    info: FamilyInfo::new(Family::Aliyun, "aliyun", &["alibaba"], "AT+CMAUTH=?", None),
    // Messages come in `+CMYIELD: 12,"<topic>","<payload>"` lines, no raw data.
    raw_rules: Vec::new,
    max_clients: 1,
    urc_router: router,
    profile: ProfileBy::Probe(detect_profile),
    qmt_options: false,
    open_clients,
    probes: [
        ProbeExchange::awaiting("AT+CMYIELD=100", None, b"+CMYIELD: 9", b"+CMYIELD: 9"),
        ProbeExchange::awaiting(
            "AT+CMPUB=1,\"a/b\",5",
            Some(b"hello"),
            b"+CMYIELD: 9",
            b"+CMYIELD: 9",
        ),
    ],
    // `+CMYIELD: 12,"topic","payload"` is a plain line; the payload runs to its last quote.
    message_rules: MessageRules::LINE,
    encode_message,
    parse_line,
});

/// The Alibaba clients of one modem: the firmware has one MQTT client.
#[derive(Default)]
pub struct Clients {
    mqtt: Mutex<Weak<AliyunMqtt>>,
}

impl Clients {
    /// The slot of the firmware's one MQTT client (held while opening one).
    pub fn mqtt_slot(&self) -> MutexGuard<'_, Weak<AliyunMqtt>> {
        self.mqtt.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FamilyClients for Clients {
    fn open_mqtt(
        &self,
        _client_id: &str,
        _index: u8,
        _options: ClientOptions,
    ) -> Result<MqttClient> {
        Err(Error::Other(
            "this modem runs SIMCom's Alibaba-cloud firmware (AT+CM*), which connects only to the Alibaba IoT platform: use modem.aliyun_mqtt(product_key, device_name, device_secret)".into(),
        ))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn router(clients: &[Arc<ClientShared>]) -> (Vec<Vec<u8>>, UrcHandler) {
    let one = clients
        .first()
        .cloned()
        .unwrap_or_else(|| ClientShared::new(0, 1));
    urc_router(&one)
}

fn detect_profile(engine: &Engine, timeout: Duration) -> Result<String> {
    Ok(detect_revision(engine, timeout)?.profile().to_string())
}

fn open_clients(_engine: Engine, _profile: &str) -> Result<Arc<dyn FamilyClients>> {
    Ok(Arc::new(Clients::default()))
}

/// One `+CMYIELD: 12` line (topic and payload without CR, LF; topic without `"`).
fn encode_message(_index: u8, topic: &str, payload: &[u8], _part: usize, _msgid: u16) -> Vec<u8> {
    quoted_payload_line(&format!("+CMYIELD: 12,\"{topic}\","), payload)
}

/// The `+CCRECV` (CoAP) and message-field parsers, which the MQTT router does not reach.
fn parse_line(line: &[u8]) {
    if line.starts_with(b"+CCRECV:") {
        let _ = parse_ccrecv(line);
    }
    if let Some(rest) = line.strip_prefix(b"+CMYIELD: 12,") {
        let _ = parse_message_fields(rest);
    }
}
