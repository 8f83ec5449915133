//! The engine against an in-memory scripted port: real threads, no serial device.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::unbounded;

use super::*;
use crate::at::session::Expect;
use crate::at::{build, ErrorCode};

fn scripted(script: memport::Script) -> (Engine, memport::ScriptedModem) {
    let (port, modem) = memport::scripted(script);
    (Engine::start(port), modem)
}

fn c(text: &str, ms: u64) -> Command {
    Command::new(build(text, &[]).unwrap(), Duration::from_millis(ms))
}

/// What the engine wrote to the scripted modem so far.
fn written(m: &memport::ScriptedModem) -> Vec<u8> {
    m.written.lock().unwrap().clone()
}

fn v(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

#[test]
fn command_and_response() {
    let (e, _m) = scripted(Box::new(|cmd| match cmd {
        b"AT+CSQ" => v(&[b"\r\n+CSQ: 23,0\r\n", b"\r\nOK\r\n"]),
        _ => v(&[b"\r\nERROR\r\n"]),
    }));
    let r = e.command("AT+CSQ", Duration::from_secs(2), None).unwrap();
    assert_eq!(r.text_lines(), vec!["+CSQ: 23,0"]);
    assert_eq!(r.value("+CSQ:").as_deref(), Some("23,0"));
    match e.command("AT+NOPE", Duration::from_secs(2), None) {
        Err(Error::Command { code: None, .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
    e.close();
}

#[test]
fn cme_error_carries_code() {
    let (e, _m) = scripted(Box::new(|_| v(&[b"\r\n+CME ERROR: 10\r\n"])));
    match e.command("AT+CPIN?", Duration::from_secs(2), None) {
        Err(Error::Command {
            code: Some(ErrorCode::Numeric(10)),
            command,
            ..
        }) => assert_eq!(command, "AT+CPIN?"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn urc_in_the_middle_of_a_response_goes_to_its_handler() {
    let (e, _m) = scripted(Box::new(|_| {
        v(&[
            b"\r\n+CSQ: 1,",
            b"2\r\n\r\n+CMQTTCONNLOST: 0,2\r\n",
            b"\r\nOK\r\n",
        ])
    }));
    let (tx, rx) = unbounded();
    e.add_urc_handler(
        b"+CMQTTCONNLOST:",
        Arc::new(move |f: &Frame| {
            let _ = tx.send(f.clone());
        }),
    );
    let r = e.command("AT+CSQ", Duration::from_secs(2), None).unwrap();
    assert_eq!(r.text_lines(), vec!["+CSQ: 1,2"]);
    let f = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(f, Frame::Line(b"+CMQTTCONNLOST: 0,2".to_vec()));
}

#[test]
fn response_after_deadline_is_resynced() {
    let calls = Arc::new(Mutex::new(0));
    let n = calls.clone();
    let (e, _m) = scripted(Box::new(move |cmd| {
        *n.lock().unwrap() += 1;
        match cmd {
            // Answers long after the caller gave up.
            b"AT+SLOW" => v(&[b"@sleep 300", b"\r\nOK\r\n"]),
            b"AT" => v(&[b"\r\nOK\r\n"]),
            b"AT+CSQ" => v(&[b"\r\n+CSQ: 9,9\r\n\r\nOK\r\n"]),
            _ => v(&[b"\r\nERROR\r\n"]),
        }
    }));
    match e.execute(c("AT+SLOW", 100)) {
        Err(Error::Timeout {
            command,
            waited_for,
            ..
        }) => {
            assert_eq!(command, "AT+SLOW");
            assert!(waited_for.contains("final"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // The next command must not take the late OK for its own answer.
    let r = e
        .execute(c("AT+CSQ", 3000).with_response(b"+CSQ:".to_vec()))
        .unwrap();
    assert_eq!(r.text_lines(), vec!["+CSQ: 9,9"]);
}

#[test]
fn garbage_bytes_before_ok() {
    let (e, _m) = scripted(Box::new(|_| v(&[b"\xff\x00garbage", b"\r\nOK\r\n"])));
    let r = e.execute(c("AT", 2000)).unwrap();
    assert!(r.final_result.is_ok());
}

#[test]
fn prompt_then_data_then_result_urc() {
    let (e, m) = scripted(Box::new(|input| match input {
        b"AT+CMQTTTOPIC=0,9" => v(&[b"\r\n>"]),
        b"simcommsg" => v(&[b"\r\nOK\r\n", b"\r\n+CMQTTPUB: 0,0\r\n"]),
        _ => v(&[b"\r\nERROR\r\n"]),
    }));
    let cmd = c("AT+CMQTTTOPIC=0,9", 2000)
        .with_data(b"simcommsg".to_vec())
        .with_expect(Expect::prefix(b"+CMQTTPUB: 0,".to_vec()));
    let r = e.execute(cmd).unwrap();
    assert_eq!(r.urc.as_deref(), Some(&b"+CMQTTPUB: 0,0"[..]));
    assert_eq!(written(&m), b"AT+CMQTTTOPIC=0,9\rsimcommsg");
}

#[test]
fn missing_prompt_times_out() {
    let (e, m) = scripted(Box::new(|_| Vec::new()));
    let cmd = c("AT+CMQTTPAYLOAD=0,3", 150).with_data(b"abc".to_vec());
    match e.execute(cmd) {
        Err(Error::Timeout { waited_for, .. }) => assert!(waited_for.contains("prompt")),
        other => panic!("unexpected {other:?}"),
    }
    // The data was never sent without its prompt.
    assert_eq!(written(&m), b"AT+CMQTTPAYLOAD=0,3\r");
}

#[test]
fn unplugged_port_fails_the_command_and_later_ones() {
    let (e, m) = scripted(Box::new(|_| Vec::new()));
    let lost = Arc::new(Mutex::new(None));
    let l = lost.clone();
    e.on_port_loss(Arc::new(move |why: &str| {
        *l.lock().unwrap() = Some(why.to_string())
    }));
    let e2 = e.clone();
    let waiter = std::thread::spawn(move || e2.execute(c("AT", 5000)));
    std::thread::sleep(Duration::from_millis(50));
    m.unplug(); // the reader sees EIO
    let res = waiter.join().unwrap();
    assert!(matches!(res, Err(Error::Port(_))), "got {res:?}");
    assert!(matches!(e.execute(c("AT", 1000)), Err(Error::Port(_))));
    assert!(lost
        .lock()
        .unwrap()
        .as_deref()
        .unwrap_or("")
        .contains("EIO"));
}

#[test]
fn commands_from_two_threads_take_turns() {
    let (e, _m) = scripted(Box::new(|cmd| {
        let mut out = b"\r\n".to_vec();
        out.extend_from_slice(&cmd[2..]);
        out.extend_from_slice(b": ok\r\n\r\nOK\r\n");
        vec![b"@sleep 5".to_vec(), out]
    }));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let e = e.clone();
            std::thread::spawn(move || {
                let text = format!("AT+T{i}");
                let r = e
                    .execute(c(&text, 5000).with_response(format!("+T{i}:").into_bytes()))
                    .unwrap();
                assert_eq!(r.text_lines(), vec![format!("+T{i}: ok")]);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn transcript_masks_secrets() {
    let (e, _m) = scripted(Box::new(|_| v(&[b"\r\nOK\r\n"])));
    e.add_secret(b"pa55word");
    let line = build(
        "AT+CMQTTCONNECT",
        &[crate::at::Arg::Int(0), crate::at::Arg::Secret("pa55word")],
    )
    .unwrap();
    e.execute(Command::new(line, Duration::from_secs(2)))
        .unwrap();
    let all: Vec<u8> = e.transcript().into_iter().flat_map(|t| t.bytes).collect();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("AT+CMQTTCONNECT=0,"), "{text}");
    assert!(!text.contains("pa55word"), "{text}");
}

#[test]
fn close_stops_reader_and_fails_later_commands() {
    let (e, _m) = scripted(Box::new(|_| v(&[b"\r\nOK\r\n"])));
    e.execute(c("AT", 1000)).unwrap();
    e.close();
    e.close();
    assert!(e.is_closed());
    assert!(matches!(e.execute(c("AT", 1000)), Err(Error::Port(_))));
}
