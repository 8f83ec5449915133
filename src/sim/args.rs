//! The shared pieces of a command line: parameters (`split_args`, `int`, ...), the four
//! forms of an extended command (`Form`) and the response under construction (`Resp`).
//! Every family parses its parameters with these.

/// Response under construction.
#[derive(Default)]
pub(crate) struct Resp {
    pub(crate) buf: Vec<u8>,
    /// Frames written after the response (e.g. `+CMQTTSTART: 0` after OK).
    pub(crate) after: Vec<String>,
}

impl Resp {
    pub(crate) fn line(&mut self, s: &str) {
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
    pub(crate) fn ok(&mut self) {
        self.line("OK");
    }
    pub(crate) fn error(&mut self) {
        self.line("ERROR");
    }
    /// One information line, then `OK`.
    pub(crate) fn answer(&mut self, s: &str) {
        self.line(s);
        self.ok();
    }
    pub(crate) fn urc_after(&mut self, s: String) {
        self.after.push(s);
    }
    pub(crate) fn prompt(&mut self) {
        self.buf.extend_from_slice(b"\r\n>");
    }
    /// Quectel's prompt: `>` and a space.
    pub(crate) fn prompt_space(&mut self) {
        self.buf.extend_from_slice(b"\r\n> ");
    }
    /// Bytes as they are (a raw payload inside a line).
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
}

/// One parsed parameter.
pub(crate) struct Arg {
    pub(crate) text: String,
    /// Whether the parameter was written between quotes (a string parameter must be).
    pub(crate) quoted: bool,
}

pub(crate) fn split_args(s: &str) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut had_quote = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                had_quote = true;
            }
            ',' if !quoted => {
                out.push(Arg {
                    text: std::mem::take(&mut cur).trim().to_owned(),
                    quoted: std::mem::take(&mut had_quote),
                });
            }
            _ => cur.push(c),
        }
    }
    out.push(Arg {
        text: cur.trim().to_owned(),
        quoted: had_quote,
    });
    out
}

/// Integer parameter `i` within `lo..=hi`.
pub(crate) fn int(args: &[Arg], i: usize, lo: i64, hi: i64) -> Option<i64> {
    let v: i64 = args.get(i)?.text.parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

/// Optional integer: `default` when absent or empty, None when invalid.
pub(crate) fn opt_int(args: &[Arg], i: usize, lo: i64, hi: i64, default: i64) -> Option<i64> {
    match args.get(i) {
        None => Some(default),
        Some(a) if a.text.is_empty() => Some(default),
        Some(_) => int(args, i, lo, hi),
    }
}

pub(crate) fn num(args: &[Arg], i: usize) -> Option<i64> {
    args.get(i)?.text.parse().ok()
}

#[derive(Clone, Copy)]
pub(crate) enum Form<'a> {
    Exec,
    Read,
    Test,
    Write(&'a str),
}
