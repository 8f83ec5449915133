//! The one error type of the core; the Python layer maps each variant to one exception.

use std::time::Duration;

use crate::at::{EncodeError, ErrorCode, FinalResult};

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A bad argument, refused before anything was sent (Python: ValueError).
    #[error("{0}")]
    InvalidArgument(String),
    /// No answer in time (Python: ModemTimeout).
    #[error("{command}: timed out after {:.1} s waiting for {waited_for}", timeout.as_secs_f64())]
    Timeout {
        command: String,
        waited_for: String,
        timeout: Duration,
    },
    /// `ERROR`, `+CME ERROR: n`, `+CMS ERROR: n` (Python: CommandError).
    #[error("{command}: {text}")]
    Command {
        command: String,
        code: Option<ErrorCode>,
        text: String,
    },
    /// A family result code (Python: MqttError).
    #[error("{operation} failed: {name} (code {code})")]
    Mqtt {
        operation: String,
        code: i32,
        name: String,
    },
    /// The port cannot be opened, or failed (Python: PortError).
    #[error("{0}")]
    Port(String),
    /// The modem said something that cannot be parsed where it matters (Python: ProtocolError).
    #[error("{0}")]
    Protocol(String),
    /// An MQTT operation on a client that is not connected: `connect()` was never called,
    /// failed, or `disconnect()` ended it (Python: NotConnectedError).
    #[error("{0}: not connected (call connect() first)")]
    NotConnected(&'static str),
    /// The modem or client was closed (Python: ModemError).
    #[error("{0} is closed")]
    Closed(&'static str),
    /// Anything else from the modem layer (Python: ModemError).
    #[error("{0}")]
    Other(String),
    /// The caller's interrupt check fired while it waited (Python: the pending
    /// KeyboardInterrupt or other exception raised by a signal handler).
    #[error("{0}: interrupted")]
    Interrupted(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::InvalidArgument(e.to_string())
    }
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub fn from_final(command: &str, f: &FinalResult) -> Self {
        let (code, text) = match f {
            FinalResult::CmeError(c) => (Some(c.clone()), format!("+CME ERROR: {}", code_text(c))),
            FinalResult::CmsError(c) => (Some(c.clone()), format!("+CMS ERROR: {}", code_text(c))),
            other => (None, final_text(other).to_string()),
        };
        Error::Command {
            command: command.to_string(),
            code,
            text,
        }
    }
}

pub fn code_text(c: &ErrorCode) -> String {
    match c {
        ErrorCode::Numeric(n) => n.to_string(),
        ErrorCode::Text(t) => t.clone(),
    }
}

pub fn final_text(f: &FinalResult) -> String {
    match f {
        FinalResult::Ok => "OK".into(),
        FinalResult::Error => "ERROR".into(),
        FinalResult::CmeError(c) => format!("+CME ERROR: {}", code_text(c)),
        FinalResult::CmsError(c) => format!("+CMS ERROR: {}", code_text(c)),
        FinalResult::NoCarrier => "NO CARRIER".into(),
        FinalResult::Busy => "BUSY".into(),
        FinalResult::NoAnswer => "NO ANSWER".into(),
        FinalResult::NoDialtone => "NO DIALTONE".into(),
    }
}
