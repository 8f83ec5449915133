//! Exactly-once receipt across a persistent-session resume: the virtual modem received a
//! QoS 2 PUBLISH and answered PUBREC, then the link dropped before the broker's PUBREL.
//! On the next connection with `clean_session` 0 the broker sends that PUBREL again; the
//! modem must answer PUBCOMP (MQTT 3.1.1, 4.3.3 and 4.4) and keep the link up, also when
//! it had answered that PUBREL once already on a link that died.
//!
//! The broker here is a scripted one on 127.0.0.1 (the virtual modem connects to loopback
//! hosts directly), so each packet of the exchange is placed exactly.

mod sim_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use modemqtt::sim::VirtualModem;
use sim_common::{quiet_modem, Host, DEADLINE};

/// Reads one MQTT packet: (first byte, body).
fn read_packet(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut first = [0u8; 1];
    s.read_exact(&mut first).expect("packet type");
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("remaining length");
        len |= usize::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
        assert!(shift <= 21, "remaining length too long");
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("packet body");
    (first[0], body)
}

/// Reads packets until one whose type (high nibble) is `kind`, skipping PINGREQs.
fn expect_packet(s: &mut TcpStream, kind: u8) -> Vec<u8> {
    loop {
        let (first, body) = read_packet(s);
        match first >> 4 {
            k if k == kind => return body,
            12 => s.write_all(&[0xd0, 0]).expect("PINGRESP"),
            other => panic!("expected packet type {kind}, got {other} ({body:?})"),
        }
    }
}

fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(false).expect("blocking");
    let (s, _) = l.accept().expect("the modem connects");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    s
}

fn publish(topic: &str, qos: u8, pkid: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&pkid.to_be_bytes());
    }
    body.extend_from_slice(payload);
    assert!(body.len() < 128);
    let mut p = vec![0x30 | (qos << 1), body.len() as u8];
    p.extend_from_slice(&body);
    p
}

/// The modem, a scripted broker and the CONNECT line of client 0 (`clean_session` 0).
fn setup(client_id: &str) -> (VirtualModem, Host, TcpListener, String) {
    let broker = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = broker.local_addr().expect("addr").port();
    let (m, mut h) = quiet_modem("a7600");
    h.cmqtt_start();
    assert_eq!(
        h.cmd(&format!("AT+CMQTTACCQ=0,\"{client_id}\"")),
        "\r\nOK\r\n"
    );
    let connect = format!("AT+CMQTTCONNECT=0,\"tcp://127.0.0.1:{port}\",60,0\r");
    (m, h, broker, connect)
}

/// Connects the modem, the broker answering CONNACK with `session_present`, and sends
/// `first` (packets the broker sends at once) before the modem reports the connect.
fn connect(
    h: &mut Host,
    broker: &TcpListener,
    line: &str,
    session_present: bool,
    first: &[u8],
) -> TcpStream {
    h.send(line.as_bytes());
    let mut s = accept(broker);
    let connect_body = expect_packet(&mut s, 1);
    // Connect flags (after the 6-byte protocol name and the level): clean session bit off.
    assert_eq!(connect_body[7] & 0x02, 0, "clean session must be 0");
    s.write_all(&[0x20, 2, u8::from(session_present), 0])
        .expect("CONNACK");
    s.write_all(first).expect("first packets");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,0\r\n");
    s
}

/// The first session: a QoS 2 message with packet id `pkid` arrives and the modem answers
/// PUBREC; with `complete`, the broker's PUBREL gets its PUBCOMP too. Then the connection
/// drops (before the broker has anything more from the modem).
fn first_session(h: &mut Host, broker: &TcpListener, line: &str, pkid: u8, complete: bool) {
    let mut s = connect(h, broker, line, false, &[]);
    s.write_all(&publish("t/q2", 2, u16::from(pkid), b"once"))
        .expect("PUBLISH");
    h.read_until(b"+CMQTTRXEND: 0\r\n");
    assert_eq!(expect_packet(&mut s, 5), vec![0, pkid], "PUBREC");
    if complete {
        s.write_all(&[0x62, 2, 0, pkid]).expect("PUBREL");
        assert_eq!(expect_packet(&mut s, 7), vec![0, pkid], "PUBCOMP");
    }
    drop(s);
    let lost = h.read_until(b"+CMQTTCONNLOST: 0,");
    assert!(!lost.is_empty());
    h.read_until(b"\r\n");
}

/// The resumed session: the broker resends PUBREL `pkid` at once; the modem answers PUBCOMP
/// and the link stays up (the next message arrives, no loss is reported).
fn resume_answers_pubrel(h: &mut Host, broker: &TcpListener, line: &str, pkid: u8) {
    let mut s = connect(h, broker, line, true, &[0x62, 2, 0, pkid]);
    assert_eq!(expect_packet(&mut s, 7), vec![0, pkid], "PUBCOMP");
    s.write_all(&publish("t/after", 0, 0, b"still here"))
        .expect("PUBLISH");
    let rx = h.read_until(b"+CMQTTRXEND: 0\r\n");
    let text = String::from_utf8_lossy(&rx);
    assert!(text.contains("still here"), "{text}");
    assert!(!text.contains("CONNLOST"), "{text}");
    std::thread::sleep(Duration::from_millis(200));
    let later = String::from_utf8_lossy(&h.pending()).into_owned();
    assert!(!later.contains("CONNLOST"), "{later}");
}

#[test]
fn pubrel_resent_after_resume_gets_pubcomp() {
    // PUBREC sent, then the link drops before the broker's PUBREL.
    let (_m, mut h, broker, line) = setup("q2dev");
    first_session(&mut h, &broker, &line, 7, false);
    resume_answers_pubrel(&mut h, &broker, &line, 7);
}

/// The PUBCOMP leaves and the link drops before the broker has it: the broker resends the
/// PUBREL on the resume (it completed nothing), and the modem answers PUBCOMP again
/// instead of taking it for a protocol error and dropping every new link.
#[test]
fn pubrel_resent_after_a_lost_pubcomp_gets_pubcomp_again() {
    let (_m, mut h, broker, line) = setup("q2lost");
    first_session(&mut h, &broker, &line, 9, true);
    resume_answers_pubrel(&mut h, &broker, &line, 9);
}
