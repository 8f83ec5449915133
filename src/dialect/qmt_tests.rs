//! The QMT dialect against the exchanges of Quectel's MQTT application notes (chapter 5,
//! "Example of MQTT Operation without SSL"), over an in-memory scripted modem.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::dialect::test_support::{
    assert_sent, events, next_message, open_scripted, transcript_text, unsubscribe_and_close, v,
    with_will,
};
use crate::engine::memport::{self, ScriptedModem};
use crate::mqtt::{ClientEvent, ClientOptions, MqttClient, QmtOptions, ReceiveMode};

/// Answers the configuration commands with OK and the leftover queries with empty lists.
fn common(input: &[u8]) -> Option<Vec<Vec<u8>>> {
    if input.starts_with(b"AT+QMTCFG=") {
        return Some(v(&[b"\r\nOK\r\n"]));
    }
    match input {
        b"AT+QMTCONN?" | b"AT+QMTOPEN?" => Some(v(&[b"\r\nOK\r\n"])),
        b"AT+QMTRECV?" => Some(v(&[b"\r\n+QMTRECV: 0,0,0,0,0,0\r\n\r\nOK\r\n"])),
        _ => None,
    }
}

/// Answers opening `h:1883` and connecting client `c` (no credentials) with success.
fn open_and_conn(input: &[u8]) -> Option<Vec<Vec<u8>>> {
    match input {
        b"AT+QMTOPEN=0,\"h\",1883" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTOPEN: 0,0\r\n"])),
        b"AT+QMTCONN=0,\"c\"" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTCONN: 0,0,0\r\n"])),
        _ => None,
    }
}

/// A modem that answers with `more` where it has an answer, else like [`common`] and
/// [`open_and_conn`], and with ERROR to anything else.
fn answering(
    mut more: impl FnMut(&[u8]) -> Option<Vec<Vec<u8>>> + Send + 'static,
) -> memport::Script {
    Box::new(move |input: &[u8]| {
        more(input)
            .or_else(|| common(input))
            .or_else(|| open_and_conn(input))
            .unwrap_or_else(|| v(&[b"\r\nERROR\r\n"]))
    })
}

/// The EC2x note's example 5.1, answered as printed there (the received message in the
/// length form, as `msg_len_enable` asks).
fn manual_modem() -> memport::Script {
    let mut prompt_answer: Option<&'static [u8]> = None;
    Box::new(move |input: &[u8]| {
        if let Some(after) = prompt_answer.take() {
            return v(&[b"\r\nOK\r\n", after]);
        }
        if let Some(r) = common(input) {
            return r;
        }
        match input {
            b"AT+QMTOPEN=0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883" => {
                v(&[b"\r\nOK\r\n", b"\r\n+QMTOPEN: 0,0\r\n"])
            }
            b"AT+QMTCONN=0,\"clientExample\",\"username\",\"password\"" => {
                v(&[b"\r\nOK\r\n", b"\r\n+QMTCONN: 0,0,0\r\n"])
            }
            b"AT+QMTSUB=0,1,\"topic/example\",2" => {
                v(&[b"\r\nOK\r\n", b"\r\n+QMTSUB: 0,1,0,2\r\n"])
            }
            b"AT+QMTSUB=0,2,\"topic/pub\",0" => v(&[b"\r\nOK\r\n", b"\r\n+QMTSUB: 0,2,0,0\r\n"]),
            b"AT+QMTPUBEX=?" => v(&[b"\r\nOK\r\n"]),
            b"AT+QMTPUBEX=0,0,0,0,\"topic/example\",30" => {
                prompt_answer = Some(
                    b"\r\n+QMTPUBEX: 0,0,0\r\n\r\n+QMTRECV: 0,0,\"topic/example\",30,\"This is test data, hello MQTT.\"\r\n",
                );
                v(&[b"\r\n> "])
            }
            b"AT+QMTUNS=0,3,\"topic/example\"" => v(&[b"\r\nOK\r\n", b"\r\n+QMTUNS: 0,3,0\r\n"]),
            b"AT+QMTDISC=0" => v(&[b"\r\nOK\r\n", b"\r\n+QMTDISC: 0,0\r\n"]),
            _ => v(&[b"\r\nERROR\r\n"]),
        }
    })
}

/// A QMT client (index 0) named `id` of a `profile` modem answering by `script`.
fn open_on(
    script: memport::Script,
    profile: &str,
    id: &str,
    options: ClientOptions,
) -> (MqttClient, ScriptedModem, Engine) {
    open_scripted::<Context>(script, profile, id, options)
}

/// [`open_on`] as client `c` in URC mode, connected to `h:1883`.
fn connected(script: memport::Script, profile: &str) -> (MqttClient, ScriptedModem, Engine) {
    let (client, modem, engine) = open_on(script, profile, "c", urc_mode());
    client
        .connect(ConnectOptions::new("h", 1883))
        .expect("connect");
    (client, modem, engine)
}

fn urc_mode() -> ClientOptions {
    ClientOptions {
        qmt: QmtOptions {
            receive_mode: Some(ReceiveMode::Urc),
            ..QmtOptions::default()
        },
        ..ClientOptions::default()
    }
}

fn login() -> ConnectOptions {
    let mut opts = ConnectOptions::new("iot-as-mqtt.cn-shanghai.aliyuncs.com", 1883);
    opts.username = Some("username".into());
    opts.password = Some("password".into());
    opts
}

#[test]
fn example_5_1_without_ssl() {
    let (client, modem, engine) = open_on(manual_modem(), "ec20", "clientExample", urc_mode());
    client.connect(login()).expect("connect");
    assert!(client.is_connected());
    client
        .subscribe(&[("topic/example".into(), 2)], None)
        .expect("subscribe");
    client
        .subscribe(&[("topic/pub".into(), 0)], None)
        .expect("subscribe");
    client
        .publish(
            "topic/example",
            b"This is test data, hello MQTT.",
            0,
            false,
            None,
        )
        .expect("publish");
    let msg = next_message(&client, None);
    assert_eq!(
        (msg.topic.as_str(), &msg.payload[..], msg.qos),
        (
            "topic/example",
            &b"This is test data, hello MQTT."[..],
            Some(0)
        )
    );
    unsubscribe_and_close(&client, "topic/example");
    assert_sent(
        &modem,
        &[
            "AT+QMTCONN?",
            "AT+QMTOPEN?",
            "AT+QMTCFG=\"version\",0,4",
            "AT+QMTCFG=\"pdpcid\",0,1",
            "AT+QMTCFG=\"keepalive\",0,60",
            "AT+QMTCFG=\"session\",0,1",
            "AT+QMTCFG=\"timeout\",0,5,3,0",
            "AT+QMTCFG=\"will\",0,0",
            "AT+QMTCFG=\"recv/mode\",0,0,1",
            "AT+QMTCFG=\"ssl\",0,0",
            "AT+QMTOPEN=0,\"iot-as-mqtt.cn-shanghai.aliyuncs.com\",1883",
            "AT+QMTCONN=0,\"clientExample\",\"username\",\"password\"",
            "AT+QMTSUB=0,1,\"topic/example\",2",
            "AT+QMTSUB=0,2,\"topic/pub\",0",
            "AT+QMTPUBEX=?",
            "AT+QMTPUBEX=0,0,0,0,\"topic/example\",30",
            "This is test data, hello MQTT.",
            "AT+QMTUNS=0,3,\"topic/example\"",
            "AT+QMTDISC=0",
        ],
    );
    let text = transcript_text(&engine);
    assert!(
        !text.contains("\"password\""),
        "password not masked: {text}"
    );
}

#[test]
fn will_and_bg96_publish_command() {
    let script = answering(|input| match input {
        b"AT+QMTOPEN=0,\"broker.example\",1883" => {
            Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTOPEN: 0,0\r\n"]))
        }
        b"AT+QMTCONN=0,\"bg\"" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTCONN: 0,0,0\r\n"])),
        b"AT+QMTPUB=0,1,1,1,\"t\",5" => Some(v(&[b"\r\n> "])),
        b"hello" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTPUB: 0,1,0\r\n"])),
        // The Ctrl-Z form for the empty payload.
        b"AT+QMTPUB=0,0,0,1,\"t\"" => Some(v(&[b"\r\n> "])),
        b"\x1a" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTPUB: 0,0,0\r\n"])),
        _ => None,
    });
    let (client, modem, _e) = open_on(script, "bg96", "bg", urc_mode());
    let opts = with_will("broker.example", "lab/status", b"gone", 1, true);
    client.connect(opts).expect("connect");
    client
        .publish("t", b"hello", 1, true, None)
        .expect("publish");
    client
        .publish("t", b"", 0, true, None)
        .expect("empty publish");
    let sent = modem.inputs_text();
    assert!(sent.contains(&"AT+QMTCFG=\"will\",0,1,1,1,\"lab/status\",\"gone\"".to_string()));
    assert!(sent.contains(&"hello".to_string()));
}

/// Packet results as the notes describe them: OK first, other URCs in between, result 1
/// (retransmission, with a count) before the final result.
#[test]
fn retransmission_then_final_result_with_urc_between() {
    let script = answering(|input| match input {
        b"AT+QMTCONN=0,\"c\"" => Some(v(&[
            b"\r\nOK\r\n",
            b"\r\n+QMTCONN: 0,1,1\r\n",
            b"\r\n+QMTCONN: 0,0,0\r\n",
        ])),
        b"AT+QMTPUBEX=?" => Some(v(&[b"\r\nOK\r\n"])),
        b"AT+QMTPUBEX=0,1,1,0,\"t\",3" => Some(v(&[b"\r\n> "])),
        b"a\"b" => Some(v(&[
            b"\r\nOK\r\n",
            b"\r\n+CREG: 1\r\n",
            b"\r\n+QMTPUBEX: 0,1,1,1\r\n",
            b"\r\n+QMTRECV: 0,7,\"t\",3,\"x\r\n\"\r\n",
            b"\r\n+QMTPUBEX: 0,1,1,2\r\n",
            b"\r\n+QMTPUBEX: 0,1,0\r\n",
        ])),
        _ => None,
    });
    let (client, _modem, _e) = connected(script, "ec25");
    client
        .publish("t", b"a\"b", 1, false, None)
        .expect("publish");
    let msg = next_message(&client, None);
    assert_eq!(
        (msg.topic.as_str(), msg.payload.as_slice()),
        ("t", &b"x\r\n"[..])
    );
    assert_eq!(msg.qos, None);
}

#[test]
fn results_become_mqtt_errors() {
    let script = answering(|input| match input {
        b"AT+QMTOPEN=0,\"nowhere.invalid\",1883" => {
            Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTOPEN: 0,4\r\n"]))
        }
        b"AT+QMTCONN=0,\"c\",\"u\",\"bad\"" => {
            Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTCONN: 0,0,4\r\n"]))
        }
        b"AT+QMTCLOSE=0" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTCLOSE: 0,0\r\n"])),
        _ => None,
    });
    let (client, modem, _e) = open_on(script, "ec20", "c", urc_mode());
    match client.connect(ConnectOptions::new("nowhere.invalid", 1883)) {
        Err(Error::Mqtt { code, name, .. }) => {
            assert_eq!(code, 4);
            assert_eq!(name, "failed to parse domain name");
        }
        other => panic!("expected MqttError, got {other:?}"),
    }
    let mut opts = ConnectOptions::new("h", 1883);
    opts.username = Some("u".into());
    opts.password = Some("bad".into());
    match client.connect(opts) {
        Err(Error::Mqtt { code, name, .. }) => {
            assert_eq!(code, 4);
            assert_eq!(name, "connection refused: bad user name or password");
        }
        other => panic!("expected MqttError, got {other:?}"),
    }
    assert!(!client.is_connected());
    assert!(modem.inputs_text().contains(&"AT+QMTCLOSE=0".to_string()));
}

#[test]
fn qmtstat_and_pdpdeact_reach_on_disconnect() {
    let (client, modem, _e) = open_on(answering(|_| None), "ec20", "c", urc_mode());
    let rx = events(&client);
    // Connected (its event taken), then `urc`: the event that brings.
    let connected_then = |urc: &[u8]| {
        client
            .connect(ConnectOptions::new("h", 1883))
            .expect("connect");
        let _ = rx.recv_timeout(Duration::from_secs(2));
        modem.push(urc);
        rx.recv_timeout(Duration::from_secs(5)).expect("event")
    };
    assert_eq!(
        connected_then(b"\r\n+QMTSTAT: 0,2\r\n"),
        ClientEvent::Disconnected {
            cause: 2,
            reason: "sending PINGREQ packet timed out or failed".into()
        }
    );
    assert!(matches!(
        connected_then(b"\r\n+QIURC: \"pdpdeact\",1\r\n"),
        ClientEvent::Disconnected {
            cause: CAUSE_PDP_DEACTIVATED,
            ..
        }
    ));
}

/// Buffer mode: the modem announces stored messages; they are read only while the
/// client's queue has room, so a full queue leaves them in the modem.
#[test]
fn buffer_mode_reads_only_when_there_is_room() {
    let reads = Arc::new(Mutex::new(Vec::<String>::new()));
    let r2 = reads.clone();
    let script = answering(move |input| {
        let text = String::from_utf8_lossy(input).into_owned();
        if let Some(id) = text.strip_prefix("AT+QMTRECV=0,") {
            r2.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(text.clone());
            let line = format!("\r\n+QMTRECV: 0,{id},\"buf\",4,\"m{id}\r\n\"\r\n\r\nOK\r\n");
            return Some(vec![line.into_bytes()]);
        }
        match input {
            b"AT+QMTDISC=0" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTDISC: 0,0\r\n"])),
            _ => None,
        }
    });
    let options = ClientOptions {
        queue_size: 2,
        ..ClientOptions::default()
    };
    let (client, modem, _e) = open_on(script, "eg91", "c", options);
    client
        .connect(ConnectOptions::new("h", 1883))
        .expect("connect");
    for id in 0..5 {
        modem.push(format!("\r\n+QMTRECV: 0,{id}\r\n").as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.shared().free_capacity() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Give the reader the chance to (wrongly) read more.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(reads.lock().unwrap_or_else(|p| p.into_inner()).len(), 2);
    assert_eq!(client.shared().dropped(), 0);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(next_message(&client, None).payload);
    }
    assert_eq!(
        got,
        vec![
            b"m0\r\n".to_vec(),
            b"m1\r\n".to_vec(),
            b"m2\r\n".to_vec(),
            b"m3\r\n".to_vec(),
            b"m4\r\n".to_vec()
        ]
    );
    assert_eq!(client.shared().dropped(), 0);
    client.close().expect("close");
}

#[test]
fn arguments_are_checked_before_sending() {
    let (client, modem, _e) = open_on(manual_modem(), "ec20", "c", urc_mode());
    let opts = with_will("h", "w", b"say \"bye\"", 0, false);
    assert!(matches!(
        client.connect(opts),
        Err(Error::InvalidArgument(_))
    ));
    let long_host = "h".repeat(101);
    assert!(matches!(
        client.connect(ConnectOptions::new(&long_host, 1883)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(modem.inputs_text().is_empty());
}

#[test]
fn profiles_and_models() {
    assert_eq!(profile_for_model("EC25"), "ec25");
    assert_eq!(profile_for_model("BG96"), "bg96");
    assert_eq!(profile_for_model("EG91-EX"), "eg91");
    assert_eq!(publish_command("bg96"), "QMTPUB");
    assert_eq!(publish_command("ec20"), "QMTPUBEX");
    assert_eq!(capabilities("ec20").map(|c| c.clients), Some(6));
    assert!(capabilities("a7600").is_none());
    assert_eq!(
        stat_name(7),
        "the link is not alive or the server is unavailable"
    );
    assert!(final_unless_retransmission::<2>(b"+QMTPUB: 0,1,0"));
    assert!(!final_unless_retransmission::<2>(b"+QMTPUB: 0,1,1,2"));
    assert_eq!(
        parse_recv_header(b"+QMTRECV: 3,12,\"a,b\",4"),
        Some((3, 12, "a,b".to_string()))
    );
}

/// seeds/004_5067d45f94b02b5c.txt §3.2.1, the test response of AT+QMTCFG:
/// `+QMTCFG: "timeout",(0-5),(1-60),(1-10),(0,1)` — retry times 1-10, so 0 is refused
/// before anything is sent.
#[test]
fn retries_follow_the_notes_range() {
    let (port, _modem) = memport::scripted(manual_modem());
    let engine = Engine::start(port);
    let ctx = Context::new(engine, "ec20").expect("profile");
    for (retries, ok) in [(0, false), (1, true), (10, true), (11, false)] {
        let opts = ClientOptions {
            qmt: QmtOptions {
                retries: Some(retries),
                ..QmtOptions::default()
            },
            ..ClientOptions::default()
        };
        let r = ctx.open_client("c", retries as u8 % 6, &opts);
        assert_eq!(r.is_ok(), ok, "retries {retries}");
        if let Ok((c, _)) = r {
            let _ = c.close();
        }
    }
}

/// The model name does not tell which publish command a module has (BG95/BG96/BG77 notes:
/// AT+QMTPUB with `<msglen>`; EC2x LTE Standard note V1.2: AT+QMTPUBEX), and an unknown
/// model is taken for an EC20: the modem is asked with `AT+QMTPUBEX=?`, once.
#[test]
fn publish_command_is_probed() {
    let script = answering(|input| match input {
        // A BG77 taken for an EC20: no AT+QMTPUBEX.
        b"AT+QMTPUB=0,1,1,0,\"t\",2" => Some(v(&[b"\r\n> "])),
        b"hi" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTPUB: 0,1,0\r\n"])),
        b"AT+QMTPUB=0,2,1,0,\"t\",2" => Some(v(&[b"\r\n> "])),
        b"ho" => Some(v(&[b"\r\nOK\r\n", b"\r\n+QMTPUB: 0,2,0\r\n"])),
        _ => None,
    });
    let (client, modem, _e) = connected(script, "ec20");
    client.publish("t", b"hi", 1, false, None).expect("publish");
    client
        .publish("t", b"ho", 1, false, None)
        .expect("publish again");
    let sent = modem.inputs_text();
    assert_eq!(sent.iter().filter(|s| *s == "AT+QMTPUBEX=?").count(), 1);
    assert!(!sent.iter().any(|s| s.starts_with("AT+QMTPUBEX=0")));
}

/// A module that refuses `msg_len_enable` (the EC2x V1.1 note's `recv/mode` has no such
/// field) is set up without it and read with the length-less parser.
#[test]
fn recv_mode_without_the_length_field_is_a_fallback() {
    let script = answering(|input| match input {
        b"AT+QMTCFG=\"recv/mode\",0,0,1" => Some(v(&[b"\r\nERROR\r\n"])),
        b"AT+QMTCONN=0,\"c\"" => Some(v(&[
            b"\r\nOK\r\n",
            b"\r\n+QMTCONN: 0,0,0\r\n",
            // seeds/004 §4.2: +QMTRECV: <client_idx>,<msgID>,"<topic>","<payload>"
            b"\r\n+QMTRECV: 0,1,\"a\\\"b\",\"\xff\x00,\\\"x\"\r\n",
        ])),
        _ => None,
    });
    let (client, modem, _e) = connected(script, "ec20");
    let sent = modem.inputs_text();
    assert!(sent.iter().any(|s| s == "AT+QMTCFG=\"recv/mode\",0,0"));
    let msg = next_message(&client, None);
    assert_eq!(msg.topic, "a\\\"b");
    assert_eq!(msg.payload, b"\xff\x00,\\\"x".to_vec());
}

/// What the length-less form cannot frame is dropped, never delivered cut or merged
/// (docs/qmt.md, "Receiving without the length field").
#[test]
fn length_less_parser_is_safe() {
    // Non-UTF-8 payload bytes and a `"` inside the topic.
    assert_eq!(
        parse_recv_line(b"+QMTRECV: 0,5,\"a\"b\",\"\xc3\x28\""),
        Some((0, 5, "a\"b".to_string(), b"\xc3\x28".to_vec()))
    );
    assert_eq!(
        parse_recv_line(b"+QMTRECV: 1,0,\"t\",\"\""),
        Some((1, 0, "t".to_string(), Vec::new()))
    );
    // A payload cut by CR/LF: its first line does not end with the closing quote.
    assert_eq!(parse_recv_line(b"+QMTRECV: 0,5,\"t\",\"first line"), None);
    // No separator at all, or a non-UTF-8 topic.
    assert_eq!(parse_recv_line(b"+QMTRECV: 0,5,\"t\""), None);
    assert_eq!(parse_recv_line(b"+QMTRECV: 0,5,\"\xff\",\"x\""), None);
}

/// +QFUPL: <upload_size>,<checksum> — the checksum is verified; a damaged upload is an
/// error, not a silently wrong certificate.
#[test]
fn qfupl_checksum_is_verified() {
    assert_eq!(qfupl_checksum(b""), 0);
    assert_eq!(qfupl_checksum(b"\x12\x34\x56"), 0x1234 ^ 0x5600);
    let pem = b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
    let good = format!(
        "\r\n+QFUPL: {},{:x}\r\n\r\nOK\r\n",
        pem.len(),
        qfupl_checksum(pem)
    );
    let bad = format!(
        "\r\n+QFUPL: {},{:x}\r\n\r\nOK\r\n",
        pem.len(),
        qfupl_checksum(pem) ^ 1
    );
    for (answer, ok) in [(good, true), (bad, false)] {
        let answer = answer.into_bytes();
        let mut uploading = false;
        let script: memport::Script = Box::new(move |input: &[u8]| {
            if uploading {
                uploading = false;
                return vec![answer.clone()];
            }
            if input.starts_with(b"AT+QFUPL=") {
                uploading = true;
                return v(&[b"\r\nCONNECT\r\n"]);
            }
            if input.starts_with(b"AT+QSSLCFG=") {
                return v(&[b"\r\nOK\r\n"]);
            }
            if let Some(r) = common(input) {
                return r;
            }
            v(&[b"\r\nERROR\r\n"])
        });
        let (client, _modem, _e) = open_on(script, "ec20", "c", urc_mode());
        let mut o = ConnectOptions::new("h", 8883);
        o.tls = Some(crate::mqtt::Tls {
            ca_cert: Some(pem.to_vec()),
            verify_server: true,
            ..crate::mqtt::Tls::default()
        });
        match client.connect(o) {
            Err(Error::Protocol(m)) => {
                assert!(!ok, "{m}");
                assert!(m.contains("checksum"), "{m}");
            }
            // With the good checksum, the connect fails later (the script has no QMTOPEN).
            other => assert!(ok, "{other:?}"),
        }
    }
}

/// A connected script whose publish, subscribe and unsubscribe get OK (and the prompt) but
/// no result URC: with `lose_link`, the link goes (`+QMTSTAT: 0,1`) 100 ms after the OK,
/// as when it is lost before the broker answers.
fn silent_results(lose_link: bool) -> memport::Script {
    let mut in_prompt = false;
    answering(move |input| {
        let ok_then_loss = || {
            if lose_link {
                v(&[b"\r\nOK\r\n", b"@sleep 100", b"\r\n+QMTSTAT: 0,1\r\n"])
            } else {
                v(&[b"\r\nOK\r\n"])
            }
        };
        if std::mem::take(&mut in_prompt) {
            return Some(ok_then_loss());
        }
        match input {
            b"AT+QMTPUBEX=?" => Some(v(&[b"\r\nOK\r\n"])),
            i if i.starts_with(b"AT+QMTPUB") => {
                in_prompt = true;
                Some(v(&[b"\r\n> "]))
            }
            i if i.starts_with(b"AT+QMTSUB=") || i.starts_with(b"AT+QMTUNS=") => {
                Some(ok_then_loss())
            }
            _ => None,
        }
    })
}

/// `+QMTSTAT` (the note's "Error Codes of the URC": the link is gone) ends a publish,
/// subscribe or unsubscribe that waits for its result URC at once, with the code's name,
/// instead of leaving it to its packet timeout while it holds the AT channel.
#[test]
fn qmtstat_ends_a_pending_publish_subscribe_and_unsubscribe_at_once() {
    type Op = fn(&MqttClient, Duration) -> crate::error::Result<()>;
    let ops: [(&str, Op); 4] = [
        ("publish qos 1", |c, t| {
            c.publish("t/x", b"p", 1, false, Some(t))
        }),
        ("publish qos 2", |c, t| {
            c.publish("t/x", b"p", 2, false, Some(t))
        }),
        ("subscribe", |c, t| {
            c.subscribe(&[("t/#".into(), 1)], Some(t))
        }),
        ("unsubscribe", |c, t| {
            c.unsubscribe(&["t/#".into()], Some(t))
        }),
    ];
    for (name, op) in ops {
        let (client, _modem, _e) = connected(silent_results(true), "ec20");
        let err = op(&client, Duration::from_secs(60)).expect_err(name);
        let text = err.to_string();
        assert!(
            text.contains(&stat_name(1)),
            "{name}: ended by the link loss, not its timeout: {text}"
        );
    }
}

#[test]
fn waits_for_client_reads_the_index_field() {
    assert!(waits_for_client(b"+QMTPUBEX: 0,17,", 0));
    assert!(waits_for_client(b"+QMTPUB: 3,17,", 3));
    assert!(waits_for_client(b"+QMTSUB: 2,5,", 2));
    assert!(waits_for_client(b"+QMTCONN: 1,", 1));
    assert!(!waits_for_client(b"+QMTSUB: 2,5,", 5));
    assert!(!waits_for_client(b"+QMTOPEN: 0,", 0));
    assert!(!waits_for_client(b"+CMQTTPUB: 0,", 0));
}

/// `+QIURC: "pdpdeact"` and the `+QMTSTAT` that follows it are one loss: one event.
#[test]
fn pdpdeact_then_qmtstat_is_one_disconnect() {
    let (client, modem, engine) = open_on(silent_results(false), "ec20", "c", urc_mode());
    let rx = events(&client);
    client
        .connect(ConnectOptions::new("h", 1883))
        .expect("connect");
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(ClientEvent::Connected { .. })
    ));
    modem.push(b"\r\n+QIURC: \"pdpdeact\",1\r\n\r\n+QMTSTAT: 0,1\r\n");
    let first = rx.recv_timeout(Duration::from_secs(5)).expect("event");
    assert!(matches!(
        first,
        ClientEvent::Disconnected {
            cause: CAUSE_PDP_DEACTIVATED,
            ..
        }
    ));
    // A command round trip after both URCs: everything they caused has been reported.
    let probe = Command::new(
        build("AT+QMTCONN?", &[]).expect("line"),
        Duration::from_secs(5),
    );
    engine.execute(probe).expect("probe");
    assert!(
        rx.try_recv().is_err(),
        "a second on_disconnect for one loss"
    );
    assert_eq!(client.shared().stats().disconnects, 1);
}
