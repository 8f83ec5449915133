//! Framing property tests, run for every message-carrying family: generated streams of received
//! messages with arbitrary payloads (within each family's rules), noise and stray empty
//! lines between frames, echo on or off, URCs between a command and its response and
//! between a `>` prompt and `OK`, fed in any chunking from 1 byte to all at once: the same
//! messages come out, in order, and every command completes with its own result.
//!
//! The session and the family's URC router run as the engine runs them, without threads
//! (`modemqtt::fuzzing::Rig`). Cases: `MODEMQTT_PROPTEST_CASES` (default 256; the
//! nightly-style run uses 10000).
//!
//! Family rules the generators keep to:
//! - CMQTT: topic any UTF-8 (1-48 chars), payload any bytes; both arrive as counted raw
//!   parts (`+CMQTTRXTOPIC` / `+CMQTTRXPAYLOAD`) of 1 byte up to the whole.
//! - QMT: topic without `"`, CR, LF (it is quoted inside the line), payload any bytes
//!   (counted, inline: `+QMTRECV: i,id,"t",len,"payload"`).
//! - Alibaba: `+CMYIELD: 12,"topic","payload"` is a plain line: topic without `"`, CR, LF;
//!   payload without CR and LF (quotes allowed: it runs to the line's last quote).
//! - SIMCom SM*: `+SMSUB: "topic","payload"` is a plain line with the same rules as
//!   Alibaba's; its commands have no result URC (they end at `OK`).
//!
//! Noise is a junk line that cannot be taken for a frame that matters: it does not start
//! with `+`, `>`, a letter of a final result or `RDY`, and has no CR or LF inside.

use modemqtt::at::FinalResult;
use modemqtt::at::Outcome;
use modemqtt::fuzzing::{
    chunk_sizes, clients, encode_message, families, message_rules, probe_command, probe_result,
    Family, Received, Rig,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("MODEMQTT_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[derive(Debug, Clone)]
enum Item {
    Message {
        index: u8,
        topic: String,
        payload: Vec<u8>,
        part: usize,
        msgid: u16,
    },
    Noise(Vec<u8>),
    EmptyLines(usize),
}

#[derive(Debug, Clone)]
enum Step {
    /// Output while no command is in flight.
    Idle(Vec<Item>),
    /// A command: items between the command and its prompt (or `OK`), between the prompt
    /// and `OK` (commands with data), and between `OK` and the result URC.
    Command {
        with_data: bool,
        before: Vec<Item>,
        after_prompt: Vec<Item>,
        after_ok: Vec<Item>,
    },
}

#[derive(Debug, Clone)]
struct Case {
    echo: bool,
    steps: Vec<Step>,
    seed: u64,
}

fn noise() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![
        Just(b'#'),
        Just(b'~'),
        Just(b'*'),
        Just(0x00u8),
        Just(0x7f),
        0x80u8..=0xff,
        b'a'..=b'z',
        b'0'..=b'9',
    ];
    let rest = prop::collection::vec(
        any::<u8>().prop_filter("no CR or LF", |b| *b != b'\r' && *b != b'\n'),
        0..12,
    );
    (first, rest).prop_map(|(f, mut r)| {
        r.insert(0, f);
        r
    })
}

fn payload(no_line_breaks: bool) -> BoxedStrategy<Vec<u8>> {
    // Mostly short, sometimes longer; bytes biased towards the ones framing cares about.
    let byte = prop_oneof![
        4 => any::<u8>(),
        1 => prop::sample::select(b"\r\n\"OK ERROR+CMQTTRXEND: 0,>\x00\xff".to_vec()),
    ];
    let len = prop_oneof![8 => 0usize..64, 2 => 64usize..600, 1 => 600usize..3000];
    len.prop_flat_map(move |n| prop::collection::vec(byte.clone(), n))
        .prop_map(move |mut p| {
            if no_line_breaks {
                p.retain(|b| *b != b'\r' && *b != b'\n');
            }
            p
        })
        .boxed()
}

fn topic(family: Family) -> BoxedStrategy<String> {
    let any_char = message_rules(family).topic_any_char;
    let chars = prop::collection::vec(any::<char>(), 1..48);
    chars
        .prop_map(move |cs| {
            let s: String = cs
                .into_iter()
                .filter(|c| any_char || !matches!(c, '"' | '\r' | '\n'))
                .collect();
            if s.is_empty() {
                "t".to_string()
            } else {
                s
            }
        })
        .boxed()
}

fn item(family: Family) -> BoxedStrategy<Item> {
    let message = (
        0..clients(family),
        topic(family),
        payload(!message_rules(family).payload_line_breaks),
        prop_oneof![Just(1usize), 1usize..16, Just(usize::MAX)],
        any::<u16>(),
    )
        .prop_map(|(index, topic, payload, part, msgid)| Item::Message {
            index,
            topic,
            payload,
            part,
            msgid,
        });
    prop_oneof![
        4 => message,
        1 => noise().prop_map(Item::Noise),
        1 => (1usize..4).prop_map(Item::EmptyLines),
    ]
    .boxed()
}

fn items(family: Family) -> BoxedStrategy<Vec<Item>> {
    prop::collection::vec(item(family), 0..5).boxed()
}

fn step(family: Family) -> BoxedStrategy<Step> {
    prop_oneof![
        items(family).prop_map(Step::Idle),
        (any::<bool>(), items(family), items(family), items(family)).prop_map(
            |(with_data, before, after_prompt, after_ok)| Step::Command {
                with_data,
                before,
                after_prompt,
                after_ok,
            }
        ),
    ]
    .boxed()
}

fn case(family: Family) -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop::collection::vec(step(family), 1..6),
        any::<u64>(),
    )
        .prop_map(|(echo, steps, seed)| Case { echo, steps, seed })
}

/// The modem's bytes for `items`, and the messages they carry.
fn render(family: Family, items: &[Item], out: &mut Vec<u8>, expect: &mut Vec<Received>) {
    for it in items {
        match it {
            Item::Message {
                index,
                topic,
                payload,
                part,
                msgid,
            } => {
                out.extend(encode_message(
                    family, *index, topic, payload, *part, *msgid,
                ));
                expect.push(Received {
                    index: *index,
                    topic: topic.clone(),
                    payload: payload.clone(),
                });
            }
            Item::Noise(junk) => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(junk);
                out.extend_from_slice(b"\r\n");
            }
            Item::EmptyLines(n) => {
                for _ in 0..*n {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
}

fn by_client(mut v: Vec<Received>) -> Vec<Received> {
    v.sort_by_key(|m| m.index); // stable: each client's order is kept
    v
}

fn run(family: Family, case: &Case) -> Result<(), TestCaseError> {
    let mut rig = Rig::new(family);
    let mut expect = Vec::new();
    let mut commands = 0usize;
    let mut seed = case.seed;
    for step in &case.steps {
        let mut bytes = Vec::new();
        match step {
            Step::Idle(items) => render(family, items, &mut bytes, &mut expect),
            Step::Command {
                with_data,
                before,
                after_prompt,
                after_ok,
            } => {
                let cmd = probe_command(family, *with_data).map_err(TestCaseError::fail)?;
                let line = cmd.line.bytes.clone();
                rig.submit(cmd).map_err(TestCaseError::fail)?;
                commands += 1;
                prop_assert_eq!(rig.transmitted.last(), Some(&line));
                if case.echo {
                    bytes.extend_from_slice(&line);
                }
                render(family, before, &mut bytes, &mut expect);
                if *with_data {
                    bytes.extend_from_slice(b"\r\n> ");
                    render(family, after_prompt, &mut bytes, &mut expect);
                }
                bytes.extend_from_slice(b"\r\nOK\r\n");
                render(family, after_ok, &mut bytes, &mut expect);
                // A family without result URCs (SIMCom SM*): the command ended at `OK`.
                if !probe_result(family, *with_data).is_empty() {
                    bytes.extend_from_slice(b"\r\n");
                    bytes.extend_from_slice(probe_result(family, *with_data));
                    bytes.extend_from_slice(b"\r\n");
                }
            }
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rig.feed_chunked(&bytes, &chunk_sizes(seed, bytes.len()));
        prop_assert!(
            !rig.is_busy(),
            "a command is still in flight after its result"
        );
    }
    prop_assert_eq!(rig.dropped(), 0);
    let got = rig.take_received();
    prop_assert_eq!(got.len(), expect.len(), "message count");
    prop_assert_eq!(got, by_client(expect));
    prop_assert_eq!(rig.outcomes.len(), commands);
    for (o, step) in rig
        .outcomes
        .iter()
        .zip(case.steps.iter().filter_map(|s| match s {
            Step::Command { with_data, .. } => Some(*with_data),
            Step::Idle(_) => None,
        }))
    {
        match o {
            Outcome::Complete {
                final_result, urc, ..
            } => {
                prop_assert_eq!(final_result, &FinalResult::Ok);
                let want = Some(probe_result(family, step)).filter(|r| !r.is_empty());
                prop_assert_eq!(urc.as_deref(), want);
            }
            other => prop_assert!(false, "command did not complete: {other:?}"),
        }
    }
    Ok(())
}

fn check(family: Family) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(family), |c| run(family, &c));
    if let Err(e) = result {
        panic!("{family:?}: {e}");
    }
}

/// CMQTT's counted `+CMQTTRX*` blocks, QMT's inline `+QMTRECV` payloads, Alibaba's
/// `+CMYIELD: 12` lines: every family, each in its own runner.
#[test]
fn messages_survive_any_framing_in_every_family() {
    let all = families();
    assert!(all.len() >= 3, "families: {all:?}");
    for family in all {
        check(family);
    }
}
