//! The AT parser of the virtual modem: bytes from the host → command lines and the data
//! typed after a prompt, each executed on the modem state (`Modem::execute`,
//! `Modem::data_done`) under the state lock, its response written under the same lock.
//!
//! Framing follows the modems: every response line is sent as
//! `\r\n<line>\r\n`, a data prompt as `\r\n>`, the final result as
//! `\r\nOK\r\n` / `\r\nERROR\r\n`; echo (on until `ATE0`) repeats the command
//! line and its terminator. Data typed after `>` is echoed while echo is on (as SIMCom
//! modems do); exactly <req_length> bytes are taken, binary-safe. Unknown commands
//! always answer `ERROR`; lines that do not start with `AT` are ignored.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::args::Resp;
use super::{lock, Shared};

const LINE_MAX: usize = 4096;

/// What the host sends after a `>` prompt.
pub(crate) enum DataKind {
    /// A certificate file (`AT+CCERTDOWN`, see `ssl`).
    Cert(String),
    /// One of the family's own kinds (each family knows its type, see
    /// `SimFamily::data_done`).
    Family(Box<dyn std::any::Any + Send>),
}

impl DataKind {
    /// The family's own kind `k`.
    pub(crate) fn family<T: std::any::Any + Send>(k: T) -> DataKind {
        DataKind::Family(Box::new(k))
    }
}

pub(crate) enum Next {
    Line,
    Data(DataKind, usize),
    /// Data ended by Ctrl-Z (ESC cancels), at most this many bytes.
    DataUntilCtrlZ(DataKind, usize),
}

enum Mode {
    Line,
    Data {
        need: usize,
        buf: Vec<u8>,
        kind: DataKind,
    },
    CtrlZ {
        max: usize,
        buf: Vec<u8>,
        kind: DataKind,
    },
}

/// The parser of one host connection (the pty, or a TCP host), begun afresh whenever
/// `Shared::parser_gen` moves on.
pub(crate) struct HostInput {
    parser: Parser,
    gen: u64,
}

impl HostInput {
    pub fn new(sh: &Shared) -> HostInput {
        HostInput {
            parser: Parser::new(),
            gen: sh.parser_gen.load(Ordering::Acquire),
        }
    }

    /// Counts and parses `data` as read from the host.
    pub fn feed(&mut self, sh: &Arc<Shared>, data: &[u8]) {
        let now = sh.parser_gen.load(Ordering::Acquire);
        if now != self.gen {
            self.gen = now;
            self.parser = Parser::new();
        }
        sh.stats
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.parser.feed(sh, data);
    }
}

pub(crate) struct Parser {
    line: Vec<u8>,
    overflow: bool,
    mode: Mode,
    skip_lf: bool,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            line: Vec::new(),
            overflow: false,
            mode: Mode::Line,
            skip_lf: false,
        }
    }

    pub fn feed(&mut self, sh: &Arc<Shared>, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            // The LF of a CRLF-terminated command line, arriving in the same read as its
            // CR, is neither data nor an empty line.
            if std::mem::take(&mut self.skip_lf) && data[i] == b'\n' {
                i += 1;
                continue;
            }
            match &mut self.mode {
                Mode::CtrlZ { max, buf, .. } => {
                    let b = data[i];
                    i += 1;
                    if sh.state().echo {
                        sh.write_frame(&[b]);
                    }
                    match b {
                        0x1a => {
                            if let Mode::CtrlZ { buf, kind, .. } =
                                std::mem::replace(&mut self.mode, Mode::Line)
                            {
                                finish_data(sh, kind, buf);
                            }
                        }
                        0x1b => {
                            // ESC: the modem drops the data and answers OK.
                            self.mode = Mode::Line;
                            let _st = sh.state();
                            sh.write_frame(b"\r\nOK\r\n");
                        }
                        _ if buf.len() < *max => buf.push(b),
                        _ => {}
                    }
                }
                Mode::Data { need, buf, .. } => {
                    let take = (*need - buf.len()).min(data.len() - i);
                    let chunk = &data[i..i + take];
                    buf.extend_from_slice(chunk);
                    i += take;
                    {
                        let st = sh.state();
                        if st.echo {
                            sh.write_frame(chunk);
                        }
                    }
                    if buf.len() == *need {
                        if let Mode::Data { buf, kind, .. } =
                            std::mem::replace(&mut self.mode, Mode::Line)
                        {
                            finish_data(sh, kind, buf);
                        }
                    }
                }
                Mode::Line => {
                    let b = data[i];
                    i += 1;
                    if b == b'\r' || b == b'\n' {
                        let line = std::mem::take(&mut self.line);
                        let overflow = std::mem::replace(&mut self.overflow, false);
                        self.skip_lf = b == b'\r';
                        match process_line(sh, line, b, overflow) {
                            Next::Data(kind, need) => {
                                self.mode = Mode::Data {
                                    need,
                                    buf: Vec::with_capacity(need),
                                    kind,
                                };
                            }
                            Next::DataUntilCtrlZ(kind, max) => {
                                self.mode = Mode::CtrlZ {
                                    max,
                                    buf: Vec::new(),
                                    kind,
                                };
                            }
                            Next::Line => {}
                        }
                    } else if self.line.len() < LINE_MAX {
                        self.line.push(b);
                    } else {
                        self.overflow = true;
                    }
                }
            }
        }
        self.skip_lf = false;
    }
}

fn process_line(sh: &Arc<Shared>, line: Vec<u8>, term: u8, overflow: bool) -> Next {
    {
        let st = sh.state();
        if st.echo {
            let mut e = line.clone();
            e.push(term);
            sh.write_frame(&e);
        }
    }
    let text = String::from_utf8_lossy(&line);
    let t = text.trim();
    if t.is_empty() {
        return Next::Line;
    }
    // Byte-wise: the line may hold anything the host sent (binary, invalid UTF-8).
    if !t
        .as_bytes()
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"AT"))
    {
        // Real modems ignore anything that does not start with AT.
        return Next::Line;
    }
    sh.stats.commands.fetch_add(1, Ordering::Relaxed);
    let (delay, refuse) = {
        let f = lock(&sh.faults);
        (f.delay, f.refuse.clone())
    };
    if !delay.is_zero() && !sh.pause(delay) {
        return Next::Line;
    }
    if let Some((prefix, reply)) = refuse {
        if t.to_ascii_uppercase().starts_with(&prefix) {
            let _st = sh.state();
            sh.write_frame(format!("\r\n{reply}\r\n").as_bytes());
            return Next::Line;
        }
    }
    let mut st = sh.state();
    let mut r = Resp::default();
    let too_long = st.profile.line_max().is_some_and(|max| t.len() - 2 > max);
    let next = if overflow || too_long {
        r.error();
        Next::Line
    } else {
        st.execute(sh, &t[2..], &mut r)
    };
    write_response(sh, r);
    drop(st);
    sh.family().after_command(sh);
    next
}

/// The response, then the module's own URCs, then what the network produces (after the
/// network timing).
fn write_response(sh: &Shared, r: Resp) {
    sh.write_frame(&r.buf);
    for u in r.after {
        sh.write_frame(format!("\r\n{u}\r\n").as_bytes());
    }
    for u in r.net {
        sh.write_net(format!("\r\n{u}\r\n").into_bytes());
    }
}

fn finish_data(sh: &Arc<Shared>, kind: DataKind, data: Vec<u8>) {
    let mut st = sh.state();
    let mut r = Resp::default();
    st.data_done(kind, data, &mut r);
    write_response(sh, r);
}
