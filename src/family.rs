//! The modem families modemqtt knows: a leaf module every layer (client dialects, the
//! virtual modem, the Python face) names a family through. What a family is called, how it
//! is recognised and which makers ship it is one row of [`FAMILY_ROWS`], registered by the family's own client module; the client side of a
//! family is its `dialect::FamilySpec`.

use std::sync::OnceLock;

use linkme::distributed_slice;

use crate::error::{Error, Result};

/// The command families modemqtt drives.
/// The order of the variants is the order in which `Modem` probes for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// SIMCom `AT+CMQTT*` (A7600, SIM7600, SIM7028).
    Cmqtt,
    /// Quectel `AT+QMT*` (EC20/EC21/EC25, EG91/EG95, EM05, BG96/BG95).
    Qmt,
    /// SIMCom Alibaba-cloud firmware: `AT+CM*` MQTT and `AT+CC*` CoAP (SIM7600, SIM7000).
    Aliyun,
    /// SIMCom `AT+SM*` (SIM7080 / SIM7070 / SIM7090, SIM7000 on some firmware).
    Sm,
    /// u-blox `AT+UMQTT` / `AT+UMQTTC`, new syntax (SARA-R5, SARA-R422, LARA-R6).
    Umqtt,
    /// Espressif ESP-AT `AT+MQTT*` (ESP32-family Wi-Fi chips as network co-processors).
    EspAt,
}

/// One family's names and how a firmware is recognised as speaking it.
#[derive(Debug)]
pub struct FamilyInfo {
    pub family: Family,
    /// The name modemqtt reports (`Modem.dialect`, `info()`).
    pub name: &'static str,
    /// Other names accepted where a family is chosen.
    pub aliases: &'static [&'static str],
    /// The test command whose `OK` shows the firmware has this family.
    pub probe: &'static str,
    /// A maker (`AT+CGMI`, lower case) whose modems are probed for this family first.
    pub maker: Option<&'static str>,
}

impl FamilyInfo {
    /// A row: the family, its name, other names, probe command and the maker probed first.
    pub const fn new(
        family: Family,
        name: &'static str,
        aliases: &'static [&'static str],
        probe: &'static str,
        maker: Option<&'static str>,
    ) -> FamilyInfo {
        FamilyInfo {
            family,
            name,
            aliases,
            probe,
            maker,
        }
    }
}

/// Every family's row, each registered by the family's client module
/// (`dialect/<family>/spec.rs`, the `info` of its `FamilySpec`) with
/// `#[distributed_slice(FAMILY_ROWS)]`.
#[distributed_slice]
pub static FAMILY_ROWS: [&'static FamilyInfo];

/// Every family's row, in the order they are probed: the order of [`Family`]'s variants.
pub fn families() -> &'static [&'static FamilyInfo] {
    static SORTED: OnceLock<Vec<&'static FamilyInfo>> = OnceLock::new();
    SORTED.get_or_init(|| in_probe_order(FAMILY_ROWS.iter().copied(), |i| Some(i.family)))
}

/// What the families registered (`items`) in probe order, `family` telling whose each is.
pub fn in_probe_order<T: ?Sized>(
    items: impl IntoIterator<Item = &'static T>,
    family: impl Fn(&T) -> Option<Family>,
) -> Vec<&'static T> {
    let mut all: Vec<&'static T> = items.into_iter().collect();
    all.sort_by_key(|t| family(t));
    all
}

impl Family {
    /// This family's row of [`FAMILY_ROWS`] (every variant has one: checked by the tests).
    pub fn info(self) -> Option<&'static FamilyInfo> {
        families().iter().copied().find(|i| i.family == self)
    }

    pub fn name(self) -> &'static str {
        self.info().map_or("unregistered", |i| i.name)
    }

    /// A family by name or alias (any case); `"auto"` is `None` (detect it).
    pub fn parse(name: &str) -> Result<Option<Family>> {
        let name = name.to_ascii_lowercase();
        if name == "auto" {
            return Ok(None);
        }
        families()
            .iter()
            .find(|i| i.name == name || i.aliases.contains(&name.as_str()))
            .map(|i| Some(i.family))
            .ok_or_else(|| {
                let names: Vec<String> =
                    families().iter().map(|i| format!("{:?}", i.name)).collect();
                Error::invalid(format!(
                    "dialect: unknown dialect {name:?} (use \"auto\", {})",
                    or_list(&names)
                ))
            })
    }

    /// The test command whose `OK` shows the firmware has this family.
    pub fn probe_command(self) -> &'static str {
        self.info().map_or("", |i| i.probe)
    }

    /// Every registered family, in probe order.
    pub fn all() -> Vec<Family> {
        families().iter().map(|i| i.family).collect()
    }
}

/// `a, b or c`.
pub fn or_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_one_row_and_names_parse() {
        assert_eq!(
            Family::all(),
            [
                Family::Cmqtt,
                Family::Qmt,
                Family::Aliyun,
                Family::Sm,
                Family::Umqtt,
                Family::EspAt
            ],
            "one row per family, in probe order"
        );
        for f in Family::all() {
            assert_eq!(families().iter().filter(|i| i.family == f).count(), 1);
            assert_eq!(Family::parse(f.name()).unwrap(), Some(f));
            for a in f.info().map_or(&[][..], |i| i.aliases) {
                assert_eq!(Family::parse(&a.to_ascii_uppercase()).unwrap(), Some(f));
            }
        }
        assert_eq!(Family::parse("auto").unwrap(), None);
        let e = Family::parse("nope").unwrap_err().to_string();
        assert!(
            e.contains("\"cmqtt\", \"qmt\", \"aliyun\", \"sm\", \"umqtt\" or \"espat\""),
            "{e}"
        );
    }
}
