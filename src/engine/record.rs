//! Recording of a session's wire traffic to a JSON-lines file, for replay on a virtual modem.
//!
//! Format (one JSON object per line, UTF-8):
//!
//! ```text
//! {"modemqtt_recording": 1, "port": "/dev/ttyUSB2", "started": 1700000000.123}
//! {"t": 1700000000.125, "dir": "tx", "data": "AT\r"}
//! {"t": 1700000000.131, "dir": "rx", "data": "AT\r\r\nOK\r\n"}
//! ```
//!
//! `t` is the wall-clock time (seconds since the Unix epoch) the chunk was written or read;
//! `dir` is `tx` (host to modem) or `rx` (modem to host); `data` holds the bytes as a JSON
//! string in which each byte is one code point U+0000..U+00FF (Latin-1), so any binary
//! payload survives and text stays readable: `json.loads(line)["data"].encode("latin-1")`.
//! Secrets registered with the engine are written as `***`, secret data blocks as
//! `<N secret bytes>` (the same masking as the transcript).
//!
//! The engine's reader thread must never wait on file I/O: chunks go through an unbounded
//! channel to a writer thread, which flushes after each batch so a crash loses little.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::transcript::Direction;

/// The value of the header's `modemqtt_recording` field.
pub const FORMAT_VERSION: u32 = 1;

enum Msg {
    Chunk {
        time: SystemTime,
        direction: Direction,
        bytes: Vec<u8>,
    },
    Stop,
}

/// Appends tx/rx chunks to a JSON-lines file from a background thread.
pub struct Recorder {
    tx: Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    error: Arc<Mutex<Option<String>>>,
    path: String,
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Bytes as a JSON string literal (with its quotes), one code point per byte.
pub fn json_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\u{b:04x}")),
        }
    }
    s.push('"');
    s
}

/// One line of the file, without the newline.
pub fn entry_line(time: SystemTime, direction: Direction, bytes: &[u8]) -> String {
    format!(
        "{{\"t\": {:.6}, \"dir\": \"{}\", \"data\": {}}}",
        unix_seconds(time),
        direction.as_str(),
        json_bytes(bytes)
    )
}

impl Recorder {
    /// Creates (truncates) `path` and writes the header line. `port` names the port.
    pub fn create(path: &Path, port: &str) -> std::io::Result<Recorder> {
        let file = File::create(path)?;
        let mut out = BufWriter::new(file);
        writeln!(
            out,
            "{{\"modemqtt_recording\": {FORMAT_VERSION}, \"port\": {}, \"started\": {:.6}}}",
            json_bytes(port.as_bytes()),
            unix_seconds(SystemTime::now())
        )?;
        out.flush()?;
        let (tx, rx) = unbounded();
        let error = Arc::new(Mutex::new(None));
        let err2 = error.clone();
        let shown = path.display().to_string();
        let name = shown.clone();
        let thread = std::thread::Builder::new()
            .name("modemqtt-record".into())
            .spawn(move || writer_loop(out, rx, err2, name))?;
        Ok(Recorder {
            tx,
            thread: Mutex::new(Some(thread)),
            error,
            path: shown,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Queues one chunk (already masked). Never blocks.
    pub fn record(&self, direction: Direction, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let _ = self.tx.send(Msg::Chunk {
            time: SystemTime::now(),
            direction,
            bytes: bytes.to_vec(),
        });
    }

    /// The first write error, if writing the file failed.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes what is queued, closes the file and stops the thread. Idempotent.
    pub fn close(&self) {
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = self.tx.send(Msg::Stop);
            let _ = h.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(
    mut out: BufWriter<File>,
    rx: Receiver<Msg>,
    error: Arc<Mutex<Option<String>>>,
    path: String,
) {
    let mut failed = false;
    let fail = |e: std::io::Error, failed: &mut bool| {
        if !*failed {
            log::error!("recording to {path} failed: {e}");
            *error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            *failed = true;
        }
    };
    while let Ok(first) = rx.recv() {
        let mut stop = false;
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        for msg in batch {
            match msg {
                Msg::Chunk {
                    time,
                    direction,
                    bytes,
                } => {
                    if !failed {
                        if let Err(e) = writeln!(out, "{}", entry_line(time, direction, &bytes)) {
                            fail(e, &mut failed);
                        }
                    }
                }
                Msg::Stop => stop = true,
            }
        }
        if !failed {
            if let Err(e) = out.flush() {
                fail(e, &mut failed);
            }
        }
        if stop {
            break;
        }
    }
    if !failed {
        if let Err(e) = out.flush() {
            fail(e, &mut failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bytes_keeps_every_byte() {
        assert_eq!(json_bytes(b"AT\r\n"), "\"AT\\r\\n\"");
        assert_eq!(json_bytes(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(json_bytes(&[0x00, 0x1a, 0xff]), "\"\\u0000\\u001a\\u00ff\"");
    }

    #[test]
    fn writes_header_and_entries_in_order() {
        let dir = std::env::temp_dir().join(format!("modemqtt-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("session.jsonl");
        let r = Recorder::create(&path, "/dev/null").unwrap();
        r.record(Direction::Tx, b"AT\r");
        r.record(Direction::Rx, b"\r\nOK\r\n");
        r.record(Direction::Rx, b"");
        r.close();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("{\"modemqtt_recording\": 1, \"port\": \"/dev/null\""));
        assert!(lines[1].ends_with("\"dir\": \"tx\", \"data\": \"AT\\r\"}"));
        assert!(lines[2].ends_with("\"dir\": \"rx\", \"data\": \"\\r\\nOK\\r\\n\"}"));
        assert!(r.error().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
