//! The command/response/URC state machine of one AT port, with time passed in.
//!
//! The driver (the engine) feeds received bytes with [`Session::handle_input`], submits
//! commands with [`Session::submit`], calls [`Session::handle_timeout`] when
//! [`Session::poll_timeout`] says so, and carries out the [`Event`]s it drains with
//! [`Session::poll_event`]: write bytes, route an unsolicited frame, complete a command.
//!
//! Exactly one command is in flight. A command may expect the data prompt (`>`), after which
//! its data is transmitted, and may expect a result URC (e.g. `+CMQTTPUB: 0,0`) that can
//! arrive before or after its final result: interest in it exists from the moment the
//! command is submitted, so a fast modem cannot beat the waiter.
//!
//! When a command times out without its final result, the session is *stale*: the late
//! answer may still come. Before the next command it sends a bare `AT` and waits until the
//! line has been quiet for [`SYNC_QUIET`] after the last final result, so a late `OK` can
//! never be taken for the answer to a later command.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::codec::{Decoder, FinalResult, Frame, RawRule};
use super::encode::CommandLine;

mod owed;
pub use owed::Owed;

/// How long the line must stay quiet after a resync probe's final result.
pub const SYNC_QUIET: Duration = Duration::from_millis(60);

/// How long a command refused with `ERROR` still waits for its result URC: the SIM7028
/// manual (seeds/001 §3.2.8, `AT+CMQTTCONNECT` case 3) prints `ERROR` and then
/// `+CMQTTCONNECT: <idx>,<err>`, and the code is the only useful part of that answer.
pub const ERROR_URC_GRACE: Duration = Duration::from_millis(200);

/// How long a result URC that a timed-out command still owes (its `OK` came, its result
/// URC did not) is expected: longer than the
/// longest timer the modems run themselves (CMQTT `AT+CMQTTPUB`/`AT+CMQTTDISC` up to
/// 180 s, `optimeout` up to 120 s). Within it, the first line matching the owed
/// expectation is taken as that late answer and cannot complete a later command.
pub const OWED_FOR: Duration = Duration::from_secs(300);

/// A result URC a command waits for after (or before) its final result.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The line prefix, including the client index where it matters, e.g. `+CMQTTPUB: 0,`.
    pub prefix: Vec<u8>,
    /// Decides whether a matching line is the final result (true) or a progress report
    /// (false, e.g. Quectel's retransmission notices); `None` takes the first match.
    pub is_final: Option<fn(&[u8]) -> bool>,
}

impl Expect {
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        Expect {
            prefix: prefix.into(),
            is_final: None,
        }
    }

    /// Whether `line` is this result: it starts with the prefix and is final.
    pub fn matches(&self, line: &[u8]) -> bool {
        line.starts_with(&self.prefix) && self.is_final.is_none_or(|f| f(line))
    }
}

/// One command to execute.
#[derive(Debug, Clone)]
pub struct Command {
    pub line: CommandLine,
    /// Bytes to send after the `>` prompt.
    pub data: Option<Vec<u8>>,
    /// Whether `data` is secret (shown masked in transcripts).
    pub data_secret: bool,
    /// Deadline for the whole exchange, counted from submission.
    pub timeout: Duration,
    /// Lines starting with one of these belong to the response even when they look like
    /// URCs. Empty: every line that is not a registered URC belongs to the response.
    pub response_prefixes: Vec<Vec<u8>>,
    pub expect: Option<Expect>,
    /// A line that stands for the prompt (Quectel's `AT+QFUPL` answers `CONNECT` instead
    /// of `>`); `None`: only `>` is a prompt.
    pub prompt_line: Option<Vec<u8>>,
    /// The modem answers `OK` before the `>` prompt and a final result again after the
    /// data (ESP-AT `AT+MQTTLONGCLIENTID`, `AT+SYSMFG`): an `OK` before the data is sent
    /// does not end the command.
    pub ok_before_prompt: bool,
}

impl Command {
    pub fn new(line: CommandLine, timeout: Duration) -> Self {
        Command {
            line,
            data: None,
            data_secret: false,
            timeout,
            response_prefixes: Vec::new(),
            expect: None,
            prompt_line: None,
            ok_before_prompt: false,
        }
    }
    pub fn with_data(mut self, data: Vec<u8>) -> Self {
        self.data = Some(data);
        self
    }
    pub fn with_response(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.response_prefixes.push(prefix.into());
        self
    }
    pub fn with_expect(mut self, expect: Expect) -> Self {
        self.expect = Some(expect);
        self
    }
    pub fn with_prompt_line(mut self, line: impl Into<Vec<u8>>) -> Self {
        self.prompt_line = Some(line.into());
        self
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The final result arrived (and the expected URC, if one was asked for and the final
    /// result was OK).
    Complete {
        lines: Vec<Frame>,
        final_result: FinalResult,
        urc: Option<Vec<u8>>,
        /// Progress reports matching the expectation that were not final.
        progress: Vec<Vec<u8>>,
    },
    /// The deadline passed. `final_result` is set when only the result URC was missing.
    TimedOut {
        lines: Vec<Frame>,
        final_result: Option<FinalResult>,
        waited_for: String,
    },
    /// The port failed while the command was in flight.
    Failed(String),
    /// The answer can no longer come (the modem restarted, the link it waited on is gone).
    Aborted(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes to write to the port. `masked` is what transcripts and logs show.
    Transmit { bytes: Vec<u8>, masked: Vec<u8> },
    /// An unsolicited frame (a `Line` or a `Raw` block).
    Urc(Frame),
    /// The in-flight command ended.
    Done(Outcome),
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the prompt (data pending) or the final result.
    Running,
    /// Final result seen, waiting for the result URC.
    AwaitUrc,
    /// Refused (final result not `OK`): the result URC with the error code may still
    /// follow until the instant given (see [`ERROR_URC_GRACE`]).
    AfterError(Instant),
}

#[derive(Debug)]
struct InFlight {
    cmd: Command,
    deadline: Instant,
    phase: Phase,
    echo: Vec<u8>,
    data_sent: bool,
    lines: Vec<Frame>,
    final_result: Option<FinalResult>,
    urc: Option<Vec<u8>>,
    progress: Vec<Vec<u8>>,
    /// Whether a line matching this command's expectation was taken as the late answer
    /// of an earlier command (see [`OWED_FOR`]).
    ate_owed: bool,
}

#[derive(Debug)]
struct Syncing {
    pending: Command,
    deadline: Instant,
    quiet_until: Option<Instant>,
}

#[derive(Debug)]
enum State {
    Idle,
    Syncing(Syncing),
    Busy(Box<InFlight>),
}

/// Error returned by [`Session::submit`] while another command is in flight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a command is already in flight")]
pub struct Busy;

pub struct Session {
    decoder: Decoder,
    frames: Vec<Frame>,
    events: VecDeque<Event>,
    state: State,
    stale: bool,
    urc_prefixes: Vec<Vec<u8>>,
    late_responses: u64,
    timer_moved: bool,
    /// Data of a command that timed out waiting for its `>` prompt. A modem that prompts
    /// late then waits for exactly these bytes and would swallow the next command lines as
    /// data; sending them puts it back in command mode.
    orphan_data: Option<(Vec<u8>, bool)>,
    /// Result URCs that timed-out commands still owe, with the instant they stop being
    /// expected.
    owed: Owed,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

fn starts_with_any(line: &[u8], prefixes: &[Vec<u8>]) -> bool {
    prefixes.iter().any(|p| line.starts_with(p))
}

fn frame_head(frame: &Frame) -> Option<&[u8]> {
    match frame {
        Frame::Line(l) => Some(l),
        Frame::Raw { header, .. } => Some(header),
        _ => None,
    }
}

/// What transcripts show of data sent after a prompt.
fn mask_data(data: &[u8], secret: bool) -> Vec<u8> {
    if secret {
        format!("<{} secret bytes>", data.len()).into_bytes()
    } else {
        data.to_vec()
    }
}

/// The response prefix a plain command implies: `AT+CSQ` -> `+CSQ:`, `AT+CREG?` -> `+CREG:`.
pub fn implied_prefix(command: &[u8]) -> Option<Vec<u8>> {
    let body = command
        .strip_prefix(b"AT")
        .or_else(|| command.strip_prefix(b"at"))?;
    if !matches!(
        body.first(),
        Some(b'+') | Some(b'$') | Some(b'^') | Some(b'#')
    ) {
        return None;
    }
    let end = body
        .iter()
        .position(|b| matches!(b, b'=' | b'?' | b'\r'))
        .unwrap_or(body.len());
    if end < 2 {
        return None;
    }
    let mut p = body[..end].to_ascii_uppercase();
    p.push(b':');
    Some(p)
}

impl Session {
    pub fn new() -> Self {
        Session {
            decoder: Decoder::new(),
            frames: Vec::new(),
            events: VecDeque::new(),
            state: State::Idle,
            stale: false,
            urc_prefixes: Vec::new(),
            late_responses: 0,
            timer_moved: false,
            orphan_data: None,
            owed: Owed::default(),
        }
    }

    /// Result URCs still owed by timed-out commands (see [`OWED_FOR`]).
    pub fn owed_results(&self) -> usize {
        self.owed.len()
    }

    /// Takes `head` as the late answer of a timed-out command if one still owes a line
    /// like it; expired debts are dropped on the way.
    fn take_owed(&mut self, now: Instant, head: &[u8]) -> bool {
        let hit = self.owed.settle(now, head);
        if hit {
            self.late_responses += 1;
            log::debug!(
                "late result {:?} of a timed-out command: not taken as the answer to a later one",
                String::from_utf8_lossy(head)
            );
        }
        hit
    }

    /// Remembers that `expect` may still be answered, unless the command that gave up on
    /// it took a line like it as an earlier command's late answer: that line may have been
    /// its own, and owing again would make every later command wait in vain.
    fn owe(&mut self, now: Instant, expect: Option<Expect>, ate_owed: bool) {
        if let (Some(e), false) = (expect, ate_owed) {
            self.owed.owe(now, e);
        }
    }

    /// Lines starting with `prefix` are unsolicited unless the command in flight claims them.
    pub fn add_urc_prefix(&mut self, prefix: &[u8]) {
        if !self.urc_prefixes.iter().any(|p| p == prefix) {
            self.urc_prefixes.push(prefix.to_vec());
        }
    }

    pub fn add_raw_rule(&mut self, rule: RawRule) {
        self.decoder.add_rule(rule);
    }

    /// Whether a command is in flight (or a resync is under way).
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Whether a timed-out command's answer may still arrive.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Late final results dropped so far.
    pub fn late_responses(&self) -> u64 {
        self.late_responses
    }

    /// Forget partial input (after a modem reboot).
    pub fn reset_input(&mut self) {
        self.decoder.reset();
    }

    pub fn submit(&mut self, now: Instant, cmd: Command) -> Result<(), Busy> {
        if self.is_busy() {
            return Err(Busy);
        }
        let deadline = now + cmd.timeout;
        if self.stale {
            log::debug!("resynchronising before {}", cmd.line.text());
            self.events.push_back(Event::Transmit {
                bytes: b"AT\r".to_vec(),
                masked: b"AT\r".to_vec(),
            });
            self.state = State::Syncing(Syncing {
                pending: cmd,
                deadline,
                quiet_until: None,
            });
        } else {
            self.start(cmd, deadline);
        }
        Ok(())
    }

    fn start(&mut self, cmd: Command, deadline: Instant) {
        let mut masked = cmd.line.masked.clone().into_bytes();
        masked.push(b'\r');
        self.events.push_back(Event::Transmit {
            bytes: cmd.line.bytes.clone(),
            masked,
        });
        let mut echo = cmd.line.bytes.clone();
        while matches!(echo.last(), Some(b'\r') | Some(b'\n')) {
            echo.pop();
        }
        self.state = State::Busy(Box::new(InFlight {
            cmd,
            deadline,
            phase: Phase::Running,
            echo,
            data_sent: false,
            lines: Vec::new(),
            final_result: None,
            urc: None,
            progress: Vec::new(),
            ate_owed: false,
        }));
    }

    /// Abort the command in flight because the port failed.
    pub fn fail(&mut self, reason: &str) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => {}
            State::Syncing(_) | State::Busy(_) => {
                self.events
                    .push_back(Event::Done(Outcome::Failed(reason.to_string())));
            }
        }
        self.stale = false;
        self.decoder.reset();
    }

    /// Ends the command in flight with [`Outcome::Aborted`] if `waits_for` says its answer
    /// depends on what just happened: it gets the result URC prefix the command waits for
    /// (if any). Returns whether a command was aborted.
    /// `restarted`: the modem itself restarted, so no late final result can follow.
    pub fn abort_if(
        &mut self,
        reason: &str,
        restarted: bool,
        waits_for: impl Fn(Option<&[u8]>) -> bool,
    ) -> bool {
        let (hit, final_seen) = match &self.state {
            State::Busy(b) => (
                waits_for(b.cmd.expect.as_ref().map(|e| e.prefix.as_slice())),
                b.final_result.is_some(),
            ),
            _ => (false, false),
        };
        if restarted {
            // Nothing the modem owed survives its restart.
            self.owed.clear();
        }
        if hit {
            self.state = State::Idle;
            self.stale = !restarted && !final_seen;
            // Whatever the modem still says about it arrives with no command in flight.
            self.events
                .push_back(Event::Done(Outcome::Aborted(reason.to_string())));
        }
        hit
    }

    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        let mut frames = std::mem::take(&mut self.frames);
        self.decoder.feed(data, &mut frames);
        for frame in frames.drain(..) {
            self.handle_frame(now, frame);
        }
        self.frames = frames;
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        match &mut self.state {
            State::Idle => self.idle_frame(now, frame),
            State::Syncing(sync) => match frame {
                Frame::Final(_) => {
                    sync.quiet_until = Some(now + SYNC_QUIET);
                    self.timer_moved = true;
                }
                Frame::Prompt => self.late_prompt(),
                other => self.unsolicited(now, other),
            },
            State::Busy(_) => self.busy_frame(now, frame),
        }
    }

    fn idle_frame(&mut self, now: Instant, frame: Frame) {
        match frame {
            Frame::Final(f) => {
                self.late_responses += 1;
                if self.stale {
                    log::debug!("late final result {f:?} of a timed-out command dropped");
                    self.stale = false;
                } else {
                    log::debug!("final result {f:?} with no command in flight dropped");
                }
            }
            Frame::Prompt => self.late_prompt(),
            other => self.unsolicited(now, other),
        }
    }

    /// A line or block no command waits for: settles what a timed-out command still owes
    /// (`take_owed`), then goes out as a URC.
    fn unsolicited(&mut self, now: Instant, frame: Frame) {
        if let Some(head) = frame_head(&frame) {
            let head = head.to_vec();
            self.take_owed(now, &head);
        }
        self.route_urc(frame)
    }

    /// A `>` with no command waiting for it: the late prompt of a timed-out command.
    fn late_prompt(&mut self) {
        match self.orphan_data.take() {
            Some((data, secret)) => {
                log::debug!(
                    "late prompt: sending the {} data bytes it waits for",
                    data.len()
                );
                let masked = mask_data(&data, secret);
                self.events.push_back(Event::Transmit {
                    bytes: data,
                    masked,
                });
            }
            None => log::debug!("prompt with no command waiting for it ignored"),
        }
    }

    fn route_urc(&mut self, frame: Frame) {
        self.events.push_back(Event::Urc(frame));
    }

    fn busy_frame(&mut self, now: Instant, frame: Frame) {
        // The late answer of a timed-out command, which this one must not take for its own.
        if let (Some(head), false) = (frame_head(&frame), self.owed.is_empty()) {
            let head = head.to_vec();
            if self.take_owed(now, &head) {
                if let State::Busy(inflight) = &mut self.state {
                    inflight.ate_owed = inflight
                        .cmd
                        .expect
                        .as_ref()
                        .is_some_and(|e| head.starts_with(&e.prefix));
                }
                self.route_urc(frame);
                return;
            }
        }
        let State::Busy(inflight) = &mut self.state else {
            return;
        };
        let is_prompt_line = matches!((&frame, &inflight.cmd.prompt_line),
            (Frame::Line(l), Some(p)) if l == p && !inflight.data_sent);
        match frame {
            _ if is_prompt_line => self.busy_frame(now, Frame::Prompt),
            Frame::Prompt => {
                if let (false, Some(data)) = (inflight.data_sent, &inflight.cmd.data) {
                    inflight.data_sent = true;
                    let masked = mask_data(data, inflight.cmd.data_secret);
                    self.events.push_back(Event::Transmit {
                        bytes: data.clone(),
                        masked,
                    });
                } else {
                    log::debug!("unexpected prompt during {}", inflight.cmd.line.text());
                }
            }
            Frame::Final(f) => {
                if inflight.cmd.ok_before_prompt
                    && f.is_ok()
                    && !inflight.data_sent
                    && inflight.cmd.data.is_some()
                {
                    // The first of two finals: the prompt and the data come next.
                    return;
                }
                if !matches!(inflight.phase, Phase::Running) {
                    // A second final result: the late answer of an earlier command.
                    self.late_responses += 1;
                    log::debug!("extra final result {f:?} dropped");
                    return;
                }
                let wait_urc = inflight.cmd.expect.is_some() && inflight.urc.is_none();
                let ok = f.is_ok();
                inflight.final_result = Some(f);
                if wait_urc && ok {
                    inflight.phase = Phase::AwaitUrc;
                } else if wait_urc {
                    // Refused: the result URC with the code may still follow (001 §3.2.8).
                    inflight.phase = Phase::AfterError(now + ERROR_URC_GRACE);
                    self.timer_moved = true;
                } else {
                    self.complete();
                }
            }
            frame => {
                let Some(head) = frame_head(&frame) else {
                    return;
                };
                if head == inflight.echo.as_slice() {
                    return; // echo of the command line
                }
                if let Some(expect) = &inflight.cmd.expect {
                    if head.starts_with(&expect.prefix) {
                        let is_final = expect.is_final.map(|f| f(head)).unwrap_or(true);
                        if !is_final {
                            inflight.progress.push(head.to_vec());
                            return;
                        }
                        if inflight.urc.is_none() {
                            inflight.urc = Some(head.to_vec());
                            if !matches!(inflight.phase, Phase::Running) {
                                self.complete();
                            }
                            return;
                        }
                    }
                }
                let claimed = starts_with_any(head, &inflight.cmd.response_prefixes);
                let is_urc = starts_with_any(head, &self.urc_prefixes);
                // With response prefixes given, other `+XXX:` lines are unsolicited, but
                // unprefixed lines (AT+CGMI answers "SIMCOM INCORPORATED") still belong
                // to the response.
                let unclaimed_ok =
                    inflight.cmd.response_prefixes.is_empty() || head.first() != Some(&b'+');
                let collect = matches!(inflight.phase, Phase::Running)
                    && (claimed || (!is_urc && unclaimed_ok));
                if collect {
                    inflight.lines.push(frame);
                } else {
                    self.route_urc(frame);
                }
            }
        }
    }

    fn complete(&mut self) {
        if let State::Busy(inflight) = std::mem::replace(&mut self.state, State::Idle) {
            let inflight = *inflight;
            // The modem answered a command: it is in command mode, no prompt is owed.
            self.orphan_data = None;
            let final_result = inflight.final_result.unwrap_or(FinalResult::Error);
            self.events.push_back(Event::Done(Outcome::Complete {
                lines: inflight.lines,
                final_result,
                urc: inflight.urc,
                progress: inflight.progress,
            }));
        }
    }

    /// When the driver must call [`Session::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle => None,
            State::Syncing(s) => Some(match s.quiet_until {
                Some(q) if q < s.deadline => q,
                _ => s.deadline,
            }),
            State::Busy(b) => Some(match b.phase {
                Phase::AfterError(until) if until < b.deadline => until,
                _ => b.deadline,
            }),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => {}
            State::Syncing(sync) => {
                if sync.quiet_until.is_some_and(|q| now >= q) {
                    self.stale = false;
                    self.start(sync.pending, sync.deadline);
                } else if now >= sync.deadline {
                    self.events.push_back(Event::Done(Outcome::TimedOut {
                        lines: Vec::new(),
                        final_result: None,
                        waited_for: "the modem to answer AT (resync)".into(),
                    }));
                } else {
                    self.state = State::Syncing(sync);
                }
            }
            State::Busy(inflight) => {
                if let Phase::AfterError(until) = inflight.phase {
                    if now >= until || now >= inflight.deadline {
                        // No code followed the refusal: the final result stands. Nothing is
                        // owed: a bare ERROR is a complete answer too (001 §3.2.8, case 5),
                        // and owing would make the next command's result look late.
                        self.state = State::Busy(inflight);
                        self.complete();
                        return;
                    }
                }
                if now < inflight.deadline {
                    self.state = State::Busy(inflight);
                    return;
                }
                let inflight = *inflight;
                let waited_for = match (&inflight.final_result, &inflight.cmd.expect) {
                    (Some(_), Some(e)) => String::from_utf8_lossy(&e.prefix)
                        .trim_end_matches(',')
                        .to_string(),
                    _ if inflight.cmd.data.is_some() && !inflight.data_sent => {
                        "the '>' prompt".into()
                    }
                    _ => "a final result".into(),
                };
                if inflight.final_result.is_none() {
                    self.stale = true;
                }
                if let (false, Some(data)) = (inflight.data_sent, &inflight.cmd.data) {
                    self.orphan_data = Some((data.clone(), inflight.cmd.data_secret));
                }
                // Owed only when the modem took the command (its OK came): the result then
                // follows as the manuals' flows print it. Without a final result the line
                // may never have been read, and a debt nobody pays would cost the next
                // command its own answer.
                if inflight.urc.is_none()
                    && inflight.final_result.as_ref().is_some_and(|f| f.is_ok())
                {
                    self.owe(now, inflight.cmd.expect.clone(), inflight.ate_owed);
                }
                self.events.push_back(Event::Done(Outcome::TimedOut {
                    lines: inflight.lines,
                    final_result: inflight.final_result,
                    waited_for,
                }));
            }
        }
    }

    /// Ends what is in flight now, as if its deadline had passed (the caller gave up: an
    /// interrupt). A late answer is then handled like any timed-out command's.
    pub fn expire(&mut self, now: Instant) {
        match &mut self.state {
            State::Idle => return,
            State::Syncing(s) => {
                s.deadline = now;
                s.quiet_until = None;
            }
            State::Busy(b) => b.deadline = now,
        }
        self.handle_timeout(now);
    }

    /// Whether [`Session::poll_timeout`] moved earlier because of input since the last
    /// call: a driver sleeping until the old deadline must wake up and ask again.
    pub fn take_timer_moved(&mut self) -> bool {
        std::mem::take(&mut self.timer_moved)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
