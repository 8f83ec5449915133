//! The client options of `AT+CMCFG` / `AT+CMAUTOYIELD` and their checks.

use super::*;

/// How the client receives (chosen at creation).
#[derive(Debug, Clone, PartialEq)]
pub struct AliyunOptions {
    /// `AT+CMPARA="TIMEOUT"` in milliseconds; `None` leaves the modem default.
    pub request_timeout: Option<u32>,
    /// `AT+CMPARA="MQTTVERSION"` (3 = 3.1, 4 = 3.1.1), revision 1 only.
    pub mqtt_version: Option<u8>,
    /// Time between background `AT+CMYIELD` polls.
    pub poll_interval: Duration,
    /// `<timeout>` of each `AT+CMYIELD`, in milliseconds.
    pub yield_timeout: u32,
    /// Use `AT+CMAUTOYIELD` instead of polling: `None` = where the firmware has it.
    pub auto_yield: Option<bool>,
    /// `AT+CMAUTOYIELD=<timercnt>` in seconds.
    pub auto_yield_interval: u32,
}

impl Default for AliyunOptions {
    fn default() -> Self {
        AliyunOptions {
            request_timeout: None,
            mqtt_version: None,
            poll_interval: Duration::from_millis(500),
            yield_timeout: 100,
            auto_yield: None,
            auto_yield_interval: 1,
        }
    }
}

impl AliyunOptions {
    pub fn validate(&self, rev: Revision) -> Result<()> {
        if let Some(t) = self.request_timeout {
            let (lo, hi) = rev.request_timeout_range();
            if !(lo..=hi).contains(&t) {
                return Err(Error::invalid(format!(
                    "request_timeout: {t} ms is out of range (must be {lo} to {hi} on {})",
                    rev.profile()
                )));
            }
        }
        if let Some(v) = self.mqtt_version {
            if rev != Revision::V1 {
                return Err(Error::invalid(format!(
                    "mqtt_version: {} has no MQTTVERSION parameter",
                    rev.profile()
                )));
            }
            if !(3..=4).contains(&v) {
                return Err(Error::invalid(format!(
                    "mqtt_version: {v} is not 3 (3.1) or 4 (3.1.1)"
                )));
            }
        }
        if self.poll_interval < Duration::from_millis(10)
            || self.poll_interval > Duration::from_secs(3600)
        {
            return Err(Error::invalid(
                "poll_interval: must be 0.01 to 3600 seconds",
            ));
        }
        let (lo, hi) = if self.uses_autoyield(rev) {
            AUTOYIELD_TIMEOUT
        } else {
            YIELD_RANGE
        };
        if !(lo..=hi).contains(&self.yield_timeout) {
            return Err(Error::invalid(format!(
                "yield_timeout: {} ms is out of range (must be {lo} to {hi})",
                self.yield_timeout
            )));
        }
        if self.auto_yield == Some(true) && !rev.has_autoyield() {
            return Err(Error::invalid(format!(
                "auto_yield: {} has no AT+CMAUTOYIELD",
                rev.profile()
            )));
        }
        let (lo, hi) = AUTOYIELD_SECS;
        if !(lo..=hi).contains(&self.auto_yield_interval) {
            return Err(Error::invalid(format!(
                "auto_yield_interval: {} s is out of range (must be {lo} to {hi})",
                self.auto_yield_interval
            )));
        }
        Ok(())
    }

    pub(super) fn uses_autoyield(&self, rev: Revision) -> bool {
        self.auto_yield.unwrap_or(rev.has_autoyield()) && rev.has_autoyield()
    }
}
