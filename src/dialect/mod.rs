//! One module per AT command family. Each turns client operations into AT exchanges and
//! URCs into client events, and declares its capabilities.
//!
//! What the rest of the crate needs of a family's client side is its [`FamilySpec`]: the
//! modem ([`crate::modem`]), the fuzz targets and the framing property tests reach a family
//! only through it. A new family is its own module here plus one row in [`SPECS`].

pub mod aliyun;
pub mod cmqtt;
mod common;
pub mod qmt;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::at::RawRule;
use crate::engine::{Engine, UrcHandler};
use crate::error::{Error, Result};
pub use crate::family::Family;
use crate::mqtt::{Backend, ClientOptions, ClientShared, MqttClient};

/// The client side of a modem family.
pub trait FamilySpec: Sync {
    fn family(&self) -> Family;

    /// The decoder's rules for lines followed by raw bytes (message payloads).
    fn raw_rules(&self) -> Vec<RawRule>;

    /// The most MQTT clients a profile of the family has.
    fn max_clients(&self) -> u8;

    /// The URC prefixes and a handler routing them to `clients` (client `i` is
    /// `clients[i]`), detached from any engine: what the fuzz targets and property tests
    /// drive by hand.
    fn urc_router(&self, clients: &[Arc<ClientShared>]) -> (Vec<Vec<u8>>, UrcHandler);

    /// The profile of a modem of model `model` (`AT+CGMM`), for families that tell their
    /// profiles apart by model.
    fn profile_for_model(&self, _model: &str) -> Option<&'static str> {
        None
    }

    /// The profile (limits table) of the modem behind `engine`; `model` asks the modem for
    /// its model name (`AT+CGMM`). By default: [`FamilySpec::profile_for_model`].
    fn detect_profile(
        &self,
        _engine: &Engine,
        _timeout: Duration,
        model: &dyn Fn() -> Result<String>,
    ) -> Result<String> {
        let model = model()?;
        self.profile_for_model(&model)
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Other(format!(
                    "no {} profile for the model {model:?}",
                    self.family().name()
                ))
            })
    }

    /// Checks the client options only this family takes (ranges are checked for every
    /// family by [`ClientOptions::check`]). By default the Quectel-only options are refused.
    fn check_options(&self, options: &ClientOptions) -> Result<()> {
        match options.qmt.first_set() {
            Some(name) => Err(Error::invalid(format!(
                "{name}: only on Quectel (QMT) modems, this one is {}",
                self.family().name()
            ))),
            None => Ok(()),
        }
    }

    /// The family's clients on one modem (created once per modem, on the first client).
    fn open_clients(&self, engine: Engine, profile: &str) -> Result<Arc<dyn FamilyClients>>;

    /// For the fuzz targets and property tests: a command that waits for a result URC (and,
    /// when `with_data`, sends data after a `>` prompt).
    fn probe_exchange(&self, with_data: bool) -> ProbeExchange;

    /// For the property tests: what topics and payloads of received messages may hold.
    fn message_rules(&self) -> MessageRules;

    /// For the property tests: the bytes the modem writes when client `index` receives a
    /// message (split in parts of `part` bytes where the family splits; `msgid` where the
    /// family numbers messages).
    fn encode_message(
        &self,
        index: u8,
        topic: &str,
        payload: &[u8],
        part: usize,
        msgid: u16,
    ) -> Vec<u8>;

    /// For the fuzz targets: runs the family's line parsers that no URC router reaches on
    /// `line` (they must not panic).
    fn parse_line(&self, _line: &[u8]) {}
}

/// A command that ends with a result URC, and the URC that ends it successfully.
#[derive(Debug, Clone, Copy)]
pub struct ProbeExchange {
    pub line: &'static str,
    /// Sent after the `>` prompt.
    pub data: Option<&'static [u8]>,
    /// The start of the result URC the command waits for.
    pub result_prefix: &'static [u8],
    /// A whole result URC that completes the command.
    pub result_ok: &'static [u8],
}

/// What received messages may carry in a family's URCs.
#[derive(Debug, Clone, Copy)]
pub struct MessageRules {
    /// Topics may hold `"`, CR and LF (they arrive as counted raw parts).
    pub topic_any_char: bool,
    /// Payloads may hold CR and LF (counted); otherwise the message is a plain line.
    pub payload_line_breaks: bool,
}

/// A family's clients on one modem.
pub trait FamilyClients: Send + Sync {
    /// Opens MQTT client `index` (nothing is sent yet).
    fn open_mqtt(&self, client_id: &str, index: u8, options: ClientOptions) -> Result<MqttClient>;

    /// For a family's own API on the modem (e.g. the Alibaba client).
    fn as_any(&self) -> &dyn Any;
}

/// A family's modem-wide state that opens MQTT clients (one per client index).
pub trait ClientContext: Send + Sync + 'static {
    /// Reserves client `index` after checking the arguments; nothing is sent yet.
    fn open_backend(
        self: &Arc<Self>,
        client_id: &str,
        index: u8,
        options: &ClientOptions,
    ) -> Result<(Arc<dyn Backend>, Arc<ClientShared>)>;
}

/// The clients of a family whose modem-wide state is a [`ClientContext`].
pub struct ContextClients<C>(pub Arc<C>);

impl<C: ClientContext> FamilyClients for ContextClients<C> {
    fn open_mqtt(&self, client_id: &str, index: u8, options: ClientOptions) -> Result<MqttClient> {
        let (backend, shared) = self.0.open_backend(client_id, index, &options)?;
        Ok(MqttClient::new(backend, shared, options))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Every family's client side.
pub static SPECS: [&dyn FamilySpec; 3] = [&cmqtt::Spec, &qmt::Spec, &aliyun::Spec];

/// The client side of `family`.
pub fn spec(family: Family) -> &'static dyn FamilySpec {
    // Every family has a spec (checked by `every_family_has_a_spec`).
    SPECS
        .iter()
        .copied()
        .find(|s| s.family() == family)
        .unwrap_or(SPECS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_a_spec() {
        for f in Family::all() {
            assert_eq!(SPECS.iter().filter(|s| s.family() == f).count(), 1);
            assert_eq!(spec(f).family(), f);
        }
    }
}
