//! Harness shared by the fuzz targets (`fuzz/`), their corpus replay
//! (`tests/fuzz_corpus.rs`) and the framing property tests (`tests/framing_props.rs`).
//!
//! It drives the sans-IO [`Session`] and each family's URC router by hand: no threads, no
//! port, no clock (time stands still, so nothing times out). The checks return
//! `Err(description)` when an invariant breaks; the callers turn that into a failure.
//! Not part of the public API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::at::{Command, CommandLine, Decoder, Event, Expect, Frame, Outcome, RawRule, Session};
pub use crate::dialect::MessageRules;
use crate::dialect::{spec, specs, FamilySpec, ProbeExchange};
use crate::engine::UrcHandler;
use crate::mqtt::ClientShared;

/// The command families (the same type the library uses to pick a dialect).
pub use crate::dialect::Family;

/// The raw-data rules of `family`'s decoder.
pub fn raw_rules(family: Family) -> Vec<RawRule> {
    spec(family).raw_rules()
}

/// Every family, in the library's order.
pub fn families() -> Vec<Family> {
    specs().iter().map(|s| s.family()).collect()
}

/// What received messages of `family` may carry.
pub fn message_rules(family: Family) -> MessageRules {
    spec(family).message_rules()
}

/// The result URC that completes [`probe_command`] successfully (empty in a family whose
/// commands end at their final result).
pub fn probe_result(family: Family, with_data: bool) -> &'static [u8] {
    spec(family).probe_exchange(with_data).result_ok
}

/// How many clients the rig opens (the largest profile of the family).
pub fn clients(family: Family) -> u8 {
    spec(family).max_clients()
}

/// A received message as the client's queue hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub index: u8,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// One family's command session and URC router, fed by hand.
pub struct Rig {
    session: Session,
    handler: UrcHandler,
    clients: Vec<Arc<ClientShared>>,
    now: Instant,
    /// What the session wrote (command lines and data after prompts), in order.
    pub transmitted: Vec<Vec<u8>>,
    /// How each submitted command ended, in order.
    pub outcomes: Vec<Outcome>,
}

/// Inbox size of the rig's clients: more than any fuzz input (at most 4096 bytes, at
/// least 18 bytes a message) or generated case yields; exceeding it fails the check.
const QUEUE: usize = 512;

impl Rig {
    pub fn new(family: Family) -> Rig {
        let clients: Vec<_> = (0..clients(family))
            .map(|i| ClientShared::new(i, QUEUE))
            .collect();
        let (prefixes, handler) = spec(family).urc_router(&clients);
        let mut session = Session::new();
        for rule in raw_rules(family) {
            session.add_raw_rule(rule);
        }
        for p in &prefixes {
            session.add_urc_prefix(p);
        }
        Rig {
            session,
            handler,
            clients,
            now: Instant::now(),
            transmitted: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    pub fn submit(&mut self, cmd: Command) -> Result<(), String> {
        self.session
            .submit(self.now, cmd)
            .map_err(|e| format!("submit: {e}"))?;
        self.pump();
        Ok(())
    }

    /// Bytes from the modem, in one piece.
    pub fn feed(&mut self, data: &[u8]) {
        self.session.handle_input(self.now, data);
        self.pump();
    }

    /// Bytes from the modem, in pieces of the given sizes (the last piece takes the rest).
    pub fn feed_chunked(&mut self, data: &[u8], sizes: &[usize]) {
        let mut rest = data;
        for &n in sizes {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at(n.clamp(1, rest.len()));
            self.feed(a);
            rest = b;
        }
        if !rest.is_empty() {
            self.feed(rest);
        }
    }

    pub fn is_busy(&self) -> bool {
        self.session.is_busy()
    }

    fn pump(&mut self) {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::Transmit { bytes, .. } => self.transmitted.push(bytes),
                Event::Urc(f) => (self.handler)(&f),
                Event::Done(o) => self.outcomes.push(o),
            }
        }
    }

    /// Takes every queued message, client by client (each client's in arrival order).
    pub fn take_received(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        for c in &self.clients {
            while let Some(m) = c.try_next() {
                out.push(Received {
                    index: m.client_index,
                    topic: m.topic,
                    payload: m.payload,
                });
            }
        }
        out
    }

    /// Messages dropped because an inbox was full (must stay 0 in the rig).
    pub fn dropped(&self) -> u64 {
        self.clients.iter().map(|c| c.dropped()).sum()
    }
}

// ----------------------------------------------------------------------------- chunking

/// FNV-1a: a seed for the chunking derived from the input itself.
pub fn seed_of(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Piece sizes covering `len` bytes, drawn from `seed`: single bytes, small pieces, larger
/// ones and everything-at-once, mixed.
pub fn chunk_sizes(seed: u64, len: usize) -> Vec<usize> {
    let mut x = seed | 1;
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let max = match x % 5 {
            0 => 1,
            1 => 3,
            2 => 16,
            3 => 256,
            _ => left,
        };
        let n = (1 + (x >> 8) as usize % max).min(left);
        out.push(n);
        left -= n;
    }
    out
}

/// The three chunkings every check compares: all at once, byte by byte, and mixed pieces
/// drawn from `seed`.
pub fn chunkings(seed: u64, len: usize) -> [Vec<usize>; 3] {
    [vec![len.max(1)], vec![1; len], chunk_sizes(seed, len)]
}

// ----------------------------------------------------------------------------- fuzz checks

fn decode(rules: &[RawRule], data: &[u8], sizes: &[usize]) -> (Vec<Frame>, usize) {
    let mut d = Decoder::with_rules(rules.to_vec());
    let mut frames = Vec::new();
    let mut rest = data;
    for &n in sizes {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.clamp(1, rest.len()));
        d.feed(a, &mut frames);
        rest = b;
    }
    if !rest.is_empty() {
        d.feed(rest, &mut frames);
    }
    (frames, d.buffered())
}

fn first_difference<T: std::fmt::Debug + PartialEq>(a: &[T], b: &[T]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("item {i}: {:?} != {:?}", a[i], b[i]),
        None => format!("lengths {} != {}", a.len(), b.len()),
    }
}

/// Codec: `Decoder::feed` gives the same frames (and keeps the same number of bytes
/// buffered) whatever the chunking. The first input byte picks the raw rules: bit `i` of
/// it (modulo the number of choices) takes the rules of the `i`-th family that has any
/// (none, CMQTT's, QMT's, both); the rest is the modem's output.
pub fn check_codec(input: &[u8]) -> Result<(), String> {
    let Some((&sel, data)) = input.split_first() else {
        return Ok(());
    };
    let sets: Vec<Vec<RawRule>> = specs()
        .iter()
        .map(|s| s.raw_rules())
        .filter(|r| !r.is_empty())
        .collect();
    let mask = usize::from(sel) % (1 << sets.len());
    let rules: Vec<RawRule> = sets
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .flat_map(|(_, r)| r)
        .collect();
    let [whole, bytes, mixed] = chunkings(seed_of(input), data.len());
    let expected = decode(&rules, data, &whole);
    for sizes in [bytes, mixed] {
        let got = decode(&rules, data, &sizes);
        if got.0 != expected.0 {
            return Err(format!(
                "frames differ with chunking {:?}: {}",
                &sizes[..sizes.len().min(16)],
                first_difference(&got.0, &expected.0)
            ));
        }
        if got.1 != expected.1 {
            return Err(format!("buffered {} != {}", got.1, expected.1));
        }
    }
    Ok(())
}

/// A command of `family` that waits for a result URC (and, when `with_data`, sends data
/// after a `>` prompt), so that fuzzed bytes also arrive while a command is in flight.
pub fn probe_command(family: Family, with_data: bool) -> Result<Command, String> {
    let probe = spec(family).probe_exchange(with_data);
    let ProbeExchange {
        line,
        data,
        result_prefix: prefix,
        ..
    } = probe;
    let line = CommandLine::raw(line).map_err(|e| format!("{line}: {e}"))?;
    let mut cmd = Command::new(line, Duration::from_secs(60));
    if probe.has_result_urc() {
        cmd = cmd.with_expect(Expect::prefix(prefix.to_vec()));
    }
    if let Some(d) = data {
        cmd = cmd.with_data(d.to_vec());
    }
    Ok(cmd)
}

type RigResult = (Vec<Received>, Vec<Outcome>, Vec<Vec<u8>>, bool);

fn run_rig(family: Family, sel: u8, data: &[u8], sizes: &[usize]) -> Result<RigResult, String> {
    let mut rig = Rig::new(family);
    if sel & 1 == 1 {
        rig.submit(probe_command(family, sel & 2 == 2)?)?;
    }
    rig.feed_chunked(data, sizes);
    if rig.dropped() != 0 {
        return Err(format!("{} message(s) dropped by the rig", rig.dropped()));
    }
    Ok((
        rig.take_received(),
        rig.outcomes.clone(),
        rig.transmitted.clone(),
        rig.is_busy(),
    ))
}

/// A family's URC handling: the modem's output (after the first input byte, which says
/// whether a command is in flight and whether it sends data after a prompt) is routed as
/// the engine routes it; the messages, the command's outcome and what was transmitted
/// must not depend on the chunking. Alibaba: the `+CCRECV` and message-field parsers also
/// run on every line.
pub fn check_dialect(family: Family, input: &[u8]) -> Result<(), String> {
    let Some((&sel, data)) = input.split_first() else {
        return Ok(());
    };
    let family_spec: &FamilySpec = spec(family);
    for line in data.split(|&b| b == b'\r' || b == b'\n') {
        family_spec.parse_line(line);
    }
    let [whole, bytes, mixed] = chunkings(seed_of(input), data.len());
    let expected = run_rig(family, sel, data, &whole)?;
    for sizes in [bytes, mixed] {
        let got = run_rig(family, sel, data, &sizes)?;
        if got.0 != expected.0 {
            return Err(format!(
                "messages differ: {}",
                first_difference(&got.0, &expected.0)
            ));
        }
        if got.1 != expected.1 {
            return Err(format!(
                "outcomes differ: {}",
                first_difference(&got.1, &expected.1)
            ));
        }
        if got.2 != expected.2 || got.3 != expected.3 {
            return Err(format!(
                "transmissions differ: {:?} != {:?}",
                got.2, expected.2
            ));
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------------- encoders

/// The bytes a modem of `family` writes when client `index` receives a message.
/// CMQTT splits topic and payload into `+CMQTTRXTOPIC` / `+CMQTTRXPAYLOAD` parts of at most
/// `part` bytes; QMT uses `msgid`. The caller keeps to the family's rules (QMT and
/// Alibaba topics without `"`, Alibaba topics and payloads without CR and LF).
pub fn encode_message(
    family: Family,
    index: u8,
    topic: &str,
    payload: &[u8],
    part: usize,
    msgid: u16,
) -> Vec<u8> {
    (spec(family).encode_message)(index, topic, payload, part, msgid)
}
