//! What the dialects share in setting up on an engine.

use std::sync::Arc;

use crate::at::Frame;
use crate::engine::{Engine, BOOT_URC};

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
