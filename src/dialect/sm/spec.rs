//! The SM family's [`FamilySpec`] and the modem-wide state of its one MQTT client.

use std::sync::{Arc, Mutex};

use super::urc::{Router, PREFIXES};
use super::{capabilities, lock, parse_smsub, profile_for_model, urc_router, SmClient};
use crate::dialect::common::{already_open, Handlers};
use crate::dialect::{
    open_context_clients, quoted_payload_line, ClientContext, Family, FamilyInfo, FamilySpec,
    MessageRules, OpenRequest, Opened, ProbeExchange, ProfileBy,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::mqtt::{Capabilities, ClientShared};

// SIMCom `AT+SM*`. Probe: `AT+SMCONF=?` answers the `+SMCONF: "<TAG>",<range>` table and
// `OK` where the firmware has MQTT (ATM V1.05 §17.2.1); the model name does not tell
// (SIM7000 firmware with and without MQTT exists).
crate::family_spec!(FamilySpec {
    info: FamilyInfo::new(
        Family::Sm,
        "sm",
        &["simcom-sm", "smconn"],
        "AT+SMCONF=?",
        None,
    ),
    // Messages come in `+SMSUB: "<topic>","<message>"` lines, no raw data.
    raw_rules: Vec::new,
    max_clients: 1,
    urc_router,
    profile: ProfileBy::Model(profile_for_model),
    qmt_options: false,
    open_clients: open_context_clients::<Context>,
    // The commands are synchronous: `OK` comes once the broker answered, no result URC.
    probes: [
        ProbeExchange::synchronous("AT+SMSUB=\"a/b\",1", None),
        ProbeExchange::synchronous("AT+SMPUB=\"a/b\",5,1,0", Some(b"hello")),
    ],
    // `+SMSUB: "topic","payload"` is a plain line: topic without `"`, payload without
    // CR and LF (quotes allowed: it runs to the line's last quote).
    message_rules: MessageRules::LINE,
    encode_message,
    parse_line,
});

/// Modem-wide SM state: the one client and the URC handlers.
pub struct Context {
    pub(super) engine: Engine,
    pub(super) caps: Capabilities,
    pub(super) router: Arc<Router>,
    _handlers: Handlers,
}

impl Context {
    pub(super) fn client_closed(&self) {
        *lock(&self.router.client) = None;
    }
}

impl ClientContext for Context {
    type Client = SmClient;

    fn new(engine: Engine, profile: &str) -> Result<Arc<Self>> {
        let caps = capabilities(profile)
            .ok_or_else(|| Error::invalid(format!("profile: unknown SM profile {profile:?}")))?;
        let router = Arc::new(Router {
            client: Mutex::new(None),
        });
        Ok(Arc::new(Context {
            _handlers: Handlers::attach(&engine, Vec::new(), &PREFIXES, &router),
            engine,
            caps,
            router,
        }))
    }

    /// Reserves the one client after checking the arguments; nothing is sent yet.
    fn reserve_client(self: &Arc<Self>, req: OpenRequest<'_>) -> Opened<Self::Client> {
        let (client_id, index, options) = req.check(&self.caps)?;
        let mut slot = lock(&self.router.client);
        if slot.as_ref().is_some_and(|c| !c.is_closed()) {
            return Err(already_open(index));
        }
        let shared = ClientShared::new(index, options.queue_size);
        let client = Arc::new(SmClient::new(
            self.clone(),
            client_id,
            shared.clone(),
            options.publish_timeout,
        ));
        *slot = Some(shared.clone());
        Ok((client, shared))
    }
}

/// One `+SMSUB` line (topic without `"`, CR, LF; payload without CR, LF).
fn encode_message(_index: u8, topic: &str, payload: &[u8], _part: usize, _msgid: u16) -> Vec<u8> {
    quoted_payload_line(&format!("+SMSUB: \"{topic}\","), payload)
}

/// The message parser, also on lines the router would not get.
fn parse_line(line: &[u8]) {
    let _ = parse_smsub(line);
}
