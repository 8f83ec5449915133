//! The modem families modemqtt knows: a leaf module every layer (client dialects, the
//! virtual modem, the Python face) names a family through.

use crate::error::{Error, Result};

/// The command families modemqtt drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SIMCom `AT+CMQTT*` (A7600, SIM7600, SIM7028).
    Cmqtt,
    /// Quectel `AT+QMT*` (EC20/EC21/EC25, EG91/EG95, EM05, BG96/BG95).
    Qmt,
    /// SIMCom Alibaba-cloud firmware: `AT+CM*` MQTT and `AT+CC*` CoAP (SIM7600, SIM7000).
    Aliyun,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Cmqtt => "cmqtt",
            Family::Qmt => "qmt",
            Family::Aliyun => "aliyun",
        }
    }

    pub fn parse(name: &str) -> Result<Option<Family>> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Ok(None),
            "cmqtt" | "simcom" => Ok(Some(Family::Cmqtt)),
            "qmt" | "quectel" => Ok(Some(Family::Qmt)),
            "aliyun" | "alibaba" => Ok(Some(Family::Aliyun)),
            other => Err(Error::invalid(format!(
                "dialect: unknown dialect {other:?} (use \"auto\", \"cmqtt\", \"qmt\" or \"aliyun\")"
            ))),
        }
    }

    /// The test command whose `OK` shows the firmware has this family.
    pub fn probe_command(self) -> &'static str {
        match self {
            Family::Cmqtt => "AT+CMQTTACCQ=?",
            Family::Qmt => "AT+QMTCFG=?",
            Family::Aliyun => "AT+CMAUTH=?",
        }
    }

    pub fn all() -> &'static [Family] {
        &[Family::Cmqtt, Family::Qmt, Family::Aliyun]
    }
}
