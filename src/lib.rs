//! modemqtt: MQTT (and Alibaba-cloud CoAP) through the stacks built into cellular modems,
//! driven by their AT command sets over a serial port.
//!
//! Layers, from the bottom: [`at`] (sans-IO codec and command session), [`port`]
//! (transports), [`engine`] (reader thread and command executor), [`dialect`] (one module
//! per AT command family), [`mqtt`] (the family-independent client), [`modem`]; beside
//! them [`sim`] (the virtual modem) and [`broker`] (the embedded broker).

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
pub mod waits;

pub use error::{Error, Result};

#[cfg(feature = "python")]
pub mod py;
