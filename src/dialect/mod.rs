//! One module per AT command family. Each turns client operations into AT exchanges and
//! URCs into client events, and declares its capabilities.
//!
//! What the rest of the crate needs of a family's client side is its [`FamilySpec`]: the
//! modem ([`crate::modem`]), the fuzz targets and the framing property tests reach a family
//! only through it. A new family is its own module here: its `spec.rs` registers its spec in
//! [`SPECS`] and its row in [`crate::family::FAMILY_ROWS`].

pub mod aliyun;
pub mod cmqtt;
mod common;
pub mod espat;
pub mod qmt;
mod results;
pub mod sm;
#[cfg(test)]
mod test_support;
pub mod umqtt;

use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::at::RawRule;
use crate::engine::{Engine, UrcHandler};
use crate::error::{Error, Result};
pub use crate::family::{Family, FamilyInfo, FAMILY_ROWS};
use crate::mqtt::{self, Backend, Capabilities, ClientOptions, ClientShared, MqttClient};
pub use linkme::distributed_slice;

/// The URC prefixes a router takes, and its handler.
pub type UrcRouter = (Vec<Vec<u8>>, UrcHandler);

/// The client side of a modem family: one static table per family (`<family>::SPEC`).
pub struct FamilySpec {
    /// The family's name, aliases and probe; `spec.rs` registers it in
    /// [`crate::family::FAMILY_ROWS`] too.
    pub info: FamilyInfo,
    /// The decoder's rules for lines followed by raw bytes (message payloads).
    pub raw_rules: fn() -> Vec<RawRule>,
    /// The most MQTT clients a profile of the family has.
    pub max_clients: u8,
    /// The URC prefixes and a handler routing them to `clients` (client `i` is
    /// `clients[i]`), detached from any engine: what the fuzz targets and property tests
    /// drive by hand.
    pub urc_router: fn(&[Arc<ClientShared>]) -> UrcRouter,
    /// How the profile (limits table) of a modem is found.
    pub profile: ProfileBy,
    /// Whether the Quectel-only client options are this family's (refused elsewhere).
    pub qmt_options: bool,
    /// The family's clients on one modem (made once per modem, on the first client).
    pub open_clients: fn(Engine, &str) -> Result<Arc<dyn FamilyClients>>,
    /// For the fuzz targets and property tests: a command that waits for a result URC
    /// (or, in a family without result URCs, ends at its final result), without and with
    /// data sent after a `>` prompt.
    pub probes: [ProbeExchange; 2],
    /// For the property tests: what topics and payloads of received messages may hold.
    pub message_rules: MessageRules,
    /// For the property tests: the bytes the modem writes when client `index` receives a
    /// message (`index, topic, payload, part, msgid`: split in parts of `part` bytes where
    /// the family splits; `msgid` where the family numbers messages).
    pub encode_message: fn(u8, &str, &[u8], usize, u16) -> Vec<u8>,
    /// For the fuzz targets: the family's line parsers that no URC router reaches (they
    /// must not panic on any line).
    pub parse_line: fn(&[u8]),
}

/// How a family tells the profile of a modem.
pub enum ProfileBy {
    /// From the model name (`AT+CGMM`).
    Model(fn(&str) -> &'static str),
    /// By asking the firmware (e.g. which commands it has).
    Probe(fn(&Engine, Duration) -> Result<String>),
}

impl FamilySpec {
    pub fn family(&self) -> Family {
        self.info.family
    }

    pub fn raw_rules(&self) -> Vec<RawRule> {
        (self.raw_rules)()
    }

    pub fn max_clients(&self) -> u8 {
        self.max_clients
    }

    pub fn urc_router(&self, clients: &[Arc<ClientShared>]) -> UrcRouter {
        (self.urc_router)(clients)
    }

    /// The profile of the modem behind `engine`; `model` asks it for its model name.
    pub fn detect_profile(
        &self,
        engine: &Engine,
        timeout: Duration,
        model: &dyn Fn() -> Result<String>,
    ) -> Result<String> {
        match self.profile {
            ProfileBy::Model(f) => Ok(f(&model()?).to_string()),
            ProfileBy::Probe(f) => f(engine, timeout),
        }
    }

    /// Checks the client options only some families take (ranges are checked for every
    /// family by [`ClientOptions::check`]).
    pub fn check_options(&self, options: &ClientOptions) -> Result<()> {
        match options.qmt.first_set() {
            Some(name) if !self.qmt_options => Err(Error::invalid(format!(
                "{name}: only on Quectel (QMT) modems, this one is {}",
                self.info.name
            ))),
            _ => Ok(()),
        }
    }

    pub fn open_clients(&self, engine: Engine, profile: &str) -> Result<Arc<dyn FamilyClients>> {
        (self.open_clients)(engine, profile)
    }

    pub fn probe_exchange(&self, with_data: bool) -> ProbeExchange {
        self.probes[usize::from(with_data)]
    }

    pub fn message_rules(&self) -> MessageRules {
        self.message_rules
    }

    pub fn parse_line(&self, line: &[u8]) {
        (self.parse_line)(line)
    }
}

/// For [`FamilySpec::parse_line`] of a family whose lines all go through its router.
pub fn no_line_parsers(_line: &[u8]) {}

/// A command that ends with a result URC, and the URC that ends it successfully; in a
/// family whose commands are synchronous (the answer is the final result itself, no
/// result URC), both are empty (see [`ProbeExchange::synchronous`]).
#[derive(Debug, Clone, Copy)]
pub struct ProbeExchange {
    pub line: &'static str,
    /// Sent after the `>` prompt.
    pub data: Option<&'static [u8]>,
    /// The start of the result URC the command waits for (empty: none).
    pub result_prefix: &'static [u8],
    /// A whole result URC that completes the command (empty: none).
    pub result_ok: &'static [u8],
}

impl ProbeExchange {
    /// A command that waits for a result URC starting `result_prefix`; `result_ok` is the
    /// whole URC of its success.
    pub const fn awaiting(
        line: &'static str,
        data: Option<&'static [u8]>,
        result_prefix: &'static [u8],
        result_ok: &'static [u8],
    ) -> ProbeExchange {
        ProbeExchange {
            line,
            data,
            result_prefix,
            result_ok,
        }
    }

    /// A command of a family without result URCs: it ends at its `OK`.
    pub const fn synchronous(line: &'static str, data: Option<&'static [u8]>) -> ProbeExchange {
        ProbeExchange {
            line,
            data,
            result_prefix: b"",
            result_ok: b"",
        }
    }

    /// Whether the command waits for a result URC after its final result.
    pub fn has_result_urc(&self) -> bool {
        !self.result_prefix.is_empty()
    }
}

/// For a family's `encode_message`: one URC line, `head` and then the payload in quotes
/// (`+SMSUB: "t","<payload>"`).
pub fn quoted_payload_line(head: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + payload.len() + 6);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(head.as_bytes());
    out.push(b'"');
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\"\r\n");
    out
}

/// What received messages may carry in a family's URCs.
#[derive(Debug, Clone, Copy)]
pub struct MessageRules {
    /// Topics may hold `"`, CR and LF (they arrive as counted raw parts).
    pub topic_any_char: bool,
    /// Payloads may hold CR and LF (counted); otherwise the message is a plain line.
    pub payload_line_breaks: bool,
}

impl MessageRules {
    /// Topic and payload both counted: any byte in either.
    pub const COUNTED: MessageRules = MessageRules {
        topic_any_char: true,
        payload_line_breaks: true,
    };
    /// The topic quoted in the line, the payload counted.
    pub const QUOTED_TOPIC: MessageRules = MessageRules {
        topic_any_char: false,
        payload_line_breaks: true,
    };
    /// The message is a plain line.
    pub const LINE: MessageRules = MessageRules {
        topic_any_char: false,
        payload_line_breaks: false,
    };
}

/// A family's clients on one modem.
pub trait FamilyClients: Send + Sync {
    /// Opens MQTT client `index` (nothing is sent yet).
    fn open_mqtt(&self, client_id: &str, index: u8, options: ClientOptions) -> Result<MqttClient>;

    /// For a family's own API on the modem (e.g. the Alibaba client).
    fn as_any(&self) -> &dyn Any;
}

/// What [`ClientContext::open_client`] is asked to open.
pub struct OpenRequest<'a> {
    pub client_id: &'a str,
    pub index: u8,
    pub options: &'a ClientOptions,
}

impl<'a> OpenRequest<'a> {
    /// Checks the client index and id against `caps` and the options; returns the client
    /// id, index and options.
    pub fn check(self, caps: &Capabilities) -> Result<(&'a str, u8, &'a ClientOptions)> {
        mqtt::check_client(caps, self.index, self.client_id)?;
        self.options.check()?;
        Ok((self.client_id, self.index, self.options))
    }
}

/// A client reserved by [`ClientContext::open_client`], with its shared state.
pub type Opened<C> = Result<(Arc<C>, Arc<ClientShared>)>;

/// A family's modem-wide state that opens MQTT clients (one per client index).
pub trait ClientContext: Send + Sync + 'static {
    type Client: Backend + 'static;

    /// Reserves client `index` after checking the arguments; nothing is sent yet.
    fn open_client(
        self: &Arc<Self>,
        client_id: &str,
        index: u8,
        options: &ClientOptions,
    ) -> Opened<Self::Client> {
        self.reserve_client(OpenRequest {
            client_id,
            index,
            options,
        })
    }

    /// The family's modem-wide state on `engine` for `profile`.
    fn new(engine: Engine, profile: &str) -> Result<Arc<Self>>;

    /// What `open_client` does on this family (`OpenRequest::check` first).
    fn reserve_client(self: &Arc<Self>, req: OpenRequest<'_>) -> Opened<Self::Client>;
}

/// A family's `open_clients` where its modem-wide state is the [`ClientContext`] `C`.
pub fn open_context_clients<C: ClientContext>(
    engine: Engine,
    profile: &str,
) -> Result<Arc<dyn FamilyClients>> {
    Ok(Arc::new(ContextClients(C::new(engine, profile)?)))
}

/// The clients of a family whose modem-wide state is a [`ClientContext`].
pub struct ContextClients<C>(pub Arc<C>);

impl<C: ClientContext> FamilyClients for ContextClients<C> {
    fn open_mqtt(&self, client_id: &str, index: u8, options: ClientOptions) -> Result<MqttClient> {
        let (client, shared) = self.0.open_client(client_id, index, &options)?;
        Ok(MqttClient::new(client, shared, options))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Declares a family's spec, `pub static SPEC: FamilySpec`, and registers it: in [`SPECS`],
/// and its `info` as the family's row in [`FAMILY_ROWS`] (for the layers below the
/// dialects). The family's `spec.rs` says `crate::family_spec!(FamilySpec { ... });`.
#[macro_export]
#[doc(hidden)]
macro_rules! family_spec {
    ($spec:expr) => {
        /// The family's spec (see [`FamilySpec`]).
        #[$crate::dialect::distributed_slice($crate::dialect::SPECS)]
        pub static SPEC: $crate::dialect::FamilySpec = $spec;

        #[$crate::dialect::distributed_slice($crate::dialect::FAMILY_ROWS)]
        static ROW: &$crate::dialect::FamilyInfo = &SPEC.info;
    };
}

/// Every family's client side, each registered by the family's own `spec.rs` with
/// [`family_spec!`](crate::family_spec).
#[distributed_slice]
pub static SPECS: [FamilySpec];

/// How `Modem` sets up and identifies a modem of a family that is no cellular 3GPP modem
/// (no `AT+CGMI`/`AT+CGMM`/`AT+CGSN`/`AT+CMEE`/`AT+CSQ`): such a family registers one in
/// [`MODEM_PATHS`] from its own `spec.rs`; a family without one keeps the cellular path.
pub struct ModemPath {
    pub family: Family,
    /// A line that means the modem restarted, besides `RDY`.
    pub boot_line: &'static [u8],
    /// Set-up commands run after `ATE0` in place of `AT+CMEE=1` (again after a restart).
    pub setup: &'static [&'static str],
    /// Manufacturer, model, revision and serial number, in place of `AT+CGMI`,
    /// `AT+CGMM`, `AT+CGMR` and `AT+CGSN`.
    pub identity: fn(&Engine, Duration) -> Result<[String; 4]>,
    /// The signal strength in dBm, in place of `AT+CSQ`.
    pub signal_dbm: fn(&Engine, Duration) -> Result<i32>,
    /// Adjusts a command typed by the user (`Modem::command`) to the family's answer
    /// shapes (e.g. `OK` before the `>` prompt).
    pub raw_command: fn(&str, &mut crate::at::session::Command),
}

/// The families' [`ModemPath`]s, each registered with `#[distributed_slice(MODEM_PATHS)]`.
#[distributed_slice]
pub static MODEM_PATHS: [ModemPath];

/// The set-up and identity path of `family`, if it is not the cellular one.
pub fn modem_path(family: Family) -> Option<&'static ModemPath> {
    MODEM_PATHS.iter().find(|p| p.family == family)
}

/// Every family's client side, in probe order (the order of [`Family`]'s variants).
pub fn specs() -> &'static [&'static FamilySpec] {
    static SORTED: OnceLock<Vec<&'static FamilySpec>> = OnceLock::new();
    SORTED.get_or_init(|| crate::family::in_probe_order(SPECS.iter(), |s| Some(s.family())))
}

/// The client side of `family`.
pub fn spec(family: Family) -> &'static FamilySpec {
    // Every family has a spec (checked by `every_family_has_a_spec`).
    specs()
        .iter()
        .copied()
        .find(|s| s.family() == family)
        .unwrap_or(specs()[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_a_spec() {
        for f in Family::all() {
            assert_eq!(specs().iter().filter(|s| s.family() == f).count(), 1);
            assert_eq!(spec(f).family(), f);
        }
    }

    #[test]
    fn quectel_options_only_on_the_family_that_takes_them() {
        let mut o = ClientOptions::default();
        o.qmt.retries = Some(3);
        for f in Family::all() {
            let r = spec(f).check_options(&o);
            assert_eq!(r.is_ok(), spec(f).qmt_options, "{f:?}");
            if let Err(e) = r {
                assert!(e.to_string().starts_with("retries: only on Quectel"), "{e}");
            }
        }
        assert!(specs().iter().any(|s| s.qmt_options));
    }

    #[test]
    fn probes_wait_for_their_own_result() {
        for s in specs() {
            for with_data in [false, true] {
                let p = s.probe_exchange(with_data);
                assert!(p.result_ok.starts_with(p.result_prefix), "{:?}", s.family());
                assert_eq!(p.data.is_some(), with_data, "{:?}", s.family());
            }
        }
    }
}
