//! Result URCs that commands which gave up waiting still owe.

use std::time::Instant;

use super::{Expect, OWED_FOR};

/// Result URCs still owed by commands that gave up waiting for them (see [`OWED_FOR`]): a
/// line matching one is that command's late answer, not the answer of a later command with
/// the same prefix. The session keeps one for the commands that hold the AT channel until
/// their result; the dialects that await results outside the channel keep their own.
#[derive(Debug, Default)]
pub struct Owed(Vec<(Expect, Instant)>);

impl Owed {
    /// Remembers that `expect` may still be answered, until [`OWED_FOR`] from `now`.
    pub fn owe(&mut self, now: Instant, expect: Expect) {
        self.0.push((expect, now + OWED_FOR));
    }

    /// Takes `line` as the late answer of a command that gave up, if one still owes a line
    /// like it; expired debts are dropped on the way.
    pub fn settle(&mut self, now: Instant, line: &[u8]) -> bool {
        self.0.retain(|(_, until)| now < *until);
        match self.0.iter().position(|(e, _)| e.matches(line)) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }

    /// Nothing is owed any more (the modem restarted).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
