//! Sans-IO AT codec and command session: bytes in, frames and events out.
//! No threads, no I/O, no clock reads: time is passed in.
pub mod codec;
pub mod encode;
pub mod registration;
pub mod secrets;
pub mod session;

pub use codec::{Decoder, ErrorCode, FinalResult, Frame, RawRule};
pub use encode::{build, Arg, CommandLine, EncodeError};
pub use session::{Command, Event, Expect, Outcome, Session};
