//! The shared pieces of a command line: parameters (`split_args`, `int`, ...), the four
//! forms of an extended command (`Form`) and the response under construction (`Resp`).
//! Every family parses its parameters with these.

/// Response under construction.
#[derive(Default)]
pub(crate) struct Resp {
    pub(crate) buf: Vec<u8>,
    /// Frames written after the response (e.g. `+CMQTTSTART: 0` after OK).
    pub(crate) after: Vec<String>,
    /// Frames the network produces (e.g. a QoS 0 `+CMQTTPUB: 0,0`): after the response and
    /// the network timing (`Shared::write_net`).
    pub(crate) net: Vec<String>,
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
    /// A URC that comes from the network: it follows the response after the network delay.
    pub(crate) fn net_after(&mut self, s: String) {
        self.net.push(s);
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
#[derive(Clone)]
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

/// An extended command: its name (upper case, without `+`) and its form.
#[derive(Clone, Copy)]
pub(crate) struct Cmd<'a> {
    pub(crate) name: &'a str,
    pub(crate) form: Form<'a>,
}

#[derive(Clone, Copy)]
pub(crate) enum Form<'a> {
    Exec,
    Read,
    Test,
    Write(&'a str),
}

/// Splits parameters strictly, as the Alibaba firmware takes them: a `"` inside a quoted
/// one ends it (the manuals allow none) and only a separator may follow a closing quote;
/// with `quote_escape`, `\"` inside quotes stands for a quote (`AT+CCSEND`'s message,
/// seeds/000 §4.5) and any other backslash is taken as it is. `None` for a line that
/// breaks these rules or leaves a quote open.
pub(crate) fn split_args_strict(s: &str, quote_escape: bool) -> Option<Vec<Arg>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        // After a closing quote only the separator may follow: `"a"bc"` is no parameter.
        if was_quoted && !quoted && !matches!(c, ',' | ' ' | '\t') {
            return None;
        }
        if quoted {
            match c {
                '\\' if quote_escape => match chars.next() {
                    Some('"') => cur.push('"'),
                    Some(n) => {
                        cur.push('\\');
                        cur.push(n);
                    }
                    None => return None,
                },
                '"' => quoted = false,
                _ => cur.push(c),
            }
        } else {
            match c {
                '"' => {
                    quoted = true;
                    was_quoted = true;
                }
                ',' => {
                    out.push(Arg {
                        text: std::mem::take(&mut cur).trim().to_string(),
                        quoted: was_quoted,
                    });
                    was_quoted = false;
                }
                _ => cur.push(c),
            }
        }
    }
    if quoted {
        return None;
    }
    let last = if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    };
    out.push(Arg {
        text: last,
        quoted: was_quoted,
    });
    Some(out)
}

/// Unquoted integer parameter `i` within `lo..=hi` (of [`split_args_strict`]).
pub(crate) fn int_arg(a: &[Arg], i: usize, lo: i64, hi: i64) -> Option<i64> {
    let arg = a.get(i)?;
    if arg.quoted {
        return None;
    }
    let v: i64 = arg.text.trim().parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

/// Quoted string parameter `i`, not empty and at most `max` bytes long.
pub(crate) fn str_arg(a: &[Arg], i: usize, max: usize) -> Option<String> {
    let arg = a.get(i)?;
    (arg.quoted && !arg.text.is_empty() && arg.text.len() <= max).then(|| arg.text.clone())
}

/// The text of parameter `i` when it was quoted.
pub(crate) fn quoted_arg(a: &[Arg], i: usize) -> Option<String> {
    a.get(i)
        .filter(|arg| arg.quoted)
        .map(|arg| arg.text.clone())
}

/// Bytes written as hex digits, two a byte (u-blox hex will messages and publishes, SIM7080
/// `AT+SMPUB` in hex mode); `None` for an odd count or another character.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
