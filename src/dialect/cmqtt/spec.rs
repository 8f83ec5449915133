//! The CMQTT family's [`FamilySpec`]: what the modem, the fuzz targets and the property
//! tests need of it.

use std::sync::Arc;

use super::{profile_for_model, raw_rules, urc_router, Context};
use crate::at::RawRule;
use crate::dialect::{
    ContextClients, Family, FamilyClients, FamilySpec, MessageRules, ProbeExchange,
};
use crate::engine::{Engine, UrcHandler};
use crate::error::Result;
use crate::mqtt::ClientShared;

/// SIMCom `AT+CMQTT*`.
pub struct Spec;

impl FamilySpec for Spec {
    fn family(&self) -> Family {
        Family::Cmqtt
    }

    fn raw_rules(&self) -> Vec<RawRule> {
        raw_rules()
    }

    fn max_clients(&self) -> u8 {
        // The largest profile in `capabilities()` (SIM7028 has one).
        2
    }

    fn urc_router(&self, clients: &[Arc<ClientShared>]) -> (Vec<Vec<u8>>, UrcHandler) {
        urc_router(clients)
    }

    fn profile_for_model(&self, model: &str) -> Option<&'static str> {
        Some(profile_for_model(model))
    }

    fn open_clients(&self, engine: Engine, profile: &str) -> Result<Arc<dyn FamilyClients>> {
        Ok(Arc::new(ContextClients(Context::new(engine, profile)?)))
    }

    fn probe_exchange(&self, with_data: bool) -> ProbeExchange {
        if with_data {
            ProbeExchange {
                line: "AT+CMQTTSUB=0,3,1",
                data: Some(b"a/b"),
                result_prefix: b"+CMQTTSUB: 0,",
                result_ok: b"+CMQTTSUB: 0,0",
            }
        } else {
            ProbeExchange {
                line: "AT+CMQTTPUB=0,1,60,0",
                data: None,
                result_prefix: b"+CMQTTPUB: 0,",
                result_ok: b"+CMQTTPUB: 0,0",
            }
        }
    }

    /// Topic and payload arrive as counted raw parts: anything goes.
    fn message_rules(&self) -> MessageRules {
        MessageRules {
            topic_any_char: true,
            payload_line_breaks: true,
        }
    }

    /// `+CMQTTRXSTART`, the topic and payload in `+CMQTTRXTOPIC` / `+CMQTTRXPAYLOAD` parts
    /// of at most `part` bytes, `+CMQTTRXEND`.
    fn encode_message(
        &self,
        index: u8,
        topic: &str,
        payload: &[u8],
        part: usize,
        _msgid: u16,
    ) -> Vec<u8> {
        let part = part.max(1);
        let mut out = format!(
            "\r\n+CMQTTRXSTART: {index},{},{}\r\n",
            topic.len(),
            payload.len()
        )
        .into_bytes();
        for piece in topic.as_bytes().chunks(part) {
            out.extend_from_slice(
                format!("\r\n+CMQTTRXTOPIC: {index},{}\r\n", piece.len()).as_bytes(),
            );
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        for piece in payload.chunks(part) {
            out.extend_from_slice(
                format!("\r\n+CMQTTRXPAYLOAD: {index},{}\r\n", piece.len()).as_bytes(),
            );
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("\r\n+CMQTTRXEND: {index}\r\n").as_bytes());
        out
    }
}
