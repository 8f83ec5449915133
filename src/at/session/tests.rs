use std::time::{Duration, Instant};

use super::*;
use crate::at::encode::CommandLine;
use crate::at::{ErrorCode, FinalResult, Frame};

fn cmd(text: &str) -> Command {
    Command::new(
        CommandLine::raw(text).expect("valid command"),
        Duration::from_secs(1),
    )
}

fn drain(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn tx(bytes: &[u8]) -> Event {
    Event::Transmit {
        bytes: bytes.to_vec(),
        masked: bytes.to_vec(),
    }
}

fn done(events: &[Event]) -> Option<&Outcome> {
    events.iter().find_map(|e| match e {
        Event::Done(o) => Some(o),
        _ => None,
    })
}

/// `text`, done only once a result line starting with `prefix` has come.
fn awaiting(text: &str, prefix: &[u8]) -> Command {
    cmd(text).with_expect(Expect::prefix(prefix.to_vec()))
}

/// `AT+CMQTTSUB`, done at its `+CMQTTSUB: 0,<err>`.
fn sub() -> Command {
    awaiting("AT+CMQTTSUB=0,9,1", b"+CMQTTSUB: 0,")
}

/// A new session that has sent `c` at `t` (its transmission drained).
fn sent(t: Instant, c: Command) -> Session {
    let mut s = Session::new();
    s.submit(t, c).unwrap();
    drain(&mut s);
    s
}

/// Feeds `bytes` at `t`; the outcome they end the command with, if they do.
fn feed(s: &mut Session, t: Instant, bytes: &[u8]) -> Option<Outcome> {
    s.handle_input(t, bytes);
    done(&drain(s)).cloned()
}

/// Lets the clock reach `t`; the outcome that ends the command with, if it does.
fn wait_until(s: &mut Session, t: Instant) -> Option<Outcome> {
    s.handle_timeout(t);
    done(&drain(s)).cloned()
}

/// The final result and the result URC of a command that completed.
fn completed(outcome: Option<Outcome>) -> (FinalResult, Option<Vec<u8>>) {
    match outcome {
        Some(Outcome::Complete {
            final_result, urc, ..
        }) => (final_result, urc),
        other => panic!("expected a completed command, got {other:?}"),
    }
}

/// Feeds `early`, which must leave the command waiting, then `result`: the final result
/// and result URC the command completes with.
fn completed_only_by(
    s: &mut Session,
    t: Instant,
    early: &[u8],
    result: &[u8],
) -> (FinalResult, Option<Vec<u8>>) {
    if let Some(outcome) = feed(s, t, early) {
        panic!("{early:?} ended the command before {result:?}: {outcome:?}");
    }
    completed(feed(s, t, result))
}

/// The lines of a command that completed.
fn completed_lines(outcome: Option<Outcome>) -> Vec<Frame> {
    match outcome {
        Some(Outcome::Complete { lines, .. }) => lines,
        other => panic!("expected a completed command, got {other:?}"),
    }
}

#[test]
fn simple_command_collects_lines_until_ok() {
    let t0 = Instant::now();
    let mut s = Session::new();
    s.submit(t0, cmd("AT+CSQ").with_response(b"+CSQ:".to_vec()))
        .unwrap();
    assert_eq!(drain(&mut s), vec![tx(b"AT+CSQ\r")]);
    assert_eq!(
        feed(&mut s, t0, b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n"),
        Some(Outcome::Complete {
            lines: vec![Frame::Line(b"+CSQ: 23,0".to_vec())],
            final_result: FinalResult::Ok,
            urc: None,
            progress: vec![],
        })
    );
    assert!(!s.is_busy());
}

#[test]
fn urc_between_command_and_ok() {
    let t0 = Instant::now();
    let mut s = Session::new();
    s.add_urc_prefix(b"+CMQTTCONNLOST:");
    s.submit(t0, cmd("AT+CSQ").with_response(b"+CSQ:".to_vec()))
        .unwrap();
    drain(&mut s);
    s.handle_input(
        t0,
        b"\r\n+CSQ: 23,0\r\n\r\n+CMQTTCONNLOST: 0,1\r\n\r\nOK\r\n",
    );
    let ev = drain(&mut s);
    assert!(ev.contains(&Event::Urc(Frame::Line(b"+CMQTTCONNLOST: 0,1".to_vec()))));
    assert_eq!(
        completed_lines(done(&ev).cloned()),
        vec![Frame::Line(b"+CSQ: 23,0".to_vec())]
    );
}

#[test]
fn unknown_line_outside_command_is_urc() {
    let t0 = Instant::now();
    let mut s = Session::new();
    s.handle_input(t0, b"\r\nRDY\r\n");
    assert_eq!(
        drain(&mut s),
        vec![Event::Urc(Frame::Line(b"RDY".to_vec()))]
    );
}

#[test]
fn echo_is_dropped() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("ATI"));
    let outcome = feed(&mut s, t0, b"ATI\r\r\nSIMCOM INCORPORATED\r\nOK\r\n");
    assert_eq!(
        completed_lines(outcome),
        vec![Frame::Line(b"SIMCOM INCORPORATED".to_vec())]
    );
}

#[test]
fn prompt_then_data_then_result_urc() {
    let t0 = Instant::now();
    let mut s = sent(t0, sub().with_data(b"simcommsg".to_vec()));
    s.handle_input(t0, b"\r\n>");
    assert_eq!(drain(&mut s), vec![tx(b"simcommsg")]);
    // The OK alone must not end it: it waits for the result URC.
    assert_eq!(
        completed_only_by(&mut s, t0, b"\r\nOK\r\n", b"\r\n+CMQTTSUB: 0,0\r\n"),
        (FinalResult::Ok, Some(b"+CMQTTSUB: 0,0".to_vec()))
    );
    assert!(!s.is_busy());
}

#[test]
fn result_urc_before_error_completes_at_error() {
    let t0 = Instant::now();
    let mut s = sent(t0, awaiting("AT+CMQTTPUB=0,1,60", b"+CMQTTPUB: 0,"));
    assert_eq!(
        completed(feed(&mut s, t0, b"\r\n+CMQTTPUB: 0,11\r\n\r\nERROR\r\n")),
        (FinalResult::Error, Some(b"+CMQTTPUB: 0,11".to_vec()))
    );
}

#[test]
fn progress_reports_do_not_complete() {
    fn is_final(line: &[u8]) -> bool {
        line.get(13) != Some(&b'1')
    }
    let t0 = Instant::now();
    let c = cmd("AT+QMTPUB=0,1,1,0,\"t\"").with_expect(Expect {
        prefix: b"+QMTPUB: 0,".to_vec(),
        is_final: Some(is_final),
    });
    let mut s = sent(t0, c);
    assert!(feed(&mut s, t0, b"\r\nOK\r\n\r\n+QMTPUB: 0,1,1,1\r\n").is_none());
    match feed(&mut s, t0, b"\r\n+QMTPUB: 0,1,0\r\n") {
        Some(Outcome::Complete { urc, progress, .. }) => {
            assert_eq!(urc.as_deref(), Some(&b"+QMTPUB: 0,1,0"[..]));
            assert_eq!(progress, vec![b"+QMTPUB: 0,1,1,1".to_vec()]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn cme_error_is_final() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT+CPIN?"));
    let (result, _) = completed(feed(&mut s, t0, b"\r\n+CME ERROR: 10\r\n"));
    assert_eq!(result, FinalResult::CmeError(ErrorCode::Numeric(10)));
}

#[test]
fn garbage_before_ok() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT"));
    let (result, _) = completed(feed(&mut s, t0, b"\x00\xff\xfe\r\nOK\r\n"));
    assert_eq!(result, FinalResult::Ok);
}

#[test]
fn timeout_then_late_response_is_dropped() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT+SLOW"));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    s.handle_timeout(t0 + Duration::from_millis(500));
    assert!(drain(&mut s).is_empty(), "not yet due");
    assert!(matches!(
        wait_until(&mut s, t0 + Duration::from_secs(1)),
        Some(Outcome::TimedOut {
            final_result: None,
            ..
        })
    ));
    assert!(s.is_stale());
    // The late answer arrives while idle: dropped, and the session is in step again.
    s.handle_input(t0 + Duration::from_secs(2), b"\r\nOK\r\n");
    assert!(drain(&mut s).is_empty());
    assert!(!s.is_stale());
    assert_eq!(s.late_responses(), 1);
}

#[test]
fn resync_before_next_command_when_stale() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT+SLOW"));
    let t1 = t0 + Duration::from_secs(1);
    s.handle_timeout(t1);
    drain(&mut s);
    // Next command while still stale: a probe goes first.
    s.submit(t1, cmd("AT+CSQ")).unwrap();
    assert_eq!(drain(&mut s), vec![tx(b"AT\r")]);
    // Late OK of AT+SLOW, then the probe's OK: both swallowed.
    s.handle_input(t1, b"\r\nOK\r\n");
    s.handle_input(t1 + Duration::from_millis(10), b"\r\nOK\r\n");
    assert!(drain(&mut s).is_empty());
    let quiet = s.poll_timeout().expect("quiet deadline");
    assert!(quiet > t1);
    s.handle_timeout(quiet);
    assert_eq!(drain(&mut s), vec![tx(b"AT+CSQ\r")]);
    let (result, _) = completed(feed(&mut s, quiet, b"\r\n+CSQ: 5,0\r\n\r\nOK\r\n"));
    assert_eq!(result, FinalResult::Ok);
}

#[test]
fn missing_prompt_times_out_naming_it() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT+CMQTTTOPIC=0,3").with_data(b"abc".to_vec()));
    match wait_until(&mut s, t0 + Duration::from_secs(2)) {
        Some(Outcome::TimedOut { waited_for, .. }) => assert!(waited_for.contains("prompt")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn busy_refuses_second_submit() {
    let t0 = Instant::now();
    let mut s = Session::new();
    s.submit(t0, cmd("AT")).unwrap();
    assert_eq!(s.submit(t0, cmd("AT")), Err(Busy));
}

#[test]
fn secret_data_is_masked() {
    let t0 = Instant::now();
    let mut c = cmd("AT+CCERTDOWN=\"k.pem\",6").with_data(b"SECRET".to_vec());
    c.data_secret = true;
    let mut s = sent(t0, c);
    s.handle_input(t0, b">");
    assert_eq!(
        drain(&mut s),
        vec![Event::Transmit {
            bytes: b"SECRET".to_vec(),
            masked: b"<6 secret bytes>".to_vec()
        }]
    );
}

#[test]
fn implied_prefixes() {
    assert_eq!(implied_prefix(b"AT+CSQ"), Some(b"+CSQ:".to_vec()));
    assert_eq!(implied_prefix(b"AT+creg?"), Some(b"+CREG:".to_vec()));
    assert_eq!(
        implied_prefix(b"AT+CMQTTACCQ=0,\"x\""),
        Some(b"+CMQTTACCQ:".to_vec())
    );
    assert_eq!(implied_prefix(b"ATI"), None);
    assert_eq!(implied_prefix(b"ATE0"), None);
}

#[test]
fn late_prompt_of_a_timed_out_command_gets_its_data() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT+CMQTTTOPIC=0,3").with_data(b"abc".to_vec()));
    let t1 = t0 + Duration::from_secs(1);
    assert!(matches!(
        wait_until(&mut s, t1),
        Some(Outcome::TimedOut { .. })
    ));
    // The modem prompts late and would now take the next command line as its 3 bytes.
    s.handle_input(t1, b"\r\n>");
    assert_eq!(drain(&mut s), vec![tx(b"abc")]);
    // Only once.
    s.handle_input(t1, b"\r\n>");
    assert!(drain(&mut s).is_empty());
}

#[test]
fn completed_command_forgets_orphan_data() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT+CMQTTTOPIC=0,3").with_data(b"abc".to_vec()));
    wait_until(&mut s, t0 + Duration::from_secs(1));
    s.handle_input(t0, b"\r\nERROR\r\n"); // the late answer: no prompt will come
    s.submit(t0, cmd("AT")).unwrap();
    drain(&mut s);
    feed(&mut s, t0, b"\r\nOK\r\n");
    s.handle_input(t0, b"\r\n>");
    assert!(
        drain(&mut s).is_empty(),
        "a stray prompt later sends nothing"
    );
}

#[test]
fn abort_ends_a_command_waiting_for_a_lost_result() {
    let t0 = Instant::now();
    let mut s = sent(t0, awaiting("AT+CMQTTPUB=0,1,60", b"+CMQTTPUB: 0,"));
    s.handle_input(t0, b"\r\nOK\r\n");
    assert!(!s.abort_if("link lost", false, |p| p == Some(&b"+CMQTTPUB: 1,"[..])));
    assert!(s.abort_if("link lost", false, |p| p == Some(&b"+CMQTTPUB: 0,"[..])));
    assert_eq!(
        done(&drain(&mut s)),
        Some(&Outcome::Aborted("link lost".into()))
    );
    assert!(!s.is_busy());
    assert!(
        !s.is_stale(),
        "its final result had come: nothing late to expect"
    );
}

#[test]
fn abort_before_the_final_result_expects_it_late() {
    let t0 = Instant::now();
    let mut s = sent(t0, cmd("AT+SLOW"));
    assert!(s.abort_if("gone", false, |_| true));
    assert!(s.is_stale());
    let mut s = sent(t0, cmd("AT+SLOW"));
    assert!(s.abort_if("the modem restarted", true, |_| true));
    assert!(!s.is_stale(), "a restarted modem owes no answer");
}

/// seeds/001_027f269829f52179.txt §3.2.8 (SIM7028 `AT+CMQTTCONNECT`), reply case 3:
/// "如果失败: 错误 / +CMQTTCONNECT:<客户端索引>,<错误>" — `ERROR`, then the result line
/// with the code. The code must reach the caller.
#[test]
fn error_then_result_urc_keeps_the_code() {
    let t0 = Instant::now();
    let c = awaiting(
        "AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1",
        b"+CMQTTCONNECT: 0,",
    );
    let mut s = sent(t0, c);
    // The code may follow the ERROR.
    assert_eq!(
        completed_only_by(&mut s, t0, b"\r\nERROR\r\n", b"\r\n+CMQTTCONNECT: 0,22\r\n"),
        (FinalResult::Error, Some(b"+CMQTTCONNECT: 0,22".to_vec()))
    );
}

/// The same manual's case 5 is a bare `ERROR`: the command ends after the grace period
/// with the final result alone, owing nothing (the next command's result is its own).
#[test]
fn bare_error_ends_after_the_grace() {
    let t0 = Instant::now();
    let mut s = sent(t0, sub());
    s.handle_input(t0, b"\r\nERROR\r\n");
    assert_eq!(s.poll_timeout(), Some(t0 + ERROR_URC_GRACE));
    assert_eq!(
        completed(wait_until(&mut s, t0 + ERROR_URC_GRACE)),
        (FinalResult::Error, None)
    );
    assert_eq!(s.owed_results(), 0);
}

/// seeds/003_45f2c3f1bcce002c.txt §2.1.17: `optimeout` (the module's own wait for a
/// SUBACK) is 20-120 s, default 120 s; a caller may give up sooner. The module's answer
/// to the abandoned SUB must not be taken for the answer to the next SUB.
#[test]
fn late_result_urc_cannot_complete_the_next_command() {
    let t0 = Instant::now();
    let mut s = sent(t0, sub());
    s.handle_input(t0, b"\r\nOK\r\n");
    let t1 = t0 + Duration::from_secs(1);
    assert!(matches!(
        wait_until(&mut s, t1),
        Some(Outcome::TimedOut { .. })
    ));
    s.submit(t1, sub()).unwrap();
    drain(&mut s);
    // The first SUB's late failure, then the second's OK and its success.
    // 17 belongs to the first SUB.
    let early = b"\r\n+CMQTTSUB: 0,17\r\n\r\nOK\r\n";
    let (_, urc) = completed_only_by(&mut s, t1, early, b"\r\n+CMQTTSUB: 0,0\r\n");
    assert_eq!(urc.as_deref(), Some(&b"+CMQTTSUB: 0,0"[..]));
    assert_eq!(s.owed_results(), 0);
}

/// A debt whose answer never comes costs at most one later command, and expires. A
/// command that timed out before its OK owes nothing: the modem may never have read it.
#[test]
fn an_unpaid_debt_does_not_cascade() {
    let t0 = Instant::now();
    {
        let mut s = sent(t0, awaiting("AT+CMQTTPUB=0,1,60", b"+CMQTTPUB: 0,"));
        wait_until(&mut s, t0 + Duration::from_secs(1));
        assert_eq!(s.owed_results(), 0);
    }
    let mut s = sent(t0, sub());
    s.handle_input(t0, b"\r\nOK\r\n");
    let t1 = t0 + Duration::from_secs(1);
    wait_until(&mut s, t1);
    // Second SUB: its own answer is taken as the first's; it times out owing nothing.
    s.submit(t1, sub()).unwrap();
    drain(&mut s);
    s.handle_input(t1, b"\r\nOK\r\n\r\n+CMQTTSUB: 0,0\r\n");
    let t2 = t1 + Duration::from_secs(1);
    assert!(matches!(
        wait_until(&mut s, t2),
        Some(Outcome::TimedOut { .. })
    ));
    assert_eq!(s.owed_results(), 0);
    s.submit(t2, sub()).unwrap();
    drain(&mut s);
    assert!(matches!(
        feed(&mut s, t2, b"\r\nOK\r\n\r\n+CMQTTSUB: 0,0\r\n"),
        Some(Outcome::Complete { .. })
    ));
    // Debts expire.
    let mut s = sent(t0, sub());
    s.handle_input(t0, b"\r\nOK\r\n");
    wait_until(&mut s, t1);
    assert_eq!(s.owed_results(), 1);
    let later = t1 + OWED_FOR + Duration::from_secs(1);
    s.submit(later, sub()).unwrap();
    drain(&mut s);
    assert!(matches!(
        feed(&mut s, later, b"\r\nOK\r\n\r\n+CMQTTSUB: 0,0\r\n"),
        Some(Outcome::Complete { .. })
    ));
}
