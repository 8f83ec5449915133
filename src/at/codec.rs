//! Incremental decoder for the byte stream a modem sends on its AT port.
//!
//! The decoder turns arbitrary chunks of bytes into [`Frame`]s: text lines,
//! final result codes, data prompts and length-announced raw blocks. It keeps
//! its partial state between calls, and the frames it yields do not depend on
//! how the stream was split into [`Decoder::feed`] calls.

use std::mem;

use log::warn;
use memchr::memchr2;

/// Longest line kept in memory; a line reaching this size without a
/// terminator is emitted as it is and the following bytes start a new line.
pub const MAX_LINE: usize = 64 * 1024;

/// Largest byte count a raw-block header may announce.
pub const MAX_RAW: usize = 16 * 1024 * 1024;

/// Longest prefix accepted in a [`RawRule`].
pub const MAX_PREFIX: usize = 256;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// The value of a `+CME ERROR:` or `+CMS ERROR:` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// Numeric form (`AT+CMEE=1`), e.g. `+CME ERROR: 10`.
    Numeric(i32),
    /// Verbose form (`AT+CMEE=2`), e.g. `+CME ERROR: SIM not inserted`.
    Text(String),
}

impl ErrorCode {
    fn parse(value: &[u8]) -> ErrorCode {
        let value = value.trim_ascii();
        match parse_i32(value) {
            Some(n) => ErrorCode::Numeric(n),
            None => ErrorCode::Text(String::from_utf8_lossy(value).into_owned()),
        }
    }
}

/// A final result code, which ends the response to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalResult {
    Ok,
    Error,
    CmeError(ErrorCode),
    CmsError(ErrorCode),
    NoCarrier,
    Busy,
    NoAnswer,
    NoDialtone,
}

impl FinalResult {
    /// True only for `OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, FinalResult::Ok)
    }
}

/// One unit of modem output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A non-empty line that is not a final result, without its terminator.
    Line(Vec<u8>),
    /// A final result code.
    Final(FinalResult),
    /// The data prompt `>` (or `> `) at the start of a line.
    Prompt,
    /// A header line and the raw bytes it announced (see [`RawRule`]).
    Raw { header: Vec<u8>, data: Vec<u8> },
}

/// Describes a line that announces a number of raw bytes.
///
/// Prefixes must be 1 to [`MAX_PREFIX`] bytes long and contain no CR or LF;
/// rules that do not meet this are ignored (with a warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawRule {
    /// A line starting with `prefix` (e.g. `b"+CMQTTRXPAYLOAD:"`) whose
    /// comma-separated field number `len_field` (0-based, counted after the
    /// ':' and optional spaces) is a decimal byte count N. After that line's
    /// terminator (CRLF, bare LF, or bare CR followed by an optional LF that
    /// is swallowed) exactly N raw bytes follow. Emitted as
    /// `Raw { header: the line without terminator, data }`.
    Trailing { prefix: Vec<u8>, len_field: usize },
    /// Quectel style, raw bytes inside the line:
    /// `+QMTRECV: 0,1,"topic",7,"<7 raw bytes>"`. Field `len_field` (0-based,
    /// counted after the ':' with double-quote awareness) is a byte count N;
    /// the next field starts with '"' followed by exactly N raw bytes, then a
    /// closing '"'. Emitted as `Raw { header: the line up to, not including,
    /// the ',' before the opening quote, data: the N bytes }`. A missing
    /// closing quote is logged; parsing resumes right after the N bytes.
    Inline { prefix: Vec<u8>, len_field: usize },
    /// Espressif ESP-AT style, raw bytes inside the line without quotes:
    /// `+MQTTSUBRECV:0,"topic",4,<4 raw bytes>` then CRLF. Fields are counted as
    /// for `Inline`; exactly N raw bytes start right after the comma that ends
    /// field `len_field`. Emitted as `Raw { header: the line up to, not
    /// including, that comma, data: the N bytes }`; the line end after them is
    /// skipped like any empty line.
    Bare { prefix: Vec<u8>, len_field: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing buffered for the current line.
    LineStart,
    /// A prompt was just emitted; one following space is swallowed.
    AfterPrompt,
    /// Reading a line into `line` (or straight from the input).
    InLine,
    /// A `Trailing` header ended with CR; one following LF is swallowed.
    HeaderCr,
    /// Counting `remaining` raw bytes into `data`.
    Raw,
    /// An `Inline` payload is complete; its closing quote is expected.
    InlineClose,
}

/// Progress of the `Inline` rule check on the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// No inline rule applies to this line.
    Off,
    /// The line so far is a proper prefix of at least one inline prefix.
    Prefix,
    /// An inline prefix matched; fields are being counted.
    Fields(FieldScan),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldScan {
    /// Copied from the rule, so that adding rules mid-line cannot change it.
    len_field: usize,
    field: usize,
    in_quote: bool,
    /// Index in `line` where the current field starts.
    field_start: usize,
    /// Set right after the comma that closed the length field: the byte
    /// count, and the next byte must be the opening quote.
    len: Option<usize>,
    /// `RawRule::Bare`: the data starts right after that comma.
    bare: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PrefixRule {
    prefix: Vec<u8>,
    len_field: usize,
    /// `RawRule::Bare`: the data follows the length field's comma directly.
    bare: bool,
}

enum Kind {
    Final(FinalResult),
    Header(usize),
    Plain,
}

enum PrefixMatch {
    Matched(usize),
    Pending,
    NoMatch,
}

/// Incremental decoder: bytes in, [`Frame`]s out.
#[derive(Debug, Clone)]
pub struct Decoder {
    rules: Vec<RawRule>,
    trailing: Vec<PrefixRule>,
    /// Sorted by prefix length, shortest first.
    inline: Vec<PrefixRule>,
    trailing_first: [bool; 256],
    inline_first: [bool; 256],
    inline_max_prefix: usize,

    state: State,
    scan: Scan,
    line: Vec<u8>,
    header: Vec<u8>,
    data: Vec<u8>,
    remaining: usize,
    raw_inline: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder without raw rules.
    pub fn new() -> Self {
        Decoder {
            rules: Vec::new(),
            trailing: Vec::new(),
            inline: Vec::new(),
            trailing_first: [false; 256],
            inline_first: [false; 256],
            inline_max_prefix: 0,
            state: State::LineStart,
            scan: Scan::Off,
            line: Vec::new(),
            header: Vec::new(),
            data: Vec::new(),
            remaining: 0,
            raw_inline: false,
        }
    }

    /// A decoder with the given raw rules.
    pub fn with_rules(rules: Vec<RawRule>) -> Self {
        let mut decoder = Self::new();
        for rule in rules {
            decoder.add_rule(rule);
        }
        decoder
    }

    /// Adds a raw rule; adding a rule equal to one already present does nothing.
    pub fn add_rule(&mut self, rule: RawRule) {
        if self.rules.contains(&rule) {
            return;
        }
        let (prefix, len_field, inline, bare) = match &rule {
            RawRule::Trailing { prefix, len_field } => (prefix, *len_field, false, false),
            RawRule::Inline { prefix, len_field } => (prefix, *len_field, true, false),
            RawRule::Bare { prefix, len_field } => (prefix, *len_field, true, true),
        };
        if prefix.is_empty() || prefix.len() > MAX_PREFIX || memchr2(CR, LF, prefix).is_some() {
            warn!(
                "ignoring raw rule with unusable prefix {:?}",
                String::from_utf8_lossy(prefix)
            );
            return;
        }
        let entry = PrefixRule {
            prefix: prefix.clone(),
            len_field,
            bare,
        };
        if inline {
            self.inline_first[usize::from(prefix[0])] = true;
            self.inline_max_prefix = self.inline_max_prefix.max(prefix.len());
            // Keep the list sorted by length so that the shortest matching
            // prefix wins, whether the match is decided byte by byte or on a
            // whole slice.
            let at = self
                .inline
                .partition_point(|r| r.prefix.len() <= entry.prefix.len());
            self.inline.insert(at, entry);
        } else {
            self.trailing_first[usize::from(prefix[0])] = true;
            self.trailing.push(entry);
        }
        self.rules.push(rule);
    }

    /// Drops all partial state (the rules are kept).
    pub fn reset(&mut self) {
        self.state = State::LineStart;
        self.scan = Scan::Off;
        self.line = Vec::new();
        self.header = Vec::new();
        self.data = Vec::new();
        self.remaining = 0;
        self.raw_inline = false;
    }

    /// Number of bytes held in partial state.
    pub fn buffered(&self) -> usize {
        self.line.len() + self.header.len() + self.data.len()
    }

    /// Decodes `data`, appending every completed frame to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Frame>) {
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::LineStart => match data[i] {
                    CR | LF => i += 1,
                    b'>' => {
                        out.push(Frame::Prompt);
                        self.state = State::AfterPrompt;
                        i += 1;
                    }
                    first => {
                        self.state = State::InLine;
                        self.scan = if self.inline_first[usize::from(first)] {
                            Scan::Prefix
                        } else {
                            Scan::Off
                        };
                        i = self.in_line(data, i, out);
                    }
                },
                State::AfterPrompt => {
                    if data[i] == b' ' {
                        i += 1;
                    }
                    self.state = State::LineStart;
                }
                State::InLine => i = self.in_line(data, i, out),
                State::HeaderCr => {
                    if data[i] == LF {
                        i += 1;
                    }
                    self.state = State::Raw;
                }
                State::Raw => i = self.raw(data, i, out),
                State::InlineClose => {
                    if data[i] == b'"' {
                        i += 1;
                    } else {
                        warn!("inline payload not followed by a closing quote");
                    }
                    self.state = State::LineStart;
                }
            }
        }
    }

    fn in_line(&mut self, data: &[u8], i: usize, out: &mut Vec<Frame>) -> usize {
        match self.scan {
            Scan::Off => self.plain(data, i, out),
            Scan::Prefix => self.prefix(data, i, out),
            Scan::Fields(fields) => self.fields(fields, data, i, out),
        }
    }

    /// Reads line bytes up to the terminator, without inline checks.
    fn plain(&mut self, data: &[u8], i: usize, out: &mut Vec<Frame>) -> usize {
        let rest = &data[i..];
        let room = MAX_LINE - self.line.len();
        let window = &rest[..rest.len().min(room)];
        match memchr2(CR, LF, window) {
            Some(k) => {
                let term = window[k];
                if self.line.is_empty() {
                    let line = &window[..k];
                    let kind = self.classify(line);
                    self.complete(kind, LineBytes::Slice(line), term, out);
                } else {
                    self.line.extend_from_slice(&window[..k]);
                    self.complete_buffered(term, out);
                }
                i + k + 1
            }
            None => {
                self.line.extend_from_slice(window);
                if self.line.len() >= MAX_LINE {
                    self.flush_overlong(out);
                }
                i + window.len()
            }
        }
    }

    /// Decides whether the current line starts with an inline prefix.
    fn prefix(&mut self, data: &[u8], i: usize, out: &mut Vec<Frame>) -> usize {
        let rest = &data[i..];
        if self.line.is_empty() && rest.len() >= self.inline_max_prefix {
            // Enough input to decide on the slice. Prefixes hold no CR/LF, so
            // a match cannot span a line end.
            if let Some(rule) = self.inline.iter().position(|r| rest.starts_with(&r.prefix)) {
                let len = self.inline[rule].prefix.len();
                self.line.extend_from_slice(&rest[..len]);
                let r = &self.inline[rule];
                self.scan = Scan::Fields(FieldScan::new(r.len_field, len, r.bare));
                return i + len;
            }
            self.scan = Scan::Off;
            return i;
        }
        let mut j = i;
        while j < data.len() {
            let b = data[j];
            if let Some(next) = self.end_of_line(b, j, out) {
                return next;
            }
            self.line.push(b);
            j += 1;
            match self.match_inline_prefix() {
                PrefixMatch::Pending => {}
                PrefixMatch::NoMatch => {
                    self.scan = Scan::Off;
                    return j;
                }
                PrefixMatch::Matched(rule) => {
                    let (len_field, bare) = (self.inline[rule].len_field, self.inline[rule].bare);
                    self.scan = Scan::Fields(FieldScan::new(len_field, self.line.len(), bare));
                    return j;
                }
            }
        }
        j
    }

    fn match_inline_prefix(&self) -> PrefixMatch {
        let line = &self.line[..];
        let mut pending = false;
        for (idx, rule) in self.inline.iter().enumerate() {
            let p = &rule.prefix[..];
            if p.len() == line.len() {
                if p == line {
                    return PrefixMatch::Matched(idx);
                }
            } else if p.len() > line.len() && p.starts_with(line) {
                pending = true;
            }
        }
        if pending {
            PrefixMatch::Pending
        } else {
            PrefixMatch::NoMatch
        }
    }

    /// Counts the fields of a line that matched an inline prefix, looking for
    /// the opening quote of the payload.
    fn fields(&mut self, mut s: FieldScan, data: &[u8], i: usize, out: &mut Vec<Frame>) -> usize {
        let mut j = i;
        while j < data.len() {
            let b = data[j];
            if let Some(next) = self.end_of_line(b, j, out) {
                return next;
            }
            if let Some(n) = s.len {
                if b == b'"' {
                    // Drop the comma before the opening quote.
                    self.line.pop();
                    let header = mem::take(&mut self.line);
                    self.start_raw(header, n, true, out);
                    return j + 1;
                }
                self.scan = Scan::Off;
                return j;
            }
            self.line.push(b);
            j += 1;
            if s.in_quote {
                if b == b'"' {
                    s.in_quote = false;
                }
            } else if b == b'"' {
                s.in_quote = true;
            } else if b == b',' {
                if s.field == s.len_field {
                    let end = self.line.len() - 1;
                    match parse_len(&self.line[s.field_start..end]) {
                        Some(n) if s.bare => {
                            // The data starts right here; drop the comma before it.
                            self.line.pop();
                            let header = mem::take(&mut self.line);
                            self.start_raw(header, n, false, out);
                            return j;
                        }
                        Some(n) => s.len = Some(n),
                        None => {
                            warn!(
                                "inline header with bad length field: {:?}",
                                String::from_utf8_lossy(&self.line)
                            );
                            self.scan = Scan::Off;
                            return self.after_push(j, out);
                        }
                    }
                }
                s.field += 1;
                s.field_start = self.line.len();
            }
            if self.line.len() >= MAX_LINE {
                self.flush_overlong(out);
                return j;
            }
        }
        self.scan = Scan::Fields(s);
        j
    }

    fn after_push(&mut self, j: usize, out: &mut Vec<Frame>) -> usize {
        if self.line.len() >= MAX_LINE {
            self.flush_overlong(out);
        }
        j
    }

    fn raw(&mut self, data: &[u8], i: usize, out: &mut Vec<Frame>) -> usize {
        let rest = &data[i..];
        let k = rest.len().min(self.remaining);
        if k == self.remaining && self.data.is_empty() {
            self.data = rest[..k].to_vec();
        } else {
            if self.data.is_empty() {
                self.data.reserve(self.remaining.min(1 << 20));
            }
            self.data.extend_from_slice(&rest[..k]);
        }
        self.remaining -= k;
        if self.remaining == 0 {
            self.emit_raw(out);
        }
        i + k
    }

    fn start_raw(&mut self, header: Vec<u8>, n: usize, inline: bool, out: &mut Vec<Frame>) {
        self.header = header;
        self.data = Vec::new();
        self.remaining = n;
        self.raw_inline = inline;
        self.scan = Scan::Off;
        self.state = State::Raw;
        if n == 0 {
            self.emit_raw(out);
        }
    }

    fn emit_raw(&mut self, out: &mut Vec<Frame>) {
        out.push(Frame::Raw {
            header: mem::take(&mut self.header),
            data: mem::take(&mut self.data),
        });
        self.state = if self.raw_inline {
            State::InlineClose
        } else {
            State::LineStart
        };
    }

    fn flush_overlong(&mut self, out: &mut Vec<Frame>) {
        warn!("line longer than {MAX_LINE} bytes without terminator; emitting it as is");
        out.push(Frame::Line(mem::take(&mut self.line)));
        self.state = State::LineStart;
        self.scan = Scan::Off;
    }

    /// At a CR or LF (`b`, at index `j`) completes the buffered line and returns where to
    /// go on; None for any other byte.
    #[inline]
    fn end_of_line(&mut self, b: u8, j: usize, out: &mut Vec<Frame>) -> Option<usize> {
        if b == CR || b == LF {
            self.complete_buffered(b, out);
            Some(j + 1)
        } else {
            None
        }
    }

    fn complete_buffered(&mut self, term: u8, out: &mut Vec<Frame>) {
        let kind = self.classify(&self.line);
        let line = mem::take(&mut self.line);
        self.complete(kind, LineBytes::Owned(line), term, out);
    }

    fn complete(&mut self, kind: Kind, line: LineBytes<'_>, term: u8, out: &mut Vec<Frame>) {
        self.state = State::LineStart;
        self.scan = Scan::Off;
        match kind {
            Kind::Final(result) => {
                if let LineBytes::Owned(mut buf) = line {
                    // Keep the allocation for the next line.
                    buf.clear();
                    self.line = buf;
                }
                out.push(Frame::Final(result));
            }
            Kind::Plain => {
                let bytes = line.into_vec();
                if !bytes.is_empty() {
                    out.push(Frame::Line(bytes));
                }
            }
            Kind::Header(n) => {
                let header = line.into_vec();
                if n == 0 {
                    out.push(Frame::Raw {
                        header,
                        data: Vec::new(),
                    });
                } else {
                    self.start_raw(header, n, false, out);
                    if term == CR {
                        self.state = State::HeaderCr;
                    }
                }
            }
        }
    }

    fn classify(&self, line: &[u8]) -> Kind {
        let Some(&first) = line.first() else {
            return Kind::Plain;
        };
        let fin = match first {
            b'O' if line == b"OK" => Some(FinalResult::Ok),
            b'E' if line == b"ERROR" => Some(FinalResult::Error),
            b'B' if line == b"BUSY" => Some(FinalResult::Busy),
            b'N' => match line {
                b"NO CARRIER" => Some(FinalResult::NoCarrier),
                b"NO ANSWER" => Some(FinalResult::NoAnswer),
                b"NO DIALTONE" => Some(FinalResult::NoDialtone),
                _ => None,
            },
            b'+' => {
                if let Some(v) = line.strip_prefix(b"+CME ERROR:") {
                    Some(FinalResult::CmeError(ErrorCode::parse(v)))
                } else {
                    line.strip_prefix(b"+CMS ERROR:")
                        .map(|v| FinalResult::CmsError(ErrorCode::parse(v)))
                }
            }
            _ => None,
        };
        if let Some(result) = fin {
            return Kind::Final(result);
        }
        if self.trailing_first[usize::from(first)] {
            if let Some(rule) = self.trailing.iter().find(|r| line.starts_with(&r.prefix)) {
                let fields = &line[rule.prefix.len()..];
                let fields = fields.strip_prefix(b":").unwrap_or(fields);
                let n = fields
                    .split(|&c| c == b',')
                    .nth(rule.len_field)
                    .and_then(parse_len);
                return match n {
                    Some(n) => Kind::Header(n),
                    None => {
                        warn!(
                            "raw header with bad length field: {:?}",
                            String::from_utf8_lossy(line)
                        );
                        Kind::Plain
                    }
                };
            }
        }
        Kind::Plain
    }
}

impl FieldScan {
    fn new(len_field: usize, field_start: usize, bare: bool) -> Self {
        FieldScan {
            len_field,
            field: 0,
            in_quote: false,
            field_start,
            len: None,
            bare,
        }
    }
}

enum LineBytes<'a> {
    Slice(&'a [u8]),
    Owned(Vec<u8>),
}

impl LineBytes<'_> {
    fn into_vec(self) -> Vec<u8> {
        match self {
            LineBytes::Slice(s) => s.to_vec(),
            LineBytes::Owned(v) => v,
        }
    }
}

/// A decimal byte count (spaces around it allowed), at most [`MAX_RAW`].
fn parse_len(field: &[u8]) -> Option<usize> {
    let digits = field.trim_ascii();
    if digits.is_empty() || digits.len() > 12 {
        return None;
    }
    let mut n: usize = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
    }
    (n <= MAX_RAW).then_some(n)
}

/// An optional '-' followed by decimal digits, fitting in an i32.
fn parse_i32(text: &[u8]) -> Option<i32> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
        if n > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let n = if negative { -n } else { n };
    i32::try_from(n).ok()
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
