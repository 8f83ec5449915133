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

fn trailing(prefix: &[u8], len_field: usize) -> RawRule {
    RawRule::Trailing {
        prefix: prefix.to_vec(),
        len_field,
    }
}

fn inline(prefix: &[u8], len_field: usize) -> RawRule {
    RawRule::Inline {
        prefix: prefix.to_vec(),
        len_field,
    }
}

fn simcom_rules() -> Vec<RawRule> {
    vec![
        trailing(b"+CMQTTRXTOPIC:", 1),
        trailing(b"+CMQTTRXPAYLOAD:", 1),
    ]
}

fn quectel_rule() -> RawRule {
    inline(b"+QMTRECV:", 3)
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

/// The frames of `input` fed one byte at a time, and what the decoder still holds after.
fn decode_bytewise(rules: Vec<RawRule>, input: &[u8]) -> (Vec<Frame>, usize) {
    let mut d = Decoder::with_rules(rules);
    let mut out = Vec::new();
    for b in input {
        d.feed(std::slice::from_ref(b), &mut out);
    }
    (out, d.buffered())
}

/// Decodes `input` whole, one byte at a time, and split at every single
/// position; all must agree. Returns the frames.
fn decode_all_ways(rules: Vec<RawRule>, input: &[u8]) -> Vec<Frame> {
    let whole = decode_with(rules.clone(), &[input]);
    let (bytewise, _) = decode_bytewise(rules.clone(), input);
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

/// The modem's side of `tests/data/cmqtt/<name>`: what follows its `#---` line.
macro_rules! cmqtt_fixture {
    ($name:literal) => {
        fixture(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/cmqtt/",
            $name
        )))
    };
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

/// One test per case, `name: input => [frames];`: [`decode`] of `input` (every rule, fed
/// whole, byte by byte and split at every position) gives exactly `frames`.
macro_rules! decodes {
    ($($(#[$doc:meta])* $name:ident: $input:expr => [$($frame:expr),* $(,)?];)*) => {
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                assert_eq!(decode($input), vec![$($frame),*]);
            }
        )*
    };
}

decodes! {
    simple_ok: b"\r\nOK\r\n" => [ok()];
    /// AT+CMQTTSTART with echo on (A7600 manual, chapter 3.1).
    command_echo_ok_then_urc: b"AT+CMQTTSTART\r\r\nOK\r\n\r\n+CMQTTSTART: 0\r\n"
        => [line(b"AT+CMQTTSTART"), ok(), line(b"+CMQTTSTART: 0")];
    urc_between_command_and_ok: b"AT+CSQ\r\r\n+CMQTTCONNLOST: 0,1\r\n+CSQ: 23,0\r\n\r\nOK\r\n"
        => [line(b"AT+CSQ"), line(b"+CMQTTCONNLOST: 0,1"), line(b"+CSQ: 23,0"), ok()];
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

decodes! {
    cme_error_numeric: b"\r\n+CME ERROR: 10\r\n"
        => [Frame::Final(FinalResult::CmeError(ErrorCode::Numeric(10)))];
    cme_error_negative: b"\r\n+CME ERROR: -14\r\n"
        => [Frame::Final(FinalResult::CmeError(ErrorCode::Numeric(-14)))];
    cme_error_text:
        b"\r\n+CME ERROR: SIM not inserted \r\n+CME ERROR:\r\n+CMS ERROR: 99999999999\r\n" => [
            Frame::Final(FinalResult::CmeError(ErrorCode::Text("SIM not inserted".into()))),
            Frame::Final(FinalResult::CmeError(ErrorCode::Text(String::new()))),
            Frame::Final(FinalResult::CmsError(ErrorCode::Text("99999999999".into()))),
        ];
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

decodes! {
    bare_lf_lines: b"+CSQ: 23,0\nOK\n\n+CREG: 0,1\n"
        => [line(b"+CSQ: 23,0"), ok(), line(b"+CREG: 0,1")];
    bare_cr_and_cr_cr_lf_lines: b"AT\r\r\nOK\r\r\n+CSQ: 1,2\rOK\r"
        => [line(b"AT"), ok(), line(b"+CSQ: 1,2"), ok()];
    spaces_are_kept: b"  +CSQ: 23,0  \r\n\t\r\n" => [line(b"  +CSQ: 23,0  "), line(b"\t")];
    garbage_before_ok: b"\x00\xff\xfe\x80garbage\x00\r\nOK\r\n"
        => [line(b"\x00\xff\xfe\x80garbage\x00"), ok()];
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
    let (out, held) = decode_bytewise(all_rules(), input);
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
    assert_eq!(held, 0);
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

decodes! {
    payload_contains_ok: b"+CMQTTRXPAYLOAD: 0,11\r\n\r\nOK\r\n>\r\nab\r\n\r\nOK\r\n"
        => [raw(b"+CMQTTRXPAYLOAD: 0,11", b"\r\nOK\r\n>\r\nab"), ok()];
    trailing_block_with_crlf_inside: b"+CMQTTRXPAYLOAD: 0,6\r\n\r\n\r\n\r\n+CMQTTRXEND: 0\r\n"
        => [raw(b"+CMQTTRXPAYLOAD: 0,6", b"\r\n\r\n\r\n"), line(b"+CMQTTRXEND: 0")];
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
    let rules = vec![trailing(b"+CMQTTRXPAYLOAD", 1)];
    assert_eq!(
        decode_all_ways(rules, b"+CMQTTRXPAYLOAD: 0,3\r\nabc"),
        vec![raw(b"+CMQTTRXPAYLOAD: 0,3", b"abc")]
    );
}

decodes! {
    inline_quoted_payload: b"\r\n+QMTRECV: 0,1,\"topic/a\",5,\"hello\"\r\nOK\r\n"
        => [raw(b"+QMTRECV: 0,1,\"topic/a\",5", b"hello"), ok()];
    inline_quoted_payload_with_quotes_and_crlf:
        b"+QMTRECV: 0,1,\"a,b\",12,\"\"x\"\r\nOK\r\n>,\"\"\r\n\r\nOK\r\n"
        => [raw(b"+QMTRECV: 0,1,\"a,b\",12", b"\"x\"\r\nOK\r\n>,\""), ok()];
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
    let rules = vec![inline(b"+QMTRECV: 1", 0), inline(b"+QMTRECV:", 3)];
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
    d.add_rule(trailing(b"+A\r", 0));
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
    let stream = cmqtt_fixture!("a7600_ch3_1.txt");
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
    let stream = cmqtt_fixture!("a7600_rx_multipart.txt");
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
    let stream = cmqtt_fixture!("a7600_rx_payload_ok.txt");
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

/// `stream` in pieces, cut at `cuts` (each an index into `0..=stream.len()`).
fn cut_at<'a>(stream: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut last = 0;
    for p in points {
        chunks.push(&stream[last..p]);
        last = p;
    }
    chunks.push(&stream[last..]);
    chunks
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

        let chunked = decode_with(all_rules(), &cut_at(&stream, &cuts));
        prop_assert_eq!(&chunked, &expected);

        let (bytewise, held) = decode_bytewise(all_rules(), &stream);
        prop_assert_eq!(&bytewise, &expected);
        prop_assert_eq!(held, 0);
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
        prop_assert_eq!(&decode_with(all_rules(), &cut_at(&stream, &cuts)), &whole);
        let (bytewise, _) = decode_bytewise(all_rules(), &stream);
        prop_assert_eq!(&bytewise, &whole);
    }
}

fn bare(prefix: &[u8], len_field: usize) -> RawRule {
    RawRule::Bare {
        prefix: prefix.to_vec(),
        len_field,
    }
}

/// ESP-AT's `+MQTTSUBRECV:0,"<topic>",<len>,<raw data>` CRLF (Espressif's AWS log: the
/// data holds bare LF bytes and is framed by its length only).
#[test]
fn bare_payload_after_the_length_field() {
    let input = b"\r\n+MQTTSUBRECV:0,\"a,b\",5,x\r\n\"y\r\nOK\r\n+MQTTSUBRECV:0,\"t\",0,\r\n";
    for split in 0..input.len() {
        let mut d = Decoder::with_rules(vec![bare(b"+MQTTSUBRECV:", 2)]);
        let mut out = Vec::new();
        d.feed(&input[..split], &mut out);
        d.feed(&input[split..], &mut out);
        assert_eq!(
            out,
            vec![
                raw(b"+MQTTSUBRECV:0,\"a,b\",5", b"x\r\n\"y"),
                ok(),
                raw(b"+MQTTSUBRECV:0,\"t\",0", b""),
            ],
            "split at {split}"
        );
    }
}
