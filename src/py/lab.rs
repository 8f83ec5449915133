//! What the core knows that Python would otherwise repeat: the command families (for the CLI
//! `probe` and the pytest plugin) and MQTT topic filter matching (for `modemqtt.aio`).

use pyo3::prelude::*;

use super::errors::value_error;
use super::types::deprecated;
use crate::dialect::Family;
use crate::mqtt::topic;

/// The MQTT command families this build drives, as `(name, probe_command)`: a firmware
/// has the family when it answers `OK` to the probe command.
#[pyfunction]
fn families() -> Vec<(&'static str, &'static str)> {
    Family::all()
        .iter()
        .map(|f| (f.name(), f.probe_command()))
        .collect()
}

/// Deprecated name of `families()`.
#[pyfunction]
fn dialects(py: Python<'_>) -> PyResult<Vec<(&'static str, &'static str)>> {
    deprecated(py, "modemqtt._core.dialects()", "modemqtt._core.families()")?;
    Ok(families())
}

/// Whether `topic` matches the subscription filter `topic_filter` (MQTT 3.1.1 section 4.7:
/// `+` one level, `#` the rest, wildcards first do not match `$` topics). Raises ValueError
/// for a filter or topic MQTT does not allow.
#[pyfunction]
fn topic_matches(topic_filter: &str, topic: &str) -> PyResult<bool> {
    let renamed = |arg: &str, e: crate::error::Error| {
        let text = e.to_string();
        value_error(format!(
            "{arg}: {}",
            text.strip_prefix("topic: ").unwrap_or(&text)
        ))
    };
    topic::validate_filter(topic_filter).map_err(|e| renamed("topic_filter", e))?;
    topic::validate_name(topic).map_err(|e| renamed("topic", e))?;
    Ok(topic::matches(topic_filter, topic))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(families, m)?)?;
    m.add_function(wrap_pyfunction!(dialects, m)?)?;
    m.add_function(wrap_pyfunction!(topic_matches, m)?)?;
    // Helpers of the CLI and the pytest plugin, not part of the package's API: keep them
    // out of `_core.__all__` (pyo3 lists every added function there).
    let all = m.index()?;
    for name in ["families", "dialects"] {
        if all.contains(name)? {
            all.del_item(all.index(name)?)?;
        }
    }
    Ok(())
}
