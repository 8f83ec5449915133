//! What the dialects share in setting up on an engine.

use std::sync::Arc;

use crate::at::Frame;
use crate::engine::{Engine, BOOT_URC};
use crate::error::Error;

/// Registers `on_frame` for the URCs that start with one of `prefixes`, `restarted` for the
/// modem's boot URC and `port_lost` for the loss of the port. Returns the handler ids, for
/// `Engine::remove_handler` when the dialect goes.
pub(crate) fn add_handlers(
    engine: &Engine,
    prefixes: &[&[u8]],
    on_frame: impl Fn(&Frame) + Send + Sync + 'static,
    restarted: impl Fn() + Send + Sync + 'static,
    port_lost: impl Fn(&str) + Send + Sync + 'static,
) -> Vec<u64> {
    let on_frame: Arc<dyn Fn(&Frame) + Send + Sync> = Arc::new(on_frame);
    let mut ids: Vec<u64> = prefixes
        .iter()
        .map(|prefix| engine.add_urc_handler(prefix, on_frame.clone()))
        .collect();
    ids.push(engine.add_urc_handler(BOOT_URC, Arc::new(move |_f: &Frame| restarted())));
    ids.push(engine.on_port_loss(Arc::new(port_lost)));
    ids
}

/// The error for opening a client on an index that already has one open.
pub(crate) fn already_open(index: u8) -> Error {
    Error::invalid(format!(
        "index: client {index} is already open on this modem"
    ))
}

/// Handler ids registered on an engine; dropping this removes them.
pub(crate) struct Handlers {
    engine: Engine,
    ids: Vec<u64>,
}

impl Handlers {
    pub(crate) fn new(engine: &Engine, ids: Vec<u64>) -> Self {
        Self {
            engine: engine.clone(),
            ids,
        }
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        for id in &self.ids {
            self.engine.remove_handler(*id);
        }
    }
}
