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

use sim_common::{quiet_modem, DEADLINE};

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

#[test]
fn pubrel_resent_after_resume_gets_pubcomp() {
    let broker = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = broker.local_addr().expect("addr").port();
    let (_m, mut h) = quiet_modem("a7600");
    h.cmqtt_start();
    assert_eq!(h.cmd("AT+CMQTTACCQ=0,\"q2dev\""), "\r\nOK\r\n");
    let connect = format!("AT+CMQTTCONNECT=0,\"tcp://127.0.0.1:{port}\",60,0\r");

    // First session: one QoS 2 message, PUBREC, then the link drops before PUBREL.
    h.send(connect.as_bytes());
    let mut s = accept(&broker);
    expect_packet(&mut s, 1);
    s.write_all(&[0x20, 2, 0, 0]).expect("CONNACK");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,0\r\n");
    s.write_all(&publish("t/q2", 2, 7, b"once"))
        .expect("PUBLISH");
    h.read_until(b"+CMQTTRXEND: 0\r\n");
    assert_eq!(expect_packet(&mut s, 5), vec![0, 7], "PUBREC for packet 7");
    drop(s);
    let lost = h.read_until(b"+CMQTTCONNLOST: 0,");
    assert!(!lost.is_empty());

    // Second session, persistent: the broker resends PUBREL 7 at once.
    h.read_until(b"\r\n");
    h.send(connect.as_bytes());
    let mut s = accept(&broker);
    let connect_body = expect_packet(&mut s, 1);
    // Connect flags (after the 6-byte protocol name and the level): clean session bit off.
    assert_eq!(connect_body[7] & 0x02, 0, "clean session must be 0");
    s.write_all(&[0x20, 2, 1, 0])
        .expect("CONNACK, session present");
    s.write_all(&[0x62, 2, 0, 7]).expect("PUBREL");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,0\r\n");
    assert_eq!(expect_packet(&mut s, 7), vec![0, 7], "PUBCOMP for packet 7");

    // The link stayed up: the next message still arrives, and nothing reports a loss.
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

/// The PUBCOMP leaves and the link drops before the broker has it: the broker resends the
/// PUBREL on the resume (it completed nothing), and the modem answers PUBCOMP again
/// instead of taking it for a protocol error and dropping every new link.
#[test]
fn pubrel_resent_after_a_lost_pubcomp_gets_pubcomp_again() {
    let broker = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = broker.local_addr().expect("addr").port();
    let (_m, mut h) = quiet_modem("a7600");
    h.cmqtt_start();
    assert_eq!(h.cmd("AT+CMQTTACCQ=0,\"q2lost\""), "\r\nOK\r\n");
    let connect = format!("AT+CMQTTCONNECT=0,\"tcp://127.0.0.1:{port}\",60,0\r");

    // First session: the whole exchange from the modem's side, PUBCOMP included.
    h.send(connect.as_bytes());
    let mut s = accept(&broker);
    expect_packet(&mut s, 1);
    s.write_all(&[0x20, 2, 0, 0]).expect("CONNACK");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,0\r\n");
    s.write_all(&publish("t/q2", 2, 9, b"once"))
        .expect("PUBLISH");
    h.read_until(b"+CMQTTRXEND: 0\r\n");
    assert_eq!(expect_packet(&mut s, 5), vec![0, 9], "PUBREC for packet 9");
    s.write_all(&[0x62, 2, 0, 9]).expect("PUBREL");
    assert_eq!(expect_packet(&mut s, 7), vec![0, 9], "PUBCOMP for packet 9");
    // ...which the broker never got: the connection goes.
    drop(s);
    h.read_until(b"+CMQTTCONNLOST: 0,");
    h.read_until(b"\r\n");

    // The resume: the broker still holds exchange 9 open and resends its PUBREL.
    h.send(connect.as_bytes());
    let mut s = accept(&broker);
    expect_packet(&mut s, 1);
    s.write_all(&[0x20, 2, 1, 0])
        .expect("CONNACK, session present");
    s.write_all(&[0x62, 2, 0, 9]).expect("PUBREL");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,0\r\n");
    assert_eq!(expect_packet(&mut s, 7), vec![0, 9], "PUBCOMP for packet 9");
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
