//! A bounded record of recent wire traffic, secrets masked, for debugging and test reports.

use std::collections::VecDeque;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Tx,
    Rx,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Tx => "tx",
            Direction::Rx => "rx",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub time: SystemTime,
    pub direction: Direction,
    pub bytes: Vec<u8>,
}

/// Keeps at most `max_bytes` of traffic (whole entries), dropping the oldest first.
#[derive(Debug)]
pub struct Transcript {
    entries: VecDeque<Entry>,
    bytes: usize,
    max_bytes: usize,
    secrets: Vec<Vec<u8>>,
}

pub const DEFAULT_TRANSCRIPT_BYTES: usize = 256 * 1024;

impl Transcript {
    pub fn new(max_bytes: usize) -> Self {
        Transcript {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
            secrets: Vec::new(),
        }
    }

    /// Bytes equal to `secret` are shown as `***` from now on.
    pub fn add_secret(&mut self, secret: &[u8]) {
        if secret.len() >= 3 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_vec());
        }
    }

    pub fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        mask_secrets(bytes, &self.secrets)
    }

    pub fn record(&mut self, direction: Direction, bytes: &[u8]) {
        if self.max_bytes == 0 || bytes.is_empty() {
            return;
        }
        let bytes = self.mask(bytes);
        // Consecutive reads are merged so a long stream does not become many tiny entries.
        if let Some(last) = self.entries.back_mut() {
            if last.direction == direction && last.bytes.len() + bytes.len() <= 4096 {
                self.bytes += bytes.len();
                last.bytes.extend_from_slice(&bytes);
                self.trim();
                return;
            }
        }
        self.bytes += bytes.len();
        self.entries.push_back(Entry {
            time: SystemTime::now(),
            direction,
            bytes,
        });
        self.trim();
    }

    fn trim(&mut self) {
        while self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(e) => self.bytes -= e.bytes.len(),
                None => break,
            }
        }
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.iter().cloned().collect()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

pub fn mask_secrets(bytes: &[u8], secrets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for secret in secrets {
        if secret.is_empty() {
            continue;
        }
        let mut result = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(secret) {
                result.extend_from_slice(b"***");
                i += secret.len();
            } else {
                result.push(out[i]);
                i += 1;
            }
        }
        out = result;
    }
    out
}

/// Renders bytes for a log line: printable ASCII as is, the rest escaped.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_registered_secrets_in_both_directions() {
        let mut t = Transcript::new(1024);
        t.add_secret(b"hunter2");
        t.record(Direction::Tx, b"AT+X=\"user\",\"hunter2\"\r");
        t.record(Direction::Rx, b"+X: \"hunter2\"\r\n");
        let all: Vec<u8> = t.entries().into_iter().flat_map(|e| e.bytes).collect();
        let text = String::from_utf8_lossy(&all);
        assert!(!text.contains("hunter2"));
        assert_eq!(text.matches("***").count(), 2);
    }

    #[test]
    fn bounded_by_bytes() {
        let mut t = Transcript::new(100);
        for i in 0..50u8 {
            let dir = if i % 2 == 0 {
                Direction::Tx
            } else {
                Direction::Rx
            };
            t.record(dir, &[i; 10]);
        }
        let total: usize = t.entries().iter().map(|e| e.bytes.len()).sum();
        assert!(total <= 100);
        assert_eq!(t.entries().last().map(|e| e.bytes[0]), Some(49));
    }

    #[test]
    fn escape_shows_control_bytes() {
        assert_eq!(escape(b"OK\r\n\x00"), "OK\\r\\n\\x00");
    }
}
