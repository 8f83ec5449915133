//! An in-memory transport with a scripted modem on the other end, for tests of the engine
//! and the dialects without a serial device (also usable by applications' own tests).

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use crate::port::OpenedPort;

struct ChanReader {
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    unplugged: Arc<AtomicBool>,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.unplugged.load(Ordering::SeqCst) {
            return Err(io::Error::other("EIO: device unplugged"));
        }
        if self.pending.is_empty() {
            match self.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(d) => self.pending = d,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "idle"))
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

struct ChanWriter {
    tx: Sender<Vec<u8>>,
}

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .send(buf.to_vec())
            .map_err(|_| io::Error::other("closed"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The modem side: answers what the host writes, and can push URCs or fail.
pub struct ScriptedModem {
    pub unplugged: Arc<AtomicBool>,
    /// Everything the host wrote, in order.
    pub written: Arc<Mutex<Vec<u8>>>,
    /// The command lines (without CR) and data blocks the host wrote, in order.
    pub inputs: Arc<Mutex<Vec<Vec<u8>>>>,
    push: Sender<Vec<u8>>,
}

impl ScriptedModem {
    /// Sends bytes to the host as if the modem wrote them (a URC).
    pub fn push(&self, bytes: &[u8]) {
        let _ = self.push.send(bytes.to_vec());
    }

    /// Makes the host's next read fail as an unplugged USB modem does.
    pub fn unplug(&self) {
        self.unplugged.store(true, Ordering::SeqCst);
    }

    pub fn inputs_text(&self) -> Vec<String> {
        self.inputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect()
    }
}

/// Answers one input (a command line without its CR, or a data block sent after a
/// prompt) with the chunks to write back. A chunk `@sleep N` waits N ms instead.
pub type Script = Box<dyn FnMut(&[u8]) -> Vec<Vec<u8>> + Send>;

/// Returns the host side as an [`OpenedPort`] and the scripted modem.
pub fn scripted(mut script: Script) -> (OpenedPort, ScriptedModem) {
    let (to_host, host_rx) = unbounded::<Vec<u8>>();
    let (host_tx, from_host) = unbounded::<Vec<u8>>();
    let written = Arc::new(Mutex::new(Vec::new()));
    let inputs = Arc::new(Mutex::new(Vec::new()));
    let (w, ins, reply) = (written.clone(), inputs.clone(), to_host.clone());
    let spawned = std::thread::Builder::new()
        .name("scripted-modem".into())
        .spawn(move || {
            let mut line = Vec::new();
            while let Ok(chunk) = from_host.recv() {
                w.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&chunk);
                line.extend_from_slice(&chunk);
                // Commands end with CR; data after a prompt arrives as one write.
                let starts_at = line.len() >= 2 && line[..2].eq_ignore_ascii_case(b"AT");
                if starts_at && !line.ends_with(b"\r") {
                    continue;
                }
                let input = std::mem::take(&mut line);
                let input = if starts_at {
                    input[..input.len() - 1].to_vec()
                } else {
                    input
                };
                ins.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(input.clone());
                for part in script(&input) {
                    if let Some(ms) = part.strip_prefix(b"@sleep") {
                        let ms: u64 = String::from_utf8_lossy(ms).trim().parse().unwrap_or(0);
                        std::thread::sleep(Duration::from_millis(ms));
                    } else if !part.is_empty() && reply.send(part).is_err() {
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the scripted modem: {e}");
    }
    let unplugged = Arc::new(AtomicBool::new(false));
    let opened = OpenedPort {
        waker: None,
        reader: Box::new(ChanReader {
            rx: host_rx,
            pending: Vec::new(),
            unplugged: unplugged.clone(),
        }),
        writer: Box::new(ChanWriter { tx: host_tx }),
        name: "memory".into(),
        guard: None,
    };
    (
        opened,
        ScriptedModem {
            unplugged,
            written,
            inputs,
            push: to_host,
        },
    )
}
