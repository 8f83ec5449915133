//! modemqtt: MQTT (and Alibaba-cloud CoAP) through the stacks built into cellular modems,
//! driven by their AT command sets over a serial port.
//!
//! Layers, from the bottom: [`at`] (sans-IO codec and command session), [`port`]
//! (transports), [`engine`] (reader thread and command executor), [`mqtt`] (the
//! family-independent client), [`dialect`] (one module per AT command family, each with its
//! [`dialect::FamilySpec`]), [`modem`]; beside them [`sim`] (the virtual modem) and
//! [`broker`] (the embedded broker). Leaves: [`family`], [`transcript`], [`error`], [`waits`].

pub mod at;
pub mod broker;
pub mod dialect;
pub mod engine;
pub mod error;
pub mod family;
#[doc(hidden)]
pub mod fuzzing;
pub mod modem;
pub mod mqtt;
pub mod port;
pub mod sim;
pub mod transcript;
pub mod waits;

pub use error::{Error, Result};

/// Registers what lives above the port layer but is opened through a port URL: `sim://`
/// (the virtual modem, `sim://replay:<file>` a replayed recording). [`modem::Modem::open`]
/// calls it; calling it again does nothing.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| port::register_scheme("sim", "sim://a7600", open_sim));
}

fn open_sim(profile: &str) -> Result<port::OpenedPort> {
    if let Some(path) = profile.strip_prefix("replay:") {
        let rm = sim::ReplayModem::start(std::path::Path::new(path))
            .map_err(|e| Error::Port(format!("sim://{profile}: {e}")))?;
        let mut opened = port::open_serial(rm.port(), 115_200)?;
        opened.name = format!("sim://{profile} ({})", rm.port());
        opened.guard = Some(Box::new(rm));
        return Ok(opened);
    }
    let (name, timing) = sim_options(profile)?;
    let vm = sim::VirtualModem::start(sim::SimConfig {
        profile: name.to_string(),
        broker_url: None,
        part_size: None,
        hosts: Vec::new(),
        timing,
    })
    .map_err(|e| Error::Port(format!("sim://{profile}: {e}")))?;
    let mut opened = port::open_serial(vm.port(), 115_200)?;
    opened.name = format!("sim://{profile} ({})", vm.port());
    opened.guard = Some(Box::new(vm));
    Ok(opened)
}

/// `sim://PROFILE[?timing=PRESET]`: the profile and its network timing ("fast" when not given).
fn sim_options(spec: &str) -> Result<(&str, sim::NetTiming)> {
    let Some((name, query)) = spec.split_once('?') else {
        return Ok((spec, sim::NetTiming::FAST));
    };
    let mut timing = sim::NetTiming::FAST;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("timing", preset)) => {
                timing = sim::NetTiming::preset(preset, name)
                    .map_err(|e| Error::invalid(format!("port: sim://{spec}: {e}")))?;
            }
            _ => {
                return Err(Error::invalid(format!(
                    "port: sim://{spec}: unknown option {pair:?} (the only option is timing={})",
                    sim::TIMING_PRESETS.join("|")
                )))
            }
        }
    }
    Ok((name, timing))
}

#[cfg(feature = "python")]
pub mod py;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_urls_take_a_timing() {
        let (name, t) = sim_options("bg96").expect("plain profile");
        assert_eq!((name, t), ("bg96", sim::NetTiming::FAST));
        let (name, t) = sim_options("bg96?timing=realistic").expect("preset");
        assert_eq!(name, "bg96");
        assert_eq!(
            t,
            sim::NetTiming::preset("realistic", "bg96").expect("preset")
        );
        let e = sim_options("bg96?timing=slow").unwrap_err().to_string();
        assert!(e.contains("unknown preset"), "{e}");
        let e = sim_options("bg96?speed=1").unwrap_err().to_string();
        assert!(e.contains("unknown option"), "{e}");
    }
}
