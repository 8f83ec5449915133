//! A virtual modem that plays back a recording (see `engine::record` for the format).
//!
//! The recording is cut into steps: each run of consecutive `tx` chunks becomes one
//! expectation (the bytes the host must send, in any chunking), each run of `rx` chunks one
//! emission. Bytes the modem sent are played back as soon as everything the host sent
//! before them in the recording has arrived; recorded delays are not reproduced (a replay
//! runs as fast as the host talks).
//!
//! Masked secrets match anything of their kind: `***` matches any bytes up to the end of
//! the line (a password is not kept in the recording, so any password is accepted), and
//! `<N secret bytes>` matches exactly N bytes.
//!
//! When the host sends something else, the replay stops: the mismatch (where in the file,
//! what was expected, what came) is kept for [`ReplayModem::check`] and logged, and every
//! further command line gets `ERROR` so the host fails fast instead of waiting.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::pty::Pty;
use super::SimError;
use crate::transcript::escape;

/// One recorded chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedChunk {
    /// Line number in the file (1-based).
    pub line: usize,
    pub time: f64,
    /// true: host to modem.
    pub tx: bool,
    pub data: Vec<u8>,
}

/// Reads a recording: the header line, then one chunk per line.
pub fn load(path: &Path) -> Result<Vec<RecordedChunk>, SimError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| SimError::Recording(format!("cannot read {shown}: {e}")))?;
    parse(&text).map_err(|e| SimError::Recording(format!("{shown}: {e}")))
}

fn bad(line: usize, what: &str) -> String {
    format!("line {line}: {what}")
}

/// Parses the text of a recording.
pub fn parse(text: &str) -> Result<Vec<RecordedChunk>, String> {
    let mut chunks = Vec::new();
    let mut header_seen = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| bad(line, &format!("not a JSON object: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad(line, "not a JSON object"))?;
        if let Some(version) = obj.get("modemqtt_recording") {
            if header_seen || !chunks.is_empty() {
                return Err(bad(line, "a second header"));
            }
            if version.as_u64() != Some(u64::from(crate::engine::record::FORMAT_VERSION)) {
                return Err(bad(
                    line,
                    &format!("unsupported recording version {version} (this library reads 1)"),
                ));
            }
            header_seen = true;
            continue;
        }
        if !header_seen {
            return Err(bad(
                line,
                "no {\"modemqtt_recording\": 1, ...} header: not a modemqtt recording",
            ));
        }
        let time = obj
            .get("t")
            .and_then(|t| t.as_f64())
            .ok_or_else(|| bad(line, "\"t\" must be a number"))?;
        let tx = match obj.get("dir").and_then(|d| d.as_str()) {
            Some("tx") => true,
            Some("rx") => false,
            _ => return Err(bad(line, "\"dir\" must be \"tx\" or \"rx\"")),
        };
        let data_text = obj
            .get("data")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad(line, "\"data\" must be a string"))?;
        let mut data = Vec::with_capacity(data_text.len());
        for c in data_text.chars() {
            let b = u8::try_from(u32::from(c)).map_err(|_| {
                bad(
                    line,
                    &format!("\"data\" holds {c:?}: only U+0000-U+00FF (one per byte) are allowed"),
                )
            })?;
            data.push(b);
        }
        chunks.push(RecordedChunk {
            line,
            time,
            tx,
            data,
        });
    }
    if !header_seen {
        return Err("empty: no modemqtt recording header".into());
    }
    Ok(chunks)
}

/// A piece of what the host must send.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Vec<u8>),
    /// `***`: any bytes, not crossing a line end.
    AnyInLine,
    /// `<N secret bytes>`: exactly N bytes.
    Bytes(usize),
}

fn parse_secret_block(data: &[u8]) -> Option<(usize, usize)> {
    // "<N secret bytes>" -> (N, length of the marker)
    let rest = data.strip_prefix(b"<")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let n: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let tail = b" secret bytes>";
    if rest[digits..].starts_with(tail) {
        Some((n, 1 + digits + tail.len()))
    } else {
        None
    }
}

fn pattern(data: &[u8]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(b"***") {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::AnyInLine);
            i += 3;
        } else if let Some((n, len)) = parse_secret_block(&data[i..]) {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Bytes(n));
            i += len;
        } else {
            lit.push(data[i]);
            i += 1;
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    pieces
}

#[derive(Debug, PartialEq, Eq)]
enum Match {
    /// The whole pattern matched the first n bytes.
    Done(usize),
    NeedMore,
    /// The input differs at this offset.
    Mismatch(usize),
}

fn is_eol(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

fn match_pattern(pieces: &[Piece], buf: &[u8]) -> Match {
    let mut pos = 0;
    let mut k = 0;
    while k < pieces.len() {
        match &pieces[k] {
            Piece::Lit(l) => {
                let avail = buf.len() - pos;
                let n = avail.min(l.len());
                if let Some(d) = (0..n).find(|&j| buf[pos + j] != l[j]) {
                    return Match::Mismatch(pos + d);
                }
                if avail < l.len() {
                    return Match::NeedMore;
                }
                pos += l.len();
            }
            Piece::Bytes(n) => {
                if buf.len() - pos < *n {
                    return Match::NeedMore;
                }
                pos += n;
            }
            Piece::AnyInLine => {
                // The next literal anchors the end of the wildcard.
                let next = match pieces.get(k + 1) {
                    Some(Piece::Lit(l)) => l.as_slice(),
                    _ => {
                        // Wildcard up to the line end (or the end of the pattern).
                        match buf[pos..].iter().position(|&b| is_eol(b)) {
                            Some(e) => {
                                pos += e;
                                k += 1;
                                continue;
                            }
                            None => return Match::NeedMore,
                        }
                    }
                };
                let mut found = None;
                let mut partial = false;
                let mut j = pos;
                loop {
                    let rest = &buf[j..];
                    if rest.starts_with(next) {
                        found = Some(j);
                        break;
                    }
                    if next.starts_with(rest) {
                        partial = true;
                        break;
                    }
                    if is_eol(buf[j]) {
                        break;
                    }
                    j += 1;
                }
                match found {
                    Some(j) => {
                        pos = j + next.len();
                        k += 2;
                        continue;
                    }
                    None if partial => return Match::NeedMore,
                    None => return Match::Mismatch(j),
                }
            }
        }
        k += 1;
    }
    Match::Done(pos)
}

#[derive(Debug)]
enum Step {
    Expect {
        pieces: Vec<Piece>,
        shown: Vec<u8>,
        line: usize,
    },
    Emit(Vec<u8>),
}

fn steps(chunks: &[RecordedChunk]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    let mut run_tx = None;
    let mut run_line = 0;
    let flush = |out: &mut Vec<Step>, run: &mut Vec<u8>, tx: Option<bool>, line: usize| {
        if run.is_empty() {
            return;
        }
        let data = std::mem::take(run);
        if tx == Some(true) {
            out.push(Step::Expect {
                pieces: pattern(&data),
                shown: data,
                line,
            });
        } else {
            out.push(Step::Emit(data));
        }
    };
    for c in chunks {
        if run_tx != Some(c.tx) {
            flush(&mut out, &mut run, run_tx, run_line);
            run_tx = Some(c.tx);
            run_line = c.line;
        }
        run.extend_from_slice(&c.data);
    }
    flush(&mut out, &mut run, run_tx, run_line);
    out
}

/// Where a replay stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayStatus {
    /// Steps (runs of host bytes or of modem bytes) in the recording.
    pub steps: usize,
    /// Steps played or matched so far.
    pub position: usize,
    /// Every step was played and matched.
    pub complete: bool,
    /// Bytes received from the host.
    pub host_bytes: u64,
    /// What went wrong, if the host did not send what was recorded.
    pub mismatch: Option<String>,
}

struct State {
    steps: Vec<Step>,
    pos: usize,
    pending: Vec<u8>,
    host_bytes: u64,
    mismatch: Option<String>,
}

struct Shared {
    pty: Pty,
    closed: AtomicBool,
    state: Mutex<State>,
    name: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A recording played back on a pty.
pub struct ReplayModem {
    shared: Arc<Shared>,
    port: String,
    reader: Mutex<Option<JoinHandle<()>>>,
}

fn shorten(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        escape(bytes)
    } else {
        format!("{}...", escape(&bytes[..max]))
    }
}

impl ReplayModem {
    /// Loads `path` and starts serving it on a new pty.
    pub fn start(path: &Path) -> Result<ReplayModem, SimError> {
        let chunks = load(path)?;
        let pty = Pty::open().map_err(SimError::Pty)?;
        let port = pty.path().to_owned();
        let shared = Arc::new(Shared {
            pty,
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                steps: steps(&chunks),
                pos: 0,
                pending: Vec::new(),
                host_bytes: 0,
                mismatch: None,
            }),
            name: path.display().to_string(),
        });
        // A recording that starts with modem output (boot URCs) plays it at once.
        advance(&shared, &mut lock(&shared.state));
        let s2 = Arc::clone(&shared);
        let reader = thread::Builder::new()
            .name(format!(
                "vmodem-replay-{}",
                port.rsplit('/').next().unwrap_or("pty")
            ))
            .spawn(move || reader_loop(s2))
            .map_err(SimError::Thread)?;
        Ok(ReplayModem {
            shared,
            port,
            reader: Mutex::new(Some(reader)),
        })
    }

    pub fn port(&self) -> &str {
        &self.port
    }

    /// The recording's path as given.
    pub fn path(&self) -> &str {
        &self.shared.name
    }

    pub fn status(&self) -> ReplayStatus {
        let st = lock(&self.shared.state);
        ReplayStatus {
            steps: st.steps.len(),
            position: st.pos,
            complete: st.pos >= st.steps.len() && st.mismatch.is_none(),
            host_bytes: st.host_bytes,
            mismatch: st.mismatch.clone(),
        }
    }

    /// Err with a readable explanation if the host strayed from the recording, or (with
    /// `complete`) if it stopped before sending everything that was recorded.
    pub fn check(&self, complete: bool) -> Result<(), String> {
        let st = lock(&self.shared.state);
        if let Some(m) = &st.mismatch {
            return Err(m.clone());
        }
        if complete {
            if let Some(Step::Expect { shown, line, .. }) = st.steps[st.pos.min(st.steps.len())..]
                .iter()
                .find(|s| matches!(s, Step::Expect { .. }))
            {
                return Err(format!(
                    "replay of {}: the host stopped early; the recording (line {line}) still expects `{}`{}",
                    self.shared.name,
                    shorten(shown, 120),
                    if st.pending.is_empty() {
                        String::new()
                    } else {
                        format!(" (received so far: `{}`)", shorten(&st.pending, 120))
                    }
                ));
            }
        }
        Ok(())
    }

    /// Whether [`close`](Self::close) ran.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Stops the reader thread and closes the pty. Idempotent.
    pub fn close(&self) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.pty.wake();
        if let Some(h) = lock(&self.reader).take() {
            let _ = h.join();
        }
    }
}

impl Drop for ReplayModem {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for ReplayModem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayModem")
            .field("recording", &self.shared.name)
            .field("port", &self.port)
            .finish()
    }
}

/// Plays emissions and matches expectations as far as the host's bytes allow.
fn advance(shared: &Shared, st: &mut State) {
    if st.mismatch.is_some() {
        // Answer every further command line with ERROR so the host does not wait.
        let lines = st.pending.iter().filter(|&&b| b == b'\r').count();
        st.pending.clear();
        for _ in 0..lines {
            shared.pty.write_all(b"\r\nERROR\r\n", &shared.closed);
        }
        return;
    }
    while st.pos < st.steps.len() {
        match &st.steps[st.pos] {
            Step::Emit(bytes) => {
                if !shared.pty.write_all(bytes, &shared.closed) {
                    return;
                }
                st.pos += 1;
            }
            Step::Expect {
                pieces,
                shown,
                line,
            } => match match_pattern(pieces, &st.pending) {
                Match::Done(n) => {
                    st.pending.drain(..n);
                    st.pos += 1;
                }
                Match::NeedMore => return,
                Match::Mismatch(at) => {
                    // Show both sides from the start of the line that differs.
                    let line_start = st.pending[..at]
                        .iter()
                        .rposition(|&b| is_eol(b))
                        .map_or(0, |i| i + 1);
                    let start = line_start.max(at.saturating_sub(80));
                    let msg = format!(
                        "replay of {}: the host sent `{}` where the recording (line {line}) has `{}` (first difference at byte {})",
                        shared.name,
                        shorten(&st.pending[start..], 120),
                        shorten(&shown[start.min(shown.len())..], 120),
                        at - start,
                    );
                    log::error!("{msg}");
                    st.mismatch = Some(msg);
                    advance(shared, st);
                    return;
                }
            },
        }
    }
    if !st.pending.is_empty() {
        let msg = format!(
            "replay of {}: the host sent `{}` after the end of the recording",
            shared.name,
            shorten(&st.pending, 120)
        );
        log::error!("{msg}");
        st.mismatch = Some(msg);
        advance(shared, st);
    }
}

fn reader_loop(shared: Arc<Shared>) {
    let mut buf = vec![0u8; 16 * 1024];
    while !shared.closed.load(Ordering::Acquire) {
        let r = shared.pty.read(&mut buf, Duration::from_secs(5));
        if shared.closed.load(Ordering::Acquire) {
            break;
        }
        match r {
            Ok(0) => {}
            Ok(n) => {
                let mut st = lock(&shared.state);
                st.host_bytes += n as u64;
                st.pending.extend_from_slice(&buf[..n]);
                advance(&shared, &mut st);
            }
            Err(e) => {
                log::error!("replay: reading the pty failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &[u8], buf: &[u8]) -> Match {
        match_pattern(&pattern(pat), buf)
    }

    #[test]
    fn literal_patterns_match_in_any_chunking() {
        assert_eq!(m(b"AT\r", b"A"), Match::NeedMore);
        assert_eq!(m(b"AT\r", b"AT\r"), Match::Done(3));
        assert_eq!(m(b"AT\r", b"AT\rAT"), Match::Done(3));
        assert_eq!(m(b"AT\r", b"AX"), Match::Mismatch(1));
    }

    #[test]
    fn masked_password_matches_any_password_on_the_line() {
        let pat = b"AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1,\"u\",\"***\"\r";
        let good = b"AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1,\"u\",\"hunter2\"\r";
        assert_eq!(m(pat, good), Match::Done(good.len()));
        assert_eq!(m(pat, &good[..good.len() - 4]), Match::NeedMore);
        let other_user = b"AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1,\"v\",\"x\"\r";
        assert!(matches!(m(pat, other_user), Match::Mismatch(_)));
        // The wildcard does not run past the line end.
        assert!(matches!(
            m(b"A=\"***\"\r", b"A=\"abc\rB\"\r"),
            Match::Mismatch(_)
        ));
    }

    #[test]
    fn secret_block_matches_exactly_n_bytes() {
        assert_eq!(m(b"<5 secret bytes>\r", b"abcde\r"), Match::Done(6));
        assert_eq!(m(b"<5 secret bytes>\r", b"abcd"), Match::NeedMore);
        assert_eq!(m(b"<5 secret bytes>\r", b"abcdef"), Match::Mismatch(5));
    }

    #[test]
    fn parse_checks_header_and_fields() {
        let ok = "{\"modemqtt_recording\": 1, \"port\": \"x\", \"started\": 1.0}\n\
                  {\"t\": 1.5, \"dir\": \"tx\", \"data\": \"AT\\r\"}\n\
                  {\"t\": 1.6, \"dir\": \"rx\", \"data\": \"\\r\\nOK\\r\\n\\u00ff\"}\n";
        let chunks = parse(ok).unwrap();
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].tx);
        assert_eq!(chunks[1].data, b"\r\nOK\r\n\xff");
        assert_eq!(chunks[1].line, 3);
        assert!(parse("{\"t\": 1, \"dir\": \"tx\", \"data\": \"\"}")
            .unwrap_err()
            .contains("header"));
        let bad_dir = "{\"modemqtt_recording\": 1}\n{\"t\": 1, \"dir\": \"up\", \"data\": \"\"}";
        assert!(parse(bad_dir).unwrap_err().contains("line 2"));
        let wide =
            "{\"modemqtt_recording\": 1}\n{\"t\": 1, \"dir\": \"tx\", \"data\": \"\u{20ac}\"}";
        assert!(parse(wide).unwrap_err().contains("U+0000-U+00FF"));
        assert!(parse("").is_err());
        assert!(parse("{\"modemqtt_recording\": 2}").is_err());
    }

    #[test]
    fn consecutive_chunks_of_one_direction_form_one_step() {
        let chunks = vec![
            RecordedChunk {
                line: 2,
                time: 0.0,
                tx: true,
                data: b"AT+X=1,".to_vec(),
            },
            RecordedChunk {
                line: 3,
                time: 0.0,
                tx: true,
                data: b"2\r".to_vec(),
            },
            RecordedChunk {
                line: 4,
                time: 0.0,
                tx: false,
                data: b"\r\nOK".to_vec(),
            },
            RecordedChunk {
                line: 5,
                time: 0.0,
                tx: false,
                data: b"\r\n".to_vec(),
            },
        ];
        let s = steps(&chunks);
        assert_eq!(s.len(), 2);
        assert!(matches!(&s[0], Step::Expect { shown, line: 2, .. } if shown == b"AT+X=1,2\r"));
        assert!(matches!(&s[1], Step::Emit(b) if b == b"\r\nOK\r\n"));
    }
}
