//! The QMT family's [`FamilySpec`]: what the modem, the fuzz targets and the property tests
//! need of it.

use std::sync::Arc;

use super::{profile_for_model, raw_rules, urc_router, Context};
use crate::at::RawRule;
use crate::dialect::{
    ContextClients, Family, FamilyClients, FamilySpec, MessageRules, ProbeExchange,
};
use crate::engine::{Engine, UrcHandler};
use crate::error::Result;
use crate::mqtt::{ClientOptions, ClientShared};

/// Quectel `AT+QMT*`.
pub struct Spec;

impl FamilySpec for Spec {
    fn family(&self) -> Family {
        Family::Qmt
    }

    fn raw_rules(&self) -> Vec<RawRule> {
        raw_rules()
    }

    fn max_clients(&self) -> u8 {
        // The largest profile in `capabilities()`.
        6
    }

    fn urc_router(&self, clients: &[Arc<ClientShared>]) -> (Vec<Vec<u8>>, UrcHandler) {
        urc_router(clients)
    }

    fn profile_for_model(&self, model: &str) -> Option<&'static str> {
        Some(profile_for_model(model))
    }

    /// The Quectel-only options are this family's.
    fn check_options(&self, _options: &ClientOptions) -> Result<()> {
        Ok(())
    }

    fn open_clients(&self, engine: Engine, profile: &str) -> Result<Arc<dyn FamilyClients>> {
        Ok(Arc::new(ContextClients(Context::new(engine, profile)?)))
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
