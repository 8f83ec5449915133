//! The QMT family's [`FamilySpec`]: what the modem, the fuzz targets and the property tests
//! need of it.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::{profile_for_model, raw_rules, urc_router, Context};
use crate::at::RawRule;
use crate::dialect::{Family, FamilyClients, FamilySpec, MessageRules, ProbeExchange};
use crate::engine::{Engine, UrcHandler};
use crate::error::Result;
use crate::mqtt::{ClientOptions, ClientShared, MqttClient};

/// Quectel `AT+QMT*`.
pub struct Spec;

/// The QMT clients of one modem.
struct Clients(Arc<Context>);

impl FamilyClients for Clients {
    fn open_mqtt(&self, client_id: &str, index: u8, options: ClientOptions) -> Result<MqttClient> {
        let (backend, shared) = self.0.open_client(client_id, index, &options)?;
        Ok(MqttClient::new(backend, shared, options))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl FamilySpec for Spec {
    fn family(&self) -> Family {
        Family::Qmt
    }

    fn raw_rules(&self) -> Vec<RawRule> {
        raw_rules()
    }

    fn max_clients(&self) -> u8 {
        // seeds/004: client_idx 0-5 on every profile.
        6
    }

    fn urc_router(&self, clients: &[Arc<ClientShared>]) -> (Vec<Vec<u8>>, UrcHandler) {
        urc_router(clients)
    }

    fn detect_profile(
        &self,
        _engine: &Engine,
        _timeout: Duration,
        model: &dyn Fn() -> Result<String>,
    ) -> Result<String> {
        Ok(profile_for_model(&model()?).to_string())
    }

    /// The Quectel-only options are this family's.
    fn check_options(&self, _options: &ClientOptions) -> Result<()> {
        Ok(())
    }

    fn open_clients(&self, engine: Engine, profile: &str) -> Result<Arc<dyn FamilyClients>> {
        Ok(Arc::new(Clients(Context::new(engine, profile)?)))
    }

    fn probe_exchange(&self, with_data: bool) -> ProbeExchange {
        if with_data {
            ProbeExchange {
                line: "AT+QMTPUBEX=0,1,1,0,\"a/b\",5",
                data: Some(b"hello"),
                result_prefix: b"+QMTPUBEX: 0,1,",
                result_ok: b"+QMTPUBEX: 0,1,0",
            }
        } else {
            ProbeExchange {
                line: "AT+QMTSUB=0,1,\"a/b\",1",
                data: None,
                result_prefix: b"+QMTSUB: 0,1,",
                result_ok: b"+QMTSUB: 0,1,0,1",
            }
        }
    }

    /// The topic is quoted inside the line; the payload is counted.
    fn message_rules(&self) -> MessageRules {
        MessageRules {
            topic_any_char: false,
            payload_line_breaks: true,
        }
    }

    /// One `+QMTRECV` line carrying `msgid` (the topic must have no `"`).
    fn encode_message(
        &self,
        index: u8,
        topic: &str,
        payload: &[u8],
        _part: usize,
        msgid: u16,
    ) -> Vec<u8> {
        let mut out = format!(
            "\r\n+QMTRECV: {index},{msgid},\"{topic}\",{},\"",
            payload.len()
        )
        .into_bytes();
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\"\r\n");
        out
    }
}
