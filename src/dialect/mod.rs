//! One module per AT command family. Each turns client operations into AT exchanges and
//! URCs into client events, and declares its capabilities.

pub mod aliyun;
pub mod cmqtt;
mod common;
pub mod qmt;

pub use crate::family::Family;
