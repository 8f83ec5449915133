//! Result URCs awaited outside the AT turn, for the families whose commands answer `OK`
//! and report their outcome later in a URC: Quectel (`+QMTSUB: <idx>,<msgID>,...`) and
//! u-blox (`+UUMQTTC: <op>,<result>`).
//!
//! Such a command's `OK` only says it was accepted; its outcome follows when the network
//! answers, and the module takes other commands meanwhile (the Quectel notes' examples send
//! the next command before the result of the previous one). The client gives the AT channel
//! back at `OK` and waits for the result here, so that other commands go on in between:
//! above all the buffer reads of Quectel's buffer mode. Holding the channel until the result
//! would deadlock a host whose five buffers are full: the module reads no further from the
//! server (the SUBACK waits behind messages it has no room for) while the host's
//! `AT+QMTRECV` reads wait behind the subscribe.
//!
//! Matching follows the session's rules for results of commands in flight: a line is taken
//! by the first waiter whose prefix it starts with and whose `is_final` accepts it (a
//! retransmission report is progress); a result still owed by a waiter that gave up is not
//! taken as the answer to a later one with the same prefix ([`Owed`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::at::session::{Command, Expect, Owed};
use crate::dialect::common::lock;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::waits;

/// How a wait ended on the URC side.
enum Got {
    Line(Vec<u8>),
    /// The result can no longer come: the link, the modem or the port is gone.
    Lost(String),
    PortLost(String),
}

struct Waiter {
    id: u64,
    index: usize,
    expect: Expect,
    tx: Sender<Got>,
    /// A line this waiter's expectation matched was taken as an earlier waiter's late
    /// result: it may have been this one's, so giving up must not owe again.
    ate_owed: bool,
}

#[derive(Default)]
struct State {
    next_id: u64,
    waiters: Vec<Waiter>,
    /// Expectations of waiters that gave up.
    owed: Owed,
}

/// The waiters of one modem's clients.
#[derive(Default)]
pub(crate) struct Results {
    state: Mutex<State>,
}

impl Results {
    /// Runs `cmd` for client `index`, its outcome a result URC (its `expect`); returns that
    /// line. The AT channel is free again at `OK`: the result is awaited outside it, within
    /// the command's timeout.
    pub(crate) fn run(&self, engine: &Engine, index: u8, mut cmd: Command) -> Result<Vec<u8>> {
        let text = cmd.line.text().to_string();
        let started = Instant::now();
        let expect = cmd
            .expect
            .take()
            .ok_or_else(|| Error::Protocol(format!("{text}: no result to wait for")))?;
        let deadline = started + cmd.timeout;
        let mut ticket = self.expect(index, expect);
        let r = match engine.execute_raw(cmd) {
            Ok(r) => r,
            Err(e) => {
                // Without its OK the modem may never have read the command: nothing is owed.
                ticket.give_up(false);
                return Err(e);
            }
        };
        if !r.final_result.is_ok() {
            ticket.give_up(false);
            return Err(Error::from_final(&text, &r.final_result));
        }
        let timeout = waits::capped(deadline).saturating_duration_since(started);
        ticket.wait(deadline, &text, timeout)
    }

    /// Registers the wait for `expect` (before the command goes out, so that a result that
    /// beats the `OK` is not missed).
    pub(crate) fn expect(&self, index: u8, expect: Expect) -> Ticket<'_> {
        let (tx, rx) = bounded(1);
        let waited_for = String::from_utf8_lossy(&expect.prefix)
            .trim_end_matches(',')
            .to_string();
        let mut s = lock(&self.state);
        s.next_id += 1;
        let id = s.next_id;
        s.waiters.push(Waiter {
            id,
            index: index as usize,
            expect,
            tx,
            ate_owed: false,
        });
        Ticket {
            results: self,
            id,
            rx,
            waited_for,
            done: false,
        }
    }

    /// Offers a result line; false when nobody waits for it (nor owed it).
    pub(crate) fn offer(&self, line: &[u8]) -> bool {
        let now = Instant::now();
        let mut s = lock(&self.state);
        if s.owed.settle(now, line) {
            for w in s.waiters.iter_mut().filter(|w| w.expect.matches(line)) {
                w.ate_owed = true;
            }
            log::debug!(
                "late result {:?} of a command that gave up: not taken as a later one's",
                String::from_utf8_lossy(line)
            );
            return true;
        }
        let Some(i) = s
            .waiters
            .iter()
            .position(|w| line.starts_with(&w.expect.prefix))
        else {
            return false;
        };
        if !s.waiters[i].expect.is_final.is_none_or(|f| f(line)) {
            log::info!(
                "client {}: {} (retransmission)",
                s.waiters[i].index,
                String::from_utf8_lossy(line)
            );
            return true;
        }
        let w = s.waiters.remove(i);
        let _ = w.tx.try_send(Got::Line(line.to_vec()));
        true
    }

    /// Ends the waits `which` selects (their results can no longer come).
    fn fail(&self, which: impl Fn(&Waiter) -> bool, got: impl Fn() -> Got) {
        let mut s = lock(&self.state);
        let (gone, kept): (Vec<_>, Vec<_>) = s.waiters.drain(..).partition(|w| which(w));
        s.waiters = kept;
        for w in gone {
            let _ = w.tx.try_send(got());
        }
    }

    /// Ends the waits of client `index` whose result prefix `which` selects: their results
    /// can no longer come (`reason`).
    pub(crate) fn lost_for(&self, index: usize, which: impl Fn(&[u8]) -> bool, reason: &str) {
        self.fail(
            |w| w.index == index && which(&w.expect.prefix),
            || Got::Lost(reason.to_string()),
        );
    }

    /// Every wait ends: the results can no longer come (`reason`), e.g. the only link of
    /// a family whose results name no client is gone.
    pub(crate) fn lost(&self, reason: &str) {
        self.fail(|_| true, || Got::Lost(reason.to_string()));
    }

    /// The modem restarted: no result of before can come.
    pub(crate) fn restarted(&self) {
        let mut s = lock(&self.state);
        s.owed.clear();
        drop(s);
        self.fail(|_| true, || Got::Lost("modem restarted".into()));
    }

    pub(crate) fn port_lost(&self, reason: &str) {
        self.fail(|_| true, || Got::PortLost(reason.to_string()));
    }

    /// Forgets waiter `id`; `owe`: its result may still come (it timed out).
    fn drop_waiter(&self, id: u64, owe: bool) {
        let mut s = lock(&self.state);
        let Some(i) = s.waiters.iter().position(|w| w.id == id) else {
            return;
        };
        let w = s.waiters.remove(i);
        if owe && !w.ate_owed {
            s.owed.owe(Instant::now(), w.expect);
        }
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let s = lock(&self.state);
        (s.waiters.len(), s.owed.len())
    }
}

/// One registered wait; dropping it unregisters it.
pub(crate) struct Ticket<'a> {
    results: &'a Results,
    id: u64,
    rx: Receiver<Got>,
    /// The result line's prefix, for the timeout error.
    waited_for: String,
    done: bool,
}

impl Ticket<'_> {
    /// Waits for the result until `deadline` (the command's, counted from its submission;
    /// the calling thread's cap and interrupt check apply). `command` and `timeout` (what
    /// the caller allowed) describe the wait in errors.
    pub(crate) fn wait(
        mut self,
        deadline: Instant,
        command: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let deadline = waits::capped(deadline);
        loop {
            let now = Instant::now();
            let got = if now >= deadline {
                None
            } else {
                match self.rx.recv_timeout(waits::next_check(deadline) - now) {
                    Ok(g) => Some(g),
                    Err(RecvTimeoutError::Timeout) => {
                        if waits::interrupted() {
                            self.give_up(true);
                            return Err(Error::Interrupted(command.to_string()));
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            };
            self.done = true;
            return match got {
                Some(Got::Line(line)) => Ok(line),
                Some(Got::Lost(reason)) => Err(Error::Other(format!("{command}: {reason}"))),
                Some(Got::PortLost(reason)) => Err(Error::Port(reason)),
                None => {
                    // A result that raced the deadline is taken rather than owed.
                    if let Ok(Got::Line(line)) = self.rx.try_recv() {
                        return Ok(line);
                    }
                    self.results.drop_waiter(self.id, true);
                    Err(Error::Timeout {
                        command: command.to_string(),
                        waited_for: std::mem::take(&mut self.waited_for),
                        timeout,
                    })
                }
            };
        }
    }

    /// The command was refused or never got its `OK`: its result is not owed (`owe`:
    /// unless the modem may still send it).
    pub(crate) fn give_up(&mut self, owe: bool) {
        if !self.done {
            self.done = true;
            self.results.drop_waiter(self.id, owe);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.give_up(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::qmt::{final_unless_retransmission, waits_for_client};

    fn sub(idx: u8, msgid: u16) -> Expect {
        Expect {
            prefix: format!("+QMTSUB: {idx},{msgid},").into_bytes(),
            is_final: Some(final_unless_retransmission::<2>),
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// `first` is taken but does not end `t`'s wait (progress, or owed elsewhere); `last`
    /// ends it with that line.
    fn passed_over_then_taken(r: &Results, t: Ticket<'_>, first: &[u8], last: &[u8]) {
        assert!(r.offer(first));
        assert_eq!(r.counts(), (1, 0));
        assert!(r.offer(last));
        assert_eq!(got(t), Some(last.to_vec()));
    }

    /// The line a ticket's wait gets (`None`: it failed).
    fn got(t: Ticket<'_>) -> Option<Vec<u8>> {
        t.wait(soon(), "AT+QMT...", Duration::from_secs(5)).ok()
    }

    #[test]
    fn result_reaches_its_waiter_only() {
        let r = Results::default();
        let a = r.expect(0, sub(0, 1));
        let b = r.expect(1, sub(1, 1));
        assert!(r.offer(b"+QMTSUB: 1,1,0,2"));
        assert!(!r.offer(b"+QMTSUB: 2,1,0,2"));
        assert_eq!(got(b), Some(b"+QMTSUB: 1,1,0,2".to_vec()));
        drop(a);
        assert_eq!(r.counts(), (0, 0));
    }

    #[test]
    fn retransmission_is_progress() {
        let r = Results::default();
        let t = r.expect(0, sub(0, 7));
        passed_over_then_taken(&r, t, b"+QMTSUB: 0,7,1,1", b"+QMTSUB: 0,7,0,1");
    }

    #[test]
    fn a_timed_out_wait_owes_its_result_to_nobody_else() {
        let r = Results::default();
        let open = || Expect::prefix(b"+QMTOPEN: 0,".to_vec());
        let t = r.expect(0, open());
        let err = t
            .wait(Instant::now(), "AT+QMTOPEN=0", Duration::ZERO)
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert_eq!(r.counts(), (0, 1));
        let t2 = r.expect(0, open());
        // The late answer of the first open is not the second one's; its own is.
        passed_over_then_taken(&r, t2, b"+QMTOPEN: 0,2", b"+QMTOPEN: 0,0");
    }

    #[test]
    fn link_loss_ends_the_clients_waits_but_the_open() {
        let r = Results::default();
        let s = r.expect(2, sub(2, 3));
        let o = r.expect(2, Expect::prefix(b"+QMTOPEN: 2,".to_vec()));
        let other = r.expect(1, sub(1, 3));
        r.lost_for(
            2,
            |p| waits_for_client(p, 2),
            "connection closed by the server",
        );
        let err = s
            .wait(soon(), "AT+QMTSUB=2", Duration::from_secs(5))
            .unwrap_err();
        assert!(err.to_string().contains("closed by the server"), "{err}");
        assert_eq!(r.counts(), (2, 0));
        r.port_lost("gone");
        assert!(matches!(
            o.wait(soon(), "x", Duration::from_secs(5)),
            Err(Error::Port(_))
        ));
        drop(other);
        assert_eq!(r.counts(), (0, 0));
    }

    #[test]
    fn a_refused_command_owes_nothing() {
        let r = Results::default();
        let mut t = r.expect(0, sub(0, 9));
        t.give_up(false);
        assert_eq!(r.counts(), (0, 0));
        assert!(!r.offer(b"+QMTSUB: 0,9,0,1"));
    }
}
