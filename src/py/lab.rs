//! Small helpers for the lab tooling (CLI `probe`, pytest plugin): what the core knows about
//! the command families, so Python needs no list of its own.

use pyo3::prelude::*;

use crate::dialect::Family;

/// The MQTT command families this build drives, as `(name, probe_command)`: a firmware
/// has the family when it answers `OK` to the probe command.
#[pyfunction]
fn dialects() -> Vec<(&'static str, &'static str)> {
    Family::all()
        .iter()
        .map(|f| (f.name(), f.probe_command()))
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dialects, m)?)?;
    // A helper of the CLI and the pytest plugin, not part of the package's API: keep it out
    // of `_core.__all__` (pyo3 lists every added function there).
    let all = m.index()?;
    if all.contains("dialects")? {
        all.del_item(all.index("dialects")?)?;
    }
    Ok(())
}
