//! Buffers and limits of the virtual modem: `AT+CMQTTSTOP` with clients still acquired,
//! `AT+CMQTTSUB?`, inbound payloads above the family maximum, Quectel buffer mode with its
//! five buffers. Every profile of the family each applies to.

mod sim_common;

use std::thread;

use modemqtt::sim::VirtualModem;
use rumqttc::{Client, MqttOptions, QoS};
use sim_common::{broker_port, quiet_modem, Host};

const CMQTT: [&str; 3] = ["a7600", "sim7600", "sim7028"];
const QMT: [&str; 4] = ["ec20", "ec25", "eg91", "bg96"];

/// Publishes `messages` to the modem's broker from a plain MQTT client, in order, at QoS 1.
fn publish_all(m: &VirtualModem, id: &str, messages: &[(&str, Vec<u8>)]) {
    let mut opts = MqttOptions::new(id, "127.0.0.1", broker_port(m));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(opts, 64);
    for (topic, payload) in messages {
        client
            .publish(*topic, QoS::AtLeastOnce, false, payload.clone())
            .expect("queue publish");
    }
    client.disconnect().expect("queue disconnect");
    let driver = thread::spawn(move || {
        for ev in conn.iter() {
            if ev.is_err() {
                break;
            }
        }
    });
    driver.join().expect("publisher thread");
}

/// Subscribes CMQTT client 0 (connected) to `topic` at QoS 1, the one-shot form every
/// CMQTT profile has.
fn cmqtt_sub(h: &mut Host, topic: &str) {
    h.input(
        &format!("AT+CMQTTSUB=0,{},1", topic.len()),
        topic.as_bytes(),
    );
    h.expect(b"\r\n+CMQTTSUB: 0,0\r\n");
}

#[test]
fn stop_with_a_client_acquired_answers_21() {
    for profile in CMQTT {
        let (_m, mut h) = quiet_modem(profile);
        h.cmqtt_start();
        assert_eq!(h.cmd("AT+CMQTTACCQ=0,\"held\""), "\r\nOK\r\n");
        // 21 "client not released" (seeds/003 §2.2.1), in each manual's failure form.
        let want = if profile == "sim7028" {
            "\r\n+CMQTTSTOP: 21\r\n\r\nERROR\r\n" // 001 §3.2.2
        } else {
            "\r\nOK\r\n\r\n+CMQTTSTOP: 21\r\n" // 003 §2.1.2
        };
        h.exchange(b"AT+CMQTTSTOP\r", want.as_bytes());
        // The service and the client are still there.
        assert_eq!(
            h.cmd("AT+CMQTTACCQ=0,\"again\""),
            "\r\n+CMQTTACCQ: 0,19\r\n\r\nERROR\r\n",
            "{profile}"
        );
        assert_eq!(h.cmd("AT+CMQTTREL=0"), "\r\nOK\r\n");
        h.exchange(b"AT+CMQTTSTOP\r", b"\r\nOK\r\n\r\n+CMQTTSTOP: 0\r\n");
    }
}

#[test]
fn sub_read_lists_the_subscribed_topics() {
    for profile in CMQTT {
        let (_m, mut h) = quiet_modem(profile);
        h.connect0(&format!("subread-{profile}"));
        // seeds/001 §3.2.13: `+CMQTTSUB: [<topic>]`.
        assert_eq!(h.cmd("AT+CMQTTSUB?"), "\r\n+CMQTTSUB:\r\n\r\nOK\r\n");
        cmqtt_sub(&mut h, "limits/a");
        cmqtt_sub(&mut h, "limits/b/#");
        assert_eq!(
            h.cmd("AT+CMQTTSUB?"),
            "\r\n+CMQTTSUB: limits/a\r\n\r\n+CMQTTSUB: limits/b/#\r\n\r\nOK\r\n",
            "{profile}"
        );
        // A subscription the broker refuses (SUBACK 0x80) is not listed.
        h.input("AT+CMQTTSUB=0,16,1", b"test/nosubscribe");
        h.expect(b"\r\n+CMQTTSUB: 0,1\r\n");
        h.input("AT+CMQTTUNSUB=0,8,0", b"limits/a");
        h.expect(b"\r\n+CMQTTUNSUB: 0,0\r\n");
        assert_eq!(
            h.cmd("AT+CMQTTSUB?"),
            "\r\n+CMQTTSUB: limits/b/#\r\n\r\nOK\r\n",
            "{profile}"
        );
    }
}

#[test]
fn cmqtt_discards_a_payload_above_10240_bytes() {
    for profile in CMQTT {
        let (m, mut h) = quiet_modem(profile);
        h.connect0(&format!("big-{profile}"));
        let topic = format!("limits/big/{profile}");
        cmqtt_sub(&mut h, &topic);
        publish_all(
            &m,
            &format!("pub-big-{profile}"),
            &[
                (&topic, vec![b'x'; 10241]),
                (&topic, vec![b'y'; 10240]),
                (&topic, b"after".to_vec()),
            ],
        );
        // The one above `<payload_total_len>`'s range (1-10240, seeds/003 §2.2.2.2) never
        // reaches the line; the next ones do, in order.
        let got = h.read_until(b"+CMQTTRXEND: 0\r\n");
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.contains(&format!("+CMQTTRXSTART: 0,{},10240\r\n", topic.len())),
            "{profile}: {text:.200}"
        );
        let got = h.read_until(b"+CMQTTRXEND: 0\r\n");
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.contains(&format!("+CMQTTRXSTART: 0,{},5\r\n", topic.len())),
            "{profile}: {text:.200}"
        );
        assert!(!text.contains("10241"), "{profile}");
    }
}

/// A QMT modem of `profile` whose client 0 is connected as `id` to the modem's broker, with
/// `recv_mode` (0 URC, 1 buffer), and subscribed to `topic` at QoS 1.
fn qmt_subscribed(profile: &str, id: &str, recv_mode: u8, topic: &str) -> (VirtualModem, Host) {
    let (m, mut h) = quiet_modem(profile);
    assert_eq!(
        h.cmd(&format!("AT+QMTCFG=\"recv/mode\",0,{recv_mode},1")),
        "\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd(&format!("AT+QMTOPEN=0,\"127.0.0.1\",{}", broker_port(&m))),
        "\r\nOK\r\n"
    );
    h.expect(b"\r\n+QMTOPEN: 0,0\r\n");
    assert_eq!(h.cmd(&format!("AT+QMTCONN=0,\"{id}\"")), "\r\nOK\r\n");
    h.expect(b"\r\n+QMTCONN: 0,0,0\r\n");
    assert_eq!(h.cmd(&format!("AT+QMTSUB=0,1,\"{topic}\",1")), "\r\nOK\r\n");
    h.expect(b"\r\n+QMTSUB: 0,1,0,1\r\n");
    (m, h)
}

#[test]
fn qmt_discards_a_payload_above_4096_bytes() {
    for profile in QMT {
        let topic = format!("limits/qbig/{profile}");
        let (m, mut h) = qmt_subscribed(profile, &format!("big-{profile}"), 0, &topic);
        publish_all(
            &m,
            &format!("pub-qbig-{profile}"),
            &[(&topic, vec![b'x'; 4097]), (&topic, b"after".to_vec())],
        );
        let got = h.read_until(b"\"after\"\r\n");
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.contains(&format!("\"{topic}\",5,\"after\"")),
            "{profile}"
        );
        assert!(!text.contains("4097"), "{profile}: {text:.200}");
    }
}

#[test]
fn qmt_buffer_mode_holds_five_and_takes_more_as_they_are_read() {
    for profile in QMT {
        let topic = format!("limits/buf/{profile}");
        let (m, mut h) = qmt_subscribed(profile, &format!("buf-{profile}"), 1, &topic);
        let messages: Vec<(&str, Vec<u8>)> = (0..8)
            .map(|i| (topic.as_str(), format!("m{i}").into_bytes()))
            .collect();
        publish_all(&m, &format!("pub-buf-{profile}"), &messages);
        // Five buffers (<recv_id> 0-4), each announced once.
        for id in 0..5 {
            h.expect(format!("\r\n+QMTRECV: 0,{id}\r\n").as_bytes());
        }
        assert_eq!(
            h.cmd("AT+QMTRECV?"),
            format!(
                "\r\n+QMTRECV: 0,1,1,1,1,1\r\n{}\r\nOK\r\n",
                (1..6)
                    .map(|i| format!("\r\n+QMTRECV: {i},0,0,0,0,0\r\n"))
                    .collect::<String>()
            ),
            "{profile}"
        );
        // Reading a buffer frees it for the next message, announced in it.
        let mut got = Vec::new();
        for n in 0..8 {
            let id = n % 5;
            let line = h.cmd(&format!("AT+QMTRECV=0,{id}"));
            let payload = line
                .rsplit_once(",\"")
                .map(|(_, p)| p.split('"').next().unwrap_or_default().to_owned())
                .unwrap_or_default();
            got.push(payload);
            if n < 3 {
                h.expect(format!("\r\n+QMTRECV: 0,{id}\r\n").as_bytes());
            }
        }
        let want: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want, "{profile}");
    }
}

/// A Quectel client in buffer mode subscribed to `limits/<name>` (`qmt_subscribed`), then
/// `n` messages `<first letter of name><i>` on it and the notices of the first five, which
/// fill its buffers.
fn buffers_full(profile: &str, name: &str, n: usize) -> (VirtualModem, Host) {
    let topic = format!("limits/{name}");
    let (m, mut h) = qmt_subscribed(profile, &format!("buf-{name}"), 1, &topic);
    let letter = &name[..1];
    let messages: Vec<(&str, Vec<u8>)> = (0..n)
        .map(|i| (topic.as_str(), format!("{letter}{i}").into_bytes()))
        .collect();
    publish_all(&m, &format!("pub-{name}"), &messages);
    for id in 0..5 {
        h.expect(format!("\r\n+QMTRECV: 0,{id}\r\n").as_bytes());
    }
    (m, h)
}

#[test]
fn qmt_buffer_mode_notices_wait_for_a_free_buffer() {
    // With the five buffers full, a sixth message is not announced (it stays unread in
    // the link) until the host reads one.
    let (_m, mut h) = buffers_full("ec20", "wait", 6);
    assert_eq!(
        h.pending(),
        b"",
        "no sixth notice while every buffer is full"
    );
    assert!(h.cmd("AT+QMTRECV=0,2").contains("\"w2\""));
    h.expect(b"\r\n+QMTRECV: 0,2\r\n");
    assert!(h.cmd("AT+QMTRECV=0,2").contains("\"w5\""));
}

#[test]
fn qmt_subscribe_completes_while_every_buffer_is_full() {
    // A host that subscribes (or resubscribes after a reconnect) while its five buffers hold
    // unread messages gets its +QMTSUB: the link goes on handling acknowledgements while
    // later messages wait for a free buffer. Then the held message comes once a buffer is
    // read.
    for profile in QMT {
        let (_m, mut h) = buffers_full(profile, "full", 7);
        h.send(b"AT+QMTSUB=0,7,\"limits/other\",1\r");
        h.expect(b"\r\nOK\r\n");
        h.expect(b"\r\n+QMTSUB: 0,7,0,1\r\n");
        assert!(h.cmd("AT+QMTRECV=0,3").contains("\"f3\""), "{profile}");
        h.expect(b"\r\n+QMTRECV: 0,3\r\n");
        assert!(h.cmd("AT+QMTRECV=0,3").contains("\"f5\""), "{profile}");
    }
}
