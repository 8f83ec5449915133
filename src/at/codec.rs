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
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PrefixRule {
    prefix: Vec<u8>,
    len_field: usize,
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
        let (prefix, len_field, inline) = match &rule {
            RawRule::Trailing { prefix, len_field } => (prefix, *len_field, false),
            RawRule::Inline { prefix, len_field } => (prefix, *len_field, true),
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
                self.scan = Scan::Fields(FieldScan::new(self.inline[rule].len_field, len));
                return i + len;
            }
            self.scan = Scan::Off;
            return i;
        }
        let mut j = i;
        while j < data.len() {
            let b = data[j];
            if b == CR || b == LF {
                self.complete_buffered(b, out);
                return j + 1;
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
                    let len_field = self.inline[rule].len_field;
                    self.scan = Scan::Fields(FieldScan::new(len_field, self.line.len()));
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
            if b == CR || b == LF {
                self.complete_buffered(b, out);
                return j + 1;
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
    fn new(len_field: usize, field_start: usize) -> Self {
        FieldScan {
            len_field,
            field: 0,
            in_quote: false,
            field_start,
            len: None,
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(s: &[u8]) -> Frame {
        Frame::Line(s.to_vec())
    }

    fn raw(header: &[u8], data: &[u8]) -> Frame {
        Frame::Raw {
            header: header.to_vec(),
            data: data.to_vec(),
        }
    }

    fn ok() -> Frame {
        Frame::Final(FinalResult::Ok)
    }

    fn simcom_rules() -> Vec<RawRule> {
        vec![
            RawRule::Trailing {
                prefix: b"+CMQTTRXTOPIC:".to_vec(),
                len_field: 1,
            },
            RawRule::Trailing {
                prefix: b"+CMQTTRXPAYLOAD:".to_vec(),
                len_field: 1,
            },
        ]
    }

    fn quectel_rule() -> RawRule {
        RawRule::Inline {
            prefix: b"+QMTRECV:".to_vec(),
            len_field: 3,
        }
    }

    fn all_rules() -> Vec<RawRule> {
        let mut rules = simcom_rules();
        rules.push(quectel_rule());
        rules
    }

    fn decode_with(rules: Vec<RawRule>, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut d = Decoder::with_rules(rules);
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        out
    }

    /// Decodes `input` whole, one byte at a time, and split at every single
    /// position; all must agree. Returns the frames.
    fn decode_all_ways(rules: Vec<RawRule>, input: &[u8]) -> Vec<Frame> {
        let whole = decode_with(rules.clone(), &[input]);
        let mut d = Decoder::with_rules(rules.clone());
        let mut bytewise = Vec::new();
        for b in input {
            d.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(bytewise, whole, "byte-at-a-time differs");
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            let split = decode_with(rules.clone(), &[a, b]);
            assert_eq!(split, whole, "split at {cut} differs");
        }
        whole
    }

    fn decode(input: &[u8]) -> Vec<Frame> {
        decode_all_ways(all_rules(), input)
    }

    fn fixture(bytes: &[u8]) -> &[u8] {
        if let Some(rest) = bytes.strip_prefix(b"#---\n") {
            return rest;
        }
        let sep = b"\n#---\n";
        let at = bytes
            .windows(sep.len())
            .position(|w| w == sep)
            .expect("fixture has no #--- separator");
        &bytes[at + sep.len()..]
    }

    #[test]
    fn simple_ok() {
        assert_eq!(decode(b"\r\nOK\r\n"), vec![ok()]);
    }

    #[test]
    fn command_echo_ok_then_urc() {
        // AT+CMQTTSTART with echo on (A7600 manual, chapter 3.1).
        assert_eq!(
            decode(b"AT+CMQTTSTART\r\r\nOK\r\n\r\n+CMQTTSTART: 0\r\n"),
            vec![line(b"AT+CMQTTSTART"), ok(), line(b"+CMQTTSTART: 0")]
        );
    }

    #[test]
    fn urc_between_command_and_ok() {
        assert_eq!(
            decode(b"AT+CSQ\r\r\n+CMQTTCONNLOST: 0,1\r\n+CSQ: 23,0\r\n\r\nOK\r\n"),
            vec![
                line(b"AT+CSQ"),
                line(b"+CMQTTCONNLOST: 0,1"),
                line(b"+CSQ: 23,0"),
                ok()
            ]
        );
    }

    #[test]
    fn all_final_results() {
        let input = b"OK\r\nERROR\r\nNO CARRIER\r\nBUSY\r\nNO ANSWER\r\nNO DIALTONE\r\n\
+CMS ERROR: 500\r\nOK \r\n OK\r\nok\r\nNO\r\n";
        assert_eq!(
            decode(input),
            vec![
                ok(),
                Frame::Final(FinalResult::Error),
                Frame::Final(FinalResult::NoCarrier),
                Frame::Final(FinalResult::Busy),
                Frame::Final(FinalResult::NoAnswer),
                Frame::Final(FinalResult::NoDialtone),
                Frame::Final(FinalResult::CmsError(ErrorCode::Numeric(500))),
                line(b"OK "),
                line(b" OK"),
                line(b"ok"),
                line(b"NO"),
            ]
        );
        assert!(FinalResult::Ok.is_ok());
        assert!(!FinalResult::Error.is_ok());
        assert!(!FinalResult::CmeError(ErrorCode::Numeric(0)).is_ok());
    }

    #[test]
    fn cme_error_numeric() {
        assert_eq!(
            decode(b"\r\n+CME ERROR: 10\r\n"),
            vec![Frame::Final(FinalResult::CmeError(ErrorCode::Numeric(10)))]
        );
    }

    #[test]
    fn cme_error_negative() {
        assert_eq!(
            decode(b"\r\n+CME ERROR: -14\r\n"),
            vec![Frame::Final(FinalResult::CmeError(ErrorCode::Numeric(-14)))]
        );
    }

    #[test]
    fn cme_error_text() {
        assert_eq!(
            decode(
                b"\r\n+CME ERROR: SIM not inserted \r\n+CME ERROR:\r\n+CMS ERROR: 99999999999\r\n"
            ),
            vec![
                Frame::Final(FinalResult::CmeError(ErrorCode::Text(
                    "SIM not inserted".into()
                ))),
                Frame::Final(FinalResult::CmeError(ErrorCode::Text(String::new()))),
                Frame::Final(FinalResult::CmsError(ErrorCode::Text("99999999999".into()))),
            ]
        );
    }

    #[test]
    fn error_code_limits() {
        assert_eq!(
            ErrorCode::parse(b" -2147483648"),
            ErrorCode::Numeric(i32::MIN)
        );
        assert_eq!(
            ErrorCode::parse(b"2147483647"),
            ErrorCode::Numeric(i32::MAX)
        );
        assert_eq!(
            ErrorCode::parse(b"2147483648"),
            ErrorCode::Text("2147483648".into())
        );
        assert_eq!(ErrorCode::parse(b"-"), ErrorCode::Text("-".into()));
        assert_eq!(ErrorCode::parse(b"+3"), ErrorCode::Text("+3".into()));
    }

    #[test]
    fn bare_lf_lines() {
        assert_eq!(
            decode(b"+CSQ: 23,0\nOK\n\n+CREG: 0,1\n"),
            vec![line(b"+CSQ: 23,0"), ok(), line(b"+CREG: 0,1")]
        );
    }

    #[test]
    fn bare_cr_and_cr_cr_lf_lines() {
        assert_eq!(
            decode(b"AT\r\r\nOK\r\r\n+CSQ: 1,2\rOK\r"),
            vec![line(b"AT"), ok(), line(b"+CSQ: 1,2"), ok()]
        );
    }

    #[test]
    fn spaces_are_kept() {
        assert_eq!(
            decode(b"  +CSQ: 23,0  \r\n\t\r\n"),
            vec![line(b"  +CSQ: 23,0  "), line(b"\t")]
        );
    }

    #[test]
    fn garbage_before_ok() {
        assert_eq!(
            decode(b"\x00\xff\xfe\x80garbage\x00\r\nOK\r\n"),
            vec![line(b"\x00\xff\xfe\x80garbage\x00"), ok()]
        );
    }

    #[test]
    fn partial_line_is_held() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.feed(b"\r\n+CSQ: 2", &mut out);
        assert!(out.is_empty());
        assert_eq!(d.buffered(), 7);
        d.feed(b"3,0\r\nO", &mut out);
        assert_eq!(out, vec![line(b"+CSQ: 23,0")]);
        d.feed(b"K\r\n", &mut out);
        assert_eq!(out, vec![line(b"+CSQ: 23,0"), ok()]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn reset_drops_partial_state() {
        let mut d = Decoder::with_rules(all_rules());
        let mut out = Vec::new();
        d.feed(b"+CMQTTRXPAYLOAD: 0,10\r\nabc", &mut out);
        assert!(out.is_empty());
        assert_eq!(d.buffered(), 21 + 3);
        d.reset();
        assert_eq!(d.buffered(), 0);
        d.feed(b"OK\r\n", &mut out);
        assert_eq!(out, vec![ok()]);
    }

    #[test]
    fn bytewise_feed() {
        let input = b"AT+CMQTTSTART\r\r\nOK\r\n\r\n+CMQTTSTART: 0\r\n\r\n>\
\r\nOK\r\n+CMQTTRXPAYLOAD: 0,4\r\n\r\nOK\r\n+QMTRECV: 0,1,\"t\",3,\"a\"\r\"\r\n";
        let mut d = Decoder::with_rules(all_rules());
        let mut out = Vec::new();
        for b in input.iter() {
            d.feed(&[*b], &mut out);
        }
        assert_eq!(
            out,
            vec![
                line(b"AT+CMQTTSTART"),
                ok(),
                line(b"+CMQTTSTART: 0"),
                Frame::Prompt,
                ok(),
                raw(b"+CMQTTRXPAYLOAD: 0,4", b"\r\nOK"),
                raw(b"+QMTRECV: 0,1,\"t\",3", b"a\"\r"),
            ]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn prompt_simcom_without_space() {
        // AT+CMQTTTOPIC=0,9 then the prompt, then OK once data was sent.
        assert_eq!(decode(b"\r\n>\r\nOK\r\n"), vec![Frame::Prompt, ok()]);
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.feed(b"\r\n>", &mut out);
        assert_eq!(out, vec![Frame::Prompt], "prompt must not wait for more");
    }

    #[test]
    fn prompt_quectel_with_space() {
        assert_eq!(decode(b"\r\n> "), vec![Frame::Prompt]);
        assert_eq!(decode(b"\r\n>  x\r\n"), vec![Frame::Prompt, line(b" x")]);
    }

    #[test]
    fn prompt_with_space_split_across_feeds() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.feed(b"\r\n>", &mut out);
        assert_eq!(out, vec![Frame::Prompt]);
        d.feed(b" ", &mut out);
        d.feed(b"\r\nOK\r\n", &mut out);
        assert_eq!(out, vec![Frame::Prompt, ok()]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn prompt_only_at_line_start() {
        assert_eq!(
            decode(b"a>b\r\n>>\r\n"),
            vec![line(b"a>b"), Frame::Prompt, Frame::Prompt]
        );
        assert_eq!(decode(b">abc\r\n"), vec![Frame::Prompt, line(b"abc")]);
    }

    #[test]
    fn a7600_rx_block_from_manual() {
        let input = b"\r\n+CMQTTRXSTART: 0,9,60\r\n+CMQTTRXTOPIC: 0,9\r\nsimcommsg\r\n\
+CMQTTRXPAYLOAD: 0,60\r\n012345678901234567890123456789012345678901234567890123456789\r\n\
+CMQTTRXEND: 0\r\n";
        assert_eq!(
            decode_all_ways(simcom_rules(), input),
            vec![
                line(b"+CMQTTRXSTART: 0,9,60"),
                raw(b"+CMQTTRXTOPIC: 0,9", b"simcommsg"),
                raw(
                    b"+CMQTTRXPAYLOAD: 0,60",
                    b"012345678901234567890123456789012345678901234567890123456789"
                ),
                line(b"+CMQTTRXEND: 0"),
            ]
        );
    }

    #[test]
    fn rx_block_without_rules_is_lines() {
        let input = b"+CMQTTRXTOPIC: 0,9\r\nsimcommsg\r\n";
        assert_eq!(
            decode_all_ways(Vec::new(), input),
            vec![line(b"+CMQTTRXTOPIC: 0,9"), line(b"simcommsg")]
        );
    }

    #[test]
    fn payload_contains_ok() {
        let input = b"+CMQTTRXPAYLOAD: 0,11\r\n\r\nOK\r\n>\r\nab\r\n\r\nOK\r\n";
        assert_eq!(
            decode(input),
            vec![raw(b"+CMQTTRXPAYLOAD: 0,11", b"\r\nOK\r\n>\r\nab"), ok()]
        );
    }

    #[test]
    fn trailing_block_with_crlf_inside() {
        let input = b"+CMQTTRXPAYLOAD: 0,6\r\n\r\n\r\n\r\n+CMQTTRXEND: 0\r\n";
        assert_eq!(
            decode(input),
            vec![
                raw(b"+CMQTTRXPAYLOAD: 0,6", b"\r\n\r\n\r\n"),
                line(b"+CMQTTRXEND: 0")
            ]
        );
    }

    #[test]
    fn trailing_header_terminators() {
        // bare LF: nothing swallowed
        assert_eq!(
            decode(b"+CMQTTRXPAYLOAD: 0,2\n\nxOK\r\n"),
            vec![raw(b"+CMQTTRXPAYLOAD: 0,2", b"\nx"), ok()]
        );
        // bare CR followed by LF: the LF is swallowed
        assert_eq!(
            decode(b"+CMQTTRXPAYLOAD: 0,2\r\nab"),
            vec![raw(b"+CMQTTRXPAYLOAD: 0,2", b"ab")]
        );
        // bare CR not followed by LF
        assert_eq!(
            decode(b"+CMQTTRXPAYLOAD: 0,2\rab"),
            vec![raw(b"+CMQTTRXPAYLOAD: 0,2", b"ab")]
        );
    }

    #[test]
    fn trailing_zero_length() {
        assert_eq!(
            decode(b"+CMQTTRXPAYLOAD: 0,0\r\n+CMQTTRXEND: 0\r\n"),
            vec![raw(b"+CMQTTRXPAYLOAD: 0,0", b""), line(b"+CMQTTRXEND: 0")]
        );
        assert_eq!(
            decode(b"+CMQTTRXPAYLOAD: 0,0\r"),
            vec![raw(b"+CMQTTRXPAYLOAD: 0,0", b"")]
        );
    }

    #[test]
    fn trailing_bad_length_is_a_line() {
        assert_eq!(
            decode(
                b"+CMQTTRXPAYLOAD: 0,abc\r\n+CMQTTRXPAYLOAD: 0\r\n+CMQTTRXPAYLOAD: 0,99999999\r\n\
+CMQTTRXPAYLOAD: 0,-1\r\n+CMQTTRXPAYLOAD: 0,\r\nOK\r\n"
            ),
            vec![
                line(b"+CMQTTRXPAYLOAD: 0,abc"),
                line(b"+CMQTTRXPAYLOAD: 0"),
                line(b"+CMQTTRXPAYLOAD: 0,99999999"),
                line(b"+CMQTTRXPAYLOAD: 0,-1"),
                line(b"+CMQTTRXPAYLOAD: 0,"),
                ok()
            ]
        );
    }

    #[test]
    fn trailing_length_at_the_limit() {
        let header = format!("+CMQTTRXPAYLOAD: 0,{MAX_RAW}");
        let mut d = Decoder::with_rules(simcom_rules());
        let mut out = Vec::new();
        d.feed(header.as_bytes(), &mut out);
        d.feed(b"\r\n", &mut out);
        let chunk = vec![b'z'; 1 << 20];
        for _ in 0..16 {
            d.feed(&chunk, &mut out);
        }
        assert_eq!(out.len(), 1);
        match &out[0] {
            Frame::Raw { header: h, data } => {
                assert_eq!(h, header.as_bytes());
                assert_eq!(data.len(), MAX_RAW);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn trailing_prefix_without_colon() {
        let rules = vec![RawRule::Trailing {
            prefix: b"+CMQTTRXPAYLOAD".to_vec(),
            len_field: 1,
        }];
        assert_eq!(
            decode_all_ways(rules, b"+CMQTTRXPAYLOAD: 0,3\r\nabc"),
            vec![raw(b"+CMQTTRXPAYLOAD: 0,3", b"abc")]
        );
    }

    #[test]
    fn inline_quoted_payload() {
        assert_eq!(
            decode(b"\r\n+QMTRECV: 0,1,\"topic/a\",5,\"hello\"\r\nOK\r\n"),
            vec![raw(b"+QMTRECV: 0,1,\"topic/a\",5", b"hello"), ok()]
        );
    }

    #[test]
    fn inline_quoted_payload_with_quotes_and_crlf() {
        let input = b"+QMTRECV: 0,1,\"a,b\",12,\"\"x\"\r\nOK\r\n>,\"\"\r\n\r\nOK\r\n";
        assert_eq!(
            decode(input),
            vec![
                raw(b"+QMTRECV: 0,1,\"a,b\",12", b"\"x\"\r\nOK\r\n>,\""),
                ok()
            ]
        );
    }

    #[test]
    fn inline_zero_length_and_missing_close_quote() {
        assert_eq!(
            decode(b"+QMTRECV: 0,1,\"t\",0,\"\"\r\n"),
            vec![raw(b"+QMTRECV: 0,1,\"t\",0", b"")]
        );
        // No closing quote: data by count, parsing resumes after the bytes.
        assert_eq!(
            decode(b"+QMTRECV: 0,1,\"t\",2,\"abcd\r\n>x\r\n"),
            vec![
                raw(b"+QMTRECV: 0,1,\"t\",2", b"ab"),
                line(b"cd"),
                Frame::Prompt,
                line(b"x")
            ]
        );
        assert_eq!(
            decode(b"+QMTRECV: 0,1,\"t\",2,\"ab>\r\n"),
            vec![raw(b"+QMTRECV: 0,1,\"t\",2", b"ab"), Frame::Prompt]
        );
    }

    #[test]
    fn inline_without_payload_is_a_line() {
        assert_eq!(
            decode(
                b"+QMTRECV: 0,1\r\n+QMTRECV: 0,1,\"t\"\r\n+QMTRECV: 0,1,\"t\",5\r\n\
+QMTRECV: 0,1,\"t\",x,\"ab\"\r\n+QMTRECV: 0,1,\"t\",2, \"ab\"\r\n+QMTRECV\r\n+QMTRECV:\r\nOK\r\n"
            ),
            vec![
                line(b"+QMTRECV: 0,1"),
                line(b"+QMTRECV: 0,1,\"t\""),
                line(b"+QMTRECV: 0,1,\"t\",5"),
                line(b"+QMTRECV: 0,1,\"t\",x,\"ab\""),
                line(b"+QMTRECV: 0,1,\"t\",2, \"ab\""),
                line(b"+QMTRECV"),
                line(b"+QMTRECV:"),
                ok()
            ]
        );
    }

    #[test]
    fn inline_line_end_inside_topic_quotes_ends_line() {
        assert_eq!(
            decode(b"+QMTRECV: 0,1,\"to\r\npic\",3,\"abc\"\r\n"),
            vec![line(b"+QMTRECV: 0,1,\"to"), line(b"pic\",3,\"abc\"")]
        );
    }

    #[test]
    fn inline_rules_with_nested_prefixes() {
        let rules = vec![
            RawRule::Inline {
                prefix: b"+QMTRECV: 1".to_vec(),
                len_field: 0,
            },
            RawRule::Inline {
                prefix: b"+QMTRECV:".to_vec(),
                len_field: 3,
            },
        ];
        // The shorter prefix wins, whichever order the rules were given in.
        let input = b"+QMTRECV: 1,2,\"t\",1,\"x\"\r\n+QMTREC\r\n";
        assert_eq!(
            decode_all_ways(rules, input),
            vec![raw(b"+QMTRECV: 1,2,\"t\",1", b"x"), line(b"+QMTREC")]
        );
    }

    #[test]
    fn add_rule_is_idempotent_and_rejects_bad_prefixes() {
        let mut d = Decoder::new();
        d.add_rule(quectel_rule());
        d.add_rule(quectel_rule());
        d.add_rule(RawRule::Trailing {
            prefix: Vec::new(),
            len_field: 0,
        });
        d.add_rule(RawRule::Trailing {
            prefix: b"+A\r".to_vec(),
            len_field: 0,
        });
        assert_eq!(d.rules.len(), 1);
        assert_eq!(d.inline.len(), 1);
        assert!(d.trailing.is_empty());
    }

    #[test]
    fn overlong_line_is_cut() {
        let mut input = vec![b'a'; MAX_LINE + 10];
        input.extend_from_slice(b"\r\nOK\r\n");
        let expected = vec![line(&vec![b'a'; MAX_LINE]), line(&[b'a'; 10]), ok()];
        assert_eq!(decode_with(Vec::new(), &[&input]), expected);
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for chunk in input.chunks(1000) {
            d.feed(chunk, &mut out);
        }
        assert_eq!(out, expected);
        let mut d = Decoder::with_rules(all_rules());
        let mut out = Vec::new();
        for b in &input {
            d.feed(std::slice::from_ref(b), &mut out);
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn overlong_inline_header_is_cut() {
        let mut input = b"+QMTRECV: 0,1,\"".to_vec();
        input.resize(MAX_LINE + 5, b't');
        input.extend_from_slice(b"\",1,\"x\"\r\n");
        let whole = decode_with(all_rules(), &[&input]);
        let mut d = Decoder::with_rules(all_rules());
        let mut bytewise = Vec::new();
        for b in &input {
            d.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(whole, bytewise);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0], line(&input[..MAX_LINE]));
    }

    #[test]
    fn fixture_a7600_ch3_1() {
        let stream = fixture(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/cmqtt/a7600_ch3_1.txt"
        )));
        let p = Frame::Prompt;
        let expected = vec![
            // AT+CMQTTSTART
            ok(),
            line(b"+CMQTTSTART: 0"),
            // AT+CMQTTACCQ=0,"client test0"
            ok(),
            // AT+CMQTTWILLTOPIC=0,10 / AT+CMQTTWILLMSG=0,6,1
            p.clone(),
            ok(),
            p.clone(),
            ok(),
            // AT+CMQTTCONNECT=0,"tcp://test.mosquitto.org:1883",60,1
            ok(),
            line(b"+CMQTTCONNECT: 0,0"),
            // AT+CMQTTSUB=0,9,1
            p.clone(),
            ok(),
            line(b"+CMQTTSUB: 0,0"),
            // AT+CMQTTTOPIC=0,9 / AT+CMQTTPAYLOAD=0,60
            p.clone(),
            ok(),
            p.clone(),
            ok(),
            // AT+CMQTTPUB=0,1,60
            ok(),
            line(b"+CMQTTPUB: 0,0"),
            // message received from the server
            line(b"+CMQTTRXSTART: 0,9,60"),
            raw(b"+CMQTTRXTOPIC: 0,9", b"simcommsg"),
            raw(b"+CMQTTRXPAYLOAD: 0,60", &b"0123456789".repeat(6)),
            line(b"+CMQTTRXEND: 0"),
            // AT+CMQTTSUBTOPIC=0,9,1 / AT+CMQTTSUB=0
            p.clone(),
            ok(),
            ok(),
            line(b"+CMQTTSUB: 0,0"),
            // AT+CMQTTUNSUB=0,9,0
            p.clone(),
            ok(),
            line(b"+CMQTTUNSUB: 0,0"),
            // AT+CMQTTDISC=0,120 / AT+CMQTTREL=0 / AT+CMQTTSTOP
            ok(),
            line(b"+CMQTTDISC: 0,0"),
            ok(),
            ok(),
            line(b"+CMQTTSTOP: 0"),
        ];
        assert_eq!(decode_all_ways(simcom_rules(), stream), expected);
    }

    #[test]
    fn fixture_a7600_rx_multipart() {
        let stream = fixture(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/cmqtt/a7600_rx_multipart.txt"
        )));
        let mut p1: Vec<u8> = (0..=255u8).collect();
        p1.extend_from_within(..);
        let mut p2 = b"\r\n".repeat(10);
        p2.extend_from_slice(&b"\x00\xff".repeat(50));
        let expected = vec![
            line(b"+CMQTTRXSTART: 1,39,641"),
            raw(b"+CMQTTRXTOPIC: 1,19", b"sensors/building-7/"),
            raw(b"+CMQTTRXTOPIC: 1,20", b"floor-3/room-12/temp"),
            raw(b"+CMQTTRXPAYLOAD: 1,512", &p1),
            raw(b"+CMQTTRXPAYLOAD: 1,120", &p2),
            raw(b"+CMQTTRXPAYLOAD: 1,9", b"tail-part"),
            line(b"+CMQTTRXEND: 1"),
        ];
        assert_eq!(decode_all_ways(simcom_rules(), stream), expected);
    }

    #[test]
    fn fixture_a7600_rx_payload_ok() {
        let stream = fixture(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/cmqtt/a7600_rx_payload_ok.txt"
        )));
        let payload = b"x\r\nOK\r\n>\r\n> \r\nERROR\r\n+CMQTTRXEND: 0\r\n+CME ERROR: 3\r\n>";
        let expected = vec![
            line(format!("+CMQTTRXSTART: 0,4,{}", payload.len()).as_bytes()),
            raw(b"+CMQTTRXTOPIC: 0,4", b"a/>b"),
            raw(
                format!("+CMQTTRXPAYLOAD: 0,{}", payload.len()).as_bytes(),
                payload,
            ),
            line(b"+CMQTTRXEND: 0"),
            ok(),
        ];
        assert_eq!(decode_all_ways(simcom_rules(), stream), expected);
    }

    // ---- property tests ----------------------------------------------------

    /// A generated frame and the bytes the modem sends for it.
    #[derive(Debug, Clone)]
    struct Gen {
        bytes: Vec<u8>,
        frame: Frame,
    }

    fn terminator() -> impl Strategy<Value = &'static [u8]> {
        prop_oneof![
            Just(b"\r\n".as_slice()),
            Just(b"\n".as_slice()),
            Just(b"\r".as_slice()),
            Just(b"\r\r\n".as_slice()),
        ]
    }

    fn gen_line() -> impl Strategy<Value = Gen> {
        let fixed = prop_oneof![
            Just(b"+CSQ: 23,0".to_vec()),
            Just(b"AT+CMQTTSTART".to_vec()),
            Just(b"+CMQTTPUB: 0,0".to_vec()),
            Just(b"+CMQTTRXSTART: 0,9,60".to_vec()),
            Just(b"+CMQTTRXEND: 0".to_vec()),
            Just(b"+QMTSTAT: 0,1".to_vec()),
            Just(b"+QMTRECV: 0,1".to_vec()),
            Just(b"+QMTRECV: 0,1,\"topic\",x,\"p\"".to_vec()),
            Just(b"+CMQTTRXPAYLOAD: 0,zz".to_vec()),
            Just(b"OK ".to_vec()),
        ];
        let random = (
            prop::sample::select(b"ATat0123456789+QMC".to_vec()),
            prop::collection::vec(
                any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n'),
                0..40,
            ),
        )
            .prop_map(|(first, rest)| {
                let mut v = vec![first];
                v.extend(rest);
                v
            })
            .prop_filter("not a final result or rule header", |v| {
                !matches!(
                    v.as_slice(),
                    b"OK" | b"ERROR" | b"BUSY" | b"NO CARRIER" | b"NO ANSWER" | b"NO DIALTONE"
                ) && !v.starts_with(b"+CME ERROR:")
                    && !v.starts_with(b"+CMS ERROR:")
                    && !v.starts_with(b"+QMTRECV:")
                    && !v.starts_with(b"+CMQTTRXTOPIC:")
                    && !v.starts_with(b"+CMQTTRXPAYLOAD:")
            });
        (prop_oneof![fixed, random], terminator()).prop_map(|(text, term)| {
            let mut bytes = text.clone();
            bytes.extend_from_slice(term);
            Gen {
                bytes,
                frame: Frame::Line(text),
            }
        })
    }

    fn gen_final() -> impl Strategy<Value = Gen> {
        let finals = prop_oneof![
            Just((b"OK".to_vec(), FinalResult::Ok)),
            Just((b"ERROR".to_vec(), FinalResult::Error)),
            Just((b"NO CARRIER".to_vec(), FinalResult::NoCarrier)),
            Just((b"BUSY".to_vec(), FinalResult::Busy)),
            Just((b"NO ANSWER".to_vec(), FinalResult::NoAnswer)),
            Just((b"NO DIALTONE".to_vec(), FinalResult::NoDialtone)),
            any::<i32>().prop_map(|n| (
                format!("+CME ERROR: {n}").into_bytes(),
                FinalResult::CmeError(ErrorCode::Numeric(n))
            )),
            any::<u16>().prop_map(|n| (
                format!("+CMS ERROR:{n}").into_bytes(),
                FinalResult::CmsError(ErrorCode::Numeric(i32::from(n)))
            )),
            Just((
                b"+CME ERROR: SIM not inserted".to_vec(),
                FinalResult::CmeError(ErrorCode::Text("SIM not inserted".into()))
            )),
        ];
        (any::<bool>(), finals, terminator()).prop_map(|(lead, (text, result), term)| {
            let mut bytes = if lead { b"\r\n".to_vec() } else { Vec::new() };
            bytes.extend_from_slice(&text);
            bytes.extend_from_slice(term);
            Gen {
                bytes,
                frame: Frame::Final(result),
            }
        })
    }

    fn gen_prompt() -> impl Strategy<Value = Gen> {
        // SIMCom sends ">" and Quectel "> "; a modem always sends a line end
        // after the data has been taken, so one follows here too.
        (any::<bool>(), any::<bool>()).prop_map(|(space, lead)| {
            let mut bytes = if lead { b"\r\n".to_vec() } else { Vec::new() };
            bytes.push(b'>');
            if space {
                bytes.push(b' ');
            }
            bytes.extend_from_slice(b"\r\n");
            Gen {
                bytes,
                frame: Frame::Prompt,
            }
        })
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        let tricky = prop::sample::select(vec![
            b"\r\nOK\r\n".to_vec(),
            b"\r".to_vec(),
            b"\n".to_vec(),
            b">".to_vec(),
            b"> ".to_vec(),
            b"\"".to_vec(),
            b",".to_vec(),
            b"ERROR".to_vec(),
            b"+QMTRECV: 0,1,\"t\",1,\"".to_vec(),
            b"+CMQTTRXPAYLOAD: 0,3\r\n".to_vec(),
        ]);
        let piece = prop_oneof![tricky, prop::collection::vec(any::<u8>(), 0..24)];
        prop::collection::vec(piece, 0..6).prop_map(|v| v.concat())
    }

    fn gen_trailing() -> impl Strategy<Value = Gen> {
        (
            prop::sample::select(vec!["+CMQTTRXTOPIC:", "+CMQTTRXPAYLOAD:"]),
            0u8..2,
            payload(),
            prop::sample::select(vec!["\r\n", "\n", "\r"]),
            any::<bool>(),
        )
            .prop_map(|(prefix, client, data, term, trailing_crlf)| {
                // After a bare CR an LF is swallowed, so such data cannot start
                // with LF.
                let term = if term == "\r" && data.first() == Some(&b'\n') {
                    "\r\n"
                } else {
                    term
                };
                let header = format!("{prefix} {client},{}", data.len()).into_bytes();
                let mut bytes = header.clone();
                bytes.extend_from_slice(term.as_bytes());
                bytes.extend_from_slice(&data);
                if trailing_crlf {
                    bytes.extend_from_slice(b"\r\n");
                }
                Gen {
                    bytes,
                    frame: Frame::Raw { header, data },
                }
            })
    }

    fn gen_inline() -> impl Strategy<Value = Gen> {
        (
            0u8..6,
            0u16..1000,
            "[a-z/]{0,12}(,[a-z]{1,3})?",
            payload(),
            prop::sample::select(vec!["\r\n", "\n", "\r"]),
        )
            .prop_map(|(client, msgid, topic, data, term)| {
                let header =
                    format!("+QMTRECV: {client},{msgid},\"{topic}\",{}", data.len()).into_bytes();
                let mut bytes = header.clone();
                bytes.extend_from_slice(b",\"");
                bytes.extend_from_slice(&data);
                bytes.push(b'"');
                bytes.extend_from_slice(term.as_bytes());
                Gen {
                    bytes,
                    frame: Frame::Raw { header, data },
                }
            })
    }

    fn gen_stream() -> impl Strategy<Value = (Vec<u8>, Vec<Frame>)> {
        let frame = prop_oneof![
            3 => gen_line(),
            2 => gen_final(),
            1 => gen_prompt(),
            2 => gen_trailing(),
            2 => gen_inline(),
        ];
        prop::collection::vec(frame, 0..24).prop_map(|gens| {
            let mut bytes = Vec::new();
            let mut frames = Vec::new();
            for g in gens {
                bytes.extend_from_slice(&g.bytes);
                frames.push(g.frame);
            }
            (bytes, frames)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn chunking_never_changes_frames(
            (stream, expected) in gen_stream(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let whole = decode_with(all_rules(), &[&stream]);
            prop_assert_eq!(&whole, &expected);

            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&stream[last..p]);
                last = p;
            }
            chunks.push(&stream[last..]);
            let chunked = decode_with(all_rules(), &chunks);
            prop_assert_eq!(&chunked, &expected);

            let mut d = Decoder::with_rules(all_rules());
            let mut bytewise = Vec::new();
            for b in &stream {
                d.feed(std::slice::from_ref(b), &mut bytewise);
            }
            prop_assert_eq!(&bytewise, &expected);
            prop_assert_eq!(d.buffered(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_chunking_agrees(
            stream in prop::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    prop::sample::select(b"\r\n>\", 0123456789+QMTRECV:CMQTTRXPAYLOAD".to_vec()),
                ],
                0..300,
            ),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let whole = decode_with(all_rules(), &[&stream]);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&stream[last..p]);
                last = p;
            }
            chunks.push(&stream[last..]);
            prop_assert_eq!(&decode_with(all_rules(), &chunks), &whole);
            let mut d = Decoder::with_rules(all_rules());
            let mut bytewise = Vec::new();
            for b in &stream {
                d.feed(std::slice::from_ref(b), &mut bytewise);
            }
            prop_assert_eq!(&bytewise, &whole);
        }
    }
}
