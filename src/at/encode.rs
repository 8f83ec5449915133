//! Builds AT command lines with safe quoting.
//!
//! Every argument is checked for bytes that would end the command line early,
//! break out of a quoted string or switch the modem into another mode
//! (CR, LF, Ctrl-Z, ESC, NUL, quotes). A refused argument is reported with
//! its 0-based index and the reason; nothing is ever silently altered.

use std::fmt;

const CTRL_Z: char = '\u{1a}';
const ESC: char = '\u{1b}';

/// One parameter of an AT command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    /// Written as decimal.
    Int(i64),
    /// Written in double quotes; refuses '"', ';', CR, LF, Ctrl-Z, ESC and NUL.
    Str(&'a str),
    /// Like [`Arg::Str`], but shown as `"***"` in the masked text.
    Secret(&'a str),
    /// Written unquoted; refuses ',', '"', CR, LF, Ctrl-Z, ESC and NUL.
    Bare(&'a str),
    /// In quotes, with '"' written as `\"` and '\' as `\\`; refuses ';', CR, LF,
    /// Ctrl-Z, ESC and NUL.
    Escaped(&'a str),
    /// Nothing between the commas (an optional parameter left out).
    Empty,
}

/// Why a character cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    DoubleQuote,
    CarriageReturn,
    LineFeed,
    CtrlZ,
    Escape,
    Nul,
    Comma,
    /// `;` separates commands on an AT line (V.250); some firmware splits there even
    /// inside quotes, so it is refused in every quoted argument.
    Semicolon,
    /// A byte outside printable ASCII (only refused in command names).
    NotPrintable(char),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::DoubleQuote => f.write_str("a double quote"),
            Refusal::CarriageReturn => f.write_str("a carriage return (CR)"),
            Refusal::LineFeed => f.write_str("a line feed (LF)"),
            Refusal::CtrlZ => f.write_str("Ctrl-Z (0x1A)"),
            Refusal::Escape => f.write_str("ESC (0x1B)"),
            Refusal::Nul => f.write_str("a NUL byte"),
            Refusal::Comma => f.write_str("a comma"),
            Refusal::Semicolon => f.write_str("';' (it separates AT commands)"),
            Refusal::NotPrintable(c) => write!(f, "the non-printable character {c:?}"),
        }
    }
}

/// A command line could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("command name is empty")]
    EmptyCommand,
    #[error("command name contains {0}")]
    Command(Refusal),
    #[error("argument {index} contains {reason}")]
    Argument { index: usize, reason: Refusal },
    #[error("command line is empty")]
    EmptyLine,
    #[error("command line contains {0}")]
    Line(Refusal),
}

/// A complete command line, ready to be written to the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The bytes to send, ending with a single CR.
    pub bytes: Vec<u8>,
    /// The same text without the CR, with secrets shown as `"***"`.
    pub masked: String,
}

impl CommandLine {
    /// A line typed by a user, e.g. `AT+CSQ`. Trailing CR/LF characters are
    /// dropped; CR, LF, Ctrl-Z and ESC anywhere else are refused. A CR is
    /// appended.
    pub fn raw(text: &str) -> Result<CommandLine, EncodeError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Err(EncodeError::EmptyLine);
        }
        if let Some(reason) = text.chars().find_map(|c| match c {
            '\r' => Some(Refusal::CarriageReturn),
            '\n' => Some(Refusal::LineFeed),
            CTRL_Z => Some(Refusal::CtrlZ),
            ESC => Some(Refusal::Escape),
            _ => None,
        }) {
            return Err(EncodeError::Line(reason));
        }
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\r');
        // Whoever typed it, a password or device secret is shown masked.
        let (masked, _) = super::secrets::mask_line(text);
        Ok(CommandLine { bytes, masked })
    }

    /// The masked text (secrets replaced, no CR).
    pub fn text(&self) -> &str {
        &self.masked
    }
}

/// Characters never allowed inside an argument.
fn control_refusal(c: char) -> Option<Refusal> {
    match c {
        '\r' => Some(Refusal::CarriageReturn),
        '\n' => Some(Refusal::LineFeed),
        CTRL_Z => Some(Refusal::CtrlZ),
        ESC => Some(Refusal::Escape),
        '\0' => Some(Refusal::Nul),
        _ => None,
    }
}

/// Refused inside a plain quoted argument, besides the control characters.
const QUOTED: &[(char, Refusal)] = &[('"', Refusal::DoubleQuote), (';', Refusal::Semicolon)];

fn check(index: usize, s: &str, extra: &[(char, Refusal)]) -> Result<(), EncodeError> {
    for c in s.chars() {
        let reason = control_refusal(c).or_else(|| {
            extra
                .iter()
                .find(|(forbidden, _)| *forbidden == c)
                .map(|(_, r)| *r)
        });
        if let Some(reason) = reason {
            return Err(EncodeError::Argument { index, reason });
        }
    }
    Ok(())
}

/// Builds `command` followed by `=` and the comma-separated arguments (no `=`
/// when `args` is empty), terminated by CR.
///
/// `build("AT+CMQTTACCQ", &[Arg::Int(0), Arg::Str("c")])` gives
/// `AT+CMQTTACCQ=0,"c"\r`.
pub fn build(command: &str, args: &[Arg<'_>]) -> Result<CommandLine, EncodeError> {
    if command.is_empty() {
        return Err(EncodeError::EmptyCommand);
    }
    for c in command.chars() {
        let reason = match c {
            '\r' => Some(Refusal::CarriageReturn),
            '\n' => Some(Refusal::LineFeed),
            '"' => Some(Refusal::DoubleQuote),
            ' '..='~' => None,
            CTRL_Z => Some(Refusal::CtrlZ),
            ESC => Some(Refusal::Escape),
            '\0' => Some(Refusal::Nul),
            other => Some(Refusal::NotPrintable(other)),
        };
        if let Some(reason) = reason {
            return Err(EncodeError::Command(reason));
        }
    }

    let mut text = String::with_capacity(command.len() + 16 * args.len());
    let mut masked = String::new();
    let mut has_secret = false;
    text.push_str(command);
    for (index, arg) in args.iter().enumerate() {
        let sep = if index == 0 { '=' } else { ',' };
        text.push(sep);
        if has_secret {
            masked.push(sep);
        }
        match *arg {
            Arg::Int(n) => {
                let s = n.to_string();
                text.push_str(&s);
                if has_secret {
                    masked.push_str(&s);
                }
            }
            Arg::Str(s) => {
                check(index, s, QUOTED)?;
                push_quoted(&mut text, s);
                if has_secret {
                    push_quoted(&mut masked, s);
                }
            }
            Arg::Secret(s) => {
                check(index, s, QUOTED)?;
                if !has_secret {
                    // Everything written so far is not secret.
                    has_secret = true;
                    masked.push_str(&text);
                }
                push_quoted(&mut text, s);
                masked.push_str("\"***\"");
            }
            Arg::Bare(s) => {
                check(
                    index,
                    s,
                    &[
                        (',', Refusal::Comma),
                        ('"', Refusal::DoubleQuote),
                        (';', Refusal::Semicolon),
                    ],
                )?;
                text.push_str(s);
                if has_secret {
                    masked.push_str(s);
                }
            }
            Arg::Escaped(s) => {
                check(index, s, &[(';', Refusal::Semicolon)])?;
                let start = text.len();
                text.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        text.push('\\');
                    }
                    text.push(c);
                }
                text.push('"');
                if has_secret {
                    let written = text[start..].to_owned();
                    masked.push_str(&written);
                }
            }
            Arg::Empty => {}
        }
    }
    if !has_secret {
        masked = text.clone();
    }
    let mut bytes = text.into_bytes();
    bytes.push(b'\r');
    Ok(CommandLine { bytes, masked })
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    out.push_str(s);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(cmd: &str, args: &[Arg<'_>]) -> String {
        let line = build(cmd, args).unwrap();
        String::from_utf8(line.bytes).unwrap()
    }

    #[test]
    fn no_args_no_equals_sign() {
        assert_eq!(text("AT+CMQTTSTART", &[]), "AT+CMQTTSTART\r");
        assert_eq!(text("AT+CREG?", &[]), "AT+CREG?\r");
    }

    #[test]
    fn int_and_string_exact_bytes() {
        let line = build("AT+CMQTTACCQ", &[Arg::Int(0), Arg::Str("c")]).unwrap();
        assert_eq!(line.bytes, b"AT+CMQTTACCQ=0,\"c\"\r");
        assert_eq!(line.masked, "AT+CMQTTACCQ=0,\"c\"");
        assert_eq!(line.text(), "AT+CMQTTACCQ=0,\"c\"");
    }

    #[test]
    fn negative_and_large_ints() {
        assert_eq!(
            text("AT+X", &[Arg::Int(-5), Arg::Int(i64::MAX)]),
            "AT+X=-5,9223372036854775807\r"
        );
    }

    #[test]
    fn string_with_spaces_and_utf8_kept() {
        assert_eq!(
            text("AT+CMQTTACCQ", &[Arg::Int(0), Arg::Str("client test0 é")]),
            "AT+CMQTTACCQ=0,\"client test0 é\"\r"
        );
    }

    #[test]
    fn empty_arg_leaves_gap() {
        assert_eq!(
            text(
                "AT+CMQTTCONNECT",
                &[
                    Arg::Int(0),
                    Arg::Str("tcp://h:1883"),
                    Arg::Int(60),
                    Arg::Int(1),
                    Arg::Empty,
                    Arg::Secret("pw")
                ]
            ),
            "AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1,,\"pw\"\r"
        );
        assert_eq!(text("AT+X", &[Arg::Int(1), Arg::Empty]), "AT+X=1,\r");
    }

    #[test]
    fn bare_written_unquoted() {
        assert_eq!(
            text(
                "AT+CSSLCFG",
                &[Arg::Str("sslversion"), Arg::Int(0), Arg::Bare("4")]
            ),
            "AT+CSSLCFG=\"sslversion\",0,4\r"
        );
    }

    #[test]
    fn escaped_quotes_and_backslashes() {
        let line = build("AT+X", &[Arg::Escaped(r#"{"a":"b\c"}"#)]).unwrap();
        assert_eq!(line.bytes, b"AT+X=\"{\\\"a\\\":\\\"b\\\\c\\\"}\"\r");
        assert_eq!(line.masked, "AT+X=\"{\\\"a\\\":\\\"b\\\\c\\\"}\"");
    }

    #[test]
    fn secret_is_masked_but_sent() {
        let line = build(
            "AT+CMQTTCONNECT",
            &[
                Arg::Int(0),
                Arg::Str("tcp://broker:1883"),
                Arg::Int(60),
                Arg::Int(1),
                Arg::Str("user"),
                Arg::Secret("hunter2"),
            ],
        )
        .unwrap();
        assert_eq!(
            line.bytes,
            b"AT+CMQTTCONNECT=0,\"tcp://broker:1883\",60,1,\"user\",\"hunter2\"\r"
        );
        assert_eq!(
            line.masked,
            "AT+CMQTTCONNECT=0,\"tcp://broker:1883\",60,1,\"user\",\"***\""
        );
        assert!(!line.text().contains("hunter2"));
    }

    #[test]
    fn secret_in_the_middle_then_other_args() {
        let line = build(
            "AT+X",
            &[
                Arg::Secret("s1"),
                Arg::Int(3),
                Arg::Bare("b"),
                Arg::Escaped("e\""),
                Arg::Empty,
                Arg::Secret("s2"),
                Arg::Str("t"),
            ],
        )
        .unwrap();
        assert_eq!(line.bytes, b"AT+X=\"s1\",3,b,\"e\\\"\",,\"s2\",\"t\"\r");
        assert_eq!(line.masked, "AT+X=\"***\",3,b,\"e\\\"\",,\"***\",\"t\"");
    }

    fn refusal(args: &[Arg<'_>]) -> EncodeError {
        build("AT+X", args).unwrap_err()
    }

    #[test]
    fn str_refusals() {
        let cases = [
            ("a\"b", Refusal::DoubleQuote),
            ("a\rb", Refusal::CarriageReturn),
            ("a\nb", Refusal::LineFeed),
            ("a\u{1a}b", Refusal::CtrlZ),
            ("a\u{1b}b", Refusal::Escape),
            ("a\0b", Refusal::Nul),
            ("a;+CFUN=0", Refusal::Semicolon),
        ];
        for (s, reason) in cases {
            assert_eq!(
                refusal(&[Arg::Int(1), Arg::Str(s)]),
                EncodeError::Argument { index: 1, reason }
            );
            assert_eq!(
                refusal(&[Arg::Secret(s)]),
                EncodeError::Argument { index: 0, reason }
            );
        }
    }

    #[test]
    fn bare_refusals() {
        let cases = [
            ("a,b", Refusal::Comma),
            ("a\"b", Refusal::DoubleQuote),
            ("a\rb", Refusal::CarriageReturn),
            ("a\nb", Refusal::LineFeed),
            ("\u{1a}", Refusal::CtrlZ),
            ("\u{1b}", Refusal::Escape),
            ("\0", Refusal::Nul),
            (";", Refusal::Semicolon),
        ];
        for (s, reason) in cases {
            assert_eq!(
                refusal(&[Arg::Int(1), Arg::Int(2), Arg::Bare(s)]),
                EncodeError::Argument { index: 2, reason }
            );
        }
    }

    #[test]
    fn escaped_refusals_but_quotes_allowed() {
        let cases = [
            ("\r", Refusal::CarriageReturn),
            ("\n", Refusal::LineFeed),
            ("\u{1a}", Refusal::CtrlZ),
            ("\u{1b}", Refusal::Escape),
            ("\0", Refusal::Nul),
            ("x;+CFUN=0;", Refusal::Semicolon),
        ];
        for (s, reason) in cases {
            assert_eq!(
                refusal(&[Arg::Escaped(s)]),
                EncodeError::Argument { index: 0, reason }
            );
        }
        assert!(build("AT+X", &[Arg::Escaped("\"\\,")]).is_ok());
    }

    #[test]
    fn error_messages_name_argument_and_character() {
        let err = refusal(&[Arg::Int(0), Arg::Int(1), Arg::Str("a\"")]);
        assert_eq!(err.to_string(), "argument 2 contains a double quote");
        let err = refusal(&[Arg::Bare("x,y")]);
        assert_eq!(err.to_string(), "argument 0 contains a comma");
        let err = refusal(&[Arg::Str("\u{1a}")]);
        assert_eq!(err.to_string(), "argument 0 contains Ctrl-Z (0x1A)");
    }

    #[test]
    fn command_name_validated() {
        assert_eq!(build("", &[]).unwrap_err(), EncodeError::EmptyCommand);
        assert_eq!(
            build("AT+X\r", &[]).unwrap_err(),
            EncodeError::Command(Refusal::CarriageReturn)
        );
        assert_eq!(
            build("AT\n", &[]).unwrap_err(),
            EncodeError::Command(Refusal::LineFeed)
        );
        assert_eq!(
            build("AT+\"X", &[]).unwrap_err(),
            EncodeError::Command(Refusal::DoubleQuote)
        );
        assert_eq!(
            build("AT+\u{1a}", &[]).unwrap_err(),
            EncodeError::Command(Refusal::CtrlZ)
        );
        assert_eq!(
            build("AT+é", &[]).unwrap_err(),
            EncodeError::Command(Refusal::NotPrintable('é'))
        );
        assert_eq!(
            build("AT\t", &[]).unwrap_err(),
            EncodeError::Command(Refusal::NotPrintable('\t'))
        );
    }

    #[test]
    fn raw_line() {
        let line = CommandLine::raw("AT+CSQ").unwrap();
        assert_eq!(line.bytes, b"AT+CSQ\r");
        assert_eq!(line.text(), "AT+CSQ");
        let line = CommandLine::raw("AT+CMQTTACCQ=0,\"c\"\r\n").unwrap();
        assert_eq!(line.bytes, b"AT+CMQTTACCQ=0,\"c\"\r");
        assert_eq!(line.text(), "AT+CMQTTACCQ=0,\"c\"");
    }

    #[test]
    fn raw_line_refusals() {
        assert_eq!(
            CommandLine::raw("AT\r+CSQ").unwrap_err(),
            EncodeError::Line(Refusal::CarriageReturn)
        );
        assert_eq!(
            CommandLine::raw("AT\n+CSQ").unwrap_err(),
            EncodeError::Line(Refusal::LineFeed)
        );
        assert_eq!(
            CommandLine::raw("AT\u{1a}").unwrap_err(),
            EncodeError::Line(Refusal::CtrlZ)
        );
        assert_eq!(
            CommandLine::raw("AT\u{1b}").unwrap_err(),
            EncodeError::Line(Refusal::Escape)
        );
        assert_eq!(CommandLine::raw("").unwrap_err(), EncodeError::EmptyLine);
        assert_eq!(
            CommandLine::raw("\r\n").unwrap_err(),
            EncodeError::EmptyLine
        );
    }
}
