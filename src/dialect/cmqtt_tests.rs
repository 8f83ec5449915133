//! The CMQTT dialect against the A7600 manual's chapter 3 exchanges, over an in-memory
//! scripted modem that answers exactly as the manual's transcripts show.

use std::time::Duration;

use super::*;
use crate::dialect::test_support::{
    assert_sent, events, next_message, open_scripted, sent_during, transcript_text,
    unsubscribe_and_close, v, with_will,
};
use crate::engine::memport::{self, ScriptedModem};
use crate::mqtt::{ClientEvent, ClientOptions, MqttClient};

const RX_BLOCK: &[u8] = b"\r\n+CMQTTRXSTART: 0,9,60\r\n+CMQTTRXTOPIC: 0,9\r\nsimcommsg\r\n+CMQTTRXPAYLOAD: 0,60\r\n012345678901234567890123456789012345678901234567890123456789\r\n+CMQTTRXEND: 0\r\n";

/// The A7600 of the manual's chapter 3.1, answering each exchange as printed there.
fn manual_modem() -> memport::Script {
    let mut pending: Option<&'static [u8]> = None;
    Box::new(move |input: &[u8]| {
        if let Some(after) = pending.take() {
            // Data typed after a prompt: the manual shows OK (and a result URC for SUB/UNSUB).
            let _ = input;
            return v(&[b"\r\nOK\r\n", after]);
        }
        let prompt = |after: &'static [u8], p: &mut Option<&'static [u8]>| {
            *p = Some(after);
            v(&[b"\r\n>"])
        };
        match input {
            b"AT+CMQTTSTART" => v(&[b"\r\nOK\r\n", b"\r\n+CMQTTSTART: 0\r\n"]),
            b"AT+CMQTTDISC?" => v(&[b"\r\n+CMQTTDISC: 0,1\r\n+CMQTTDISC: 1,1\r\n\r\nOK\r\n"]),
            b"AT+CMQTTACCQ=0,\"client test0\",0" => v(&[b"\r\nOK\r\n"]),
            // §3.5 "Configure not checking UTF8 coding".
            b"AT+CMQTTCFG=\"checkUTF8\",0,0" => v(&[b"\r\nOK\r\n"]),
            b"AT+CMQTTWILLTOPIC=0,10"
            | b"AT+CMQTTWILLMSG=0,6,1"
            | b"AT+CMQTTTOPIC=0,9"
            | b"AT+CMQTTPAYLOAD=0,60"
            | b"AT+CMQTTSUBTOPIC=0,9,1" => prompt(b"", &mut pending),
            b"AT+CMQTTCONNECT=0,\"tcp://test.mosquitto.org:1883\",60,1" => {
                v(&[b"\r\nOK\r\n", b"\r\n+CMQTTCONNECT: 0,0\r\n"])
            }
            b"AT+CMQTTSUB=0,9,1" => prompt(b"\r\n+CMQTTSUB: 0,0\r\n", &mut pending),
            b"AT+CMQTTSUB=0" => v(&[b"\r\nOK\r\n", b"\r\n+CMQTTSUB: 0,0\r\n"]),
            b"AT+CMQTTPUB=0,1,60,0" => v(&[b"\r\nOK\r\n", b"\r\n+CMQTTPUB: 0,0\r\n", RX_BLOCK]),
            b"AT+CMQTTUNSUB=0,9,0" => prompt(b"\r\n+CMQTTUNSUB: 0,0\r\n", &mut pending),
            b"AT+CMQTTDISC=0,120" => v(&[b"\r\nOK\r\n", b"\r\n+CMQTTDISC: 0,0\r\n"]),
            b"AT+CMQTTSTOP" => v(&[b"\r\nOK\r\n", b"\r\n+CMQTTSTOP: 0\r\n"]),
            // Releasing the client; before ACCQ it is not acquired yet (code 20).
            b"AT+CMQTTREL=0" => v(&[b"\r\nOK\r\n"]),
            _ => v(&[b"\r\nERROR\r\n"]),
        }
    })
}

/// [`manual_modem`], except where `first` has an answer of its own.
fn manual_modem_but(
    mut first: impl FnMut(&[u8]) -> Option<Vec<Vec<u8>>> + Send + 'static,
) -> memport::Script {
    let mut inner = manual_modem();
    Box::new(move |input: &[u8]| first(input).unwrap_or_else(|| inner(input)))
}

/// OK to the TLS setup the manual's chapter 3.4 shows (every AT+CSSLCFG, SSL context 0
/// for client 0, client 0 acquired as an SSL client); `None` to anything else.
fn tls_setup_ok(input: &[u8]) -> Option<Vec<Vec<u8>>> {
    let tls = input.starts_with(b"AT+CSSLCFG=")
        || input == b"AT+CMQTTSSLCFG=0,0"
        || input == b"AT+CMQTTACCQ=0,\"client test0\",1";
    tls.then(|| v(&[b"\r\nOK\r\n"]))
}

/// Client 0, "client test0", of an A7600 answering by `script`.
fn open(script: memport::Script, options: ClientOptions) -> (MqttClient, ScriptedModem, Engine) {
    open_profile(script, "a7600", options)
}

/// Client 0, "client test0", of a `profile` modem answering by `script`.
fn open_profile(
    script: memport::Script,
    profile: &str,
    options: ClientOptions,
) -> (MqttClient, ScriptedModem, Engine) {
    open_scripted::<Context>(script, profile, "client test0", options)
}

/// Connects `client` to the manual's broker, test.mosquitto.org:1883.
fn connect_to_the_manuals_broker(client: &MqttClient) {
    client
        .connect(ConnectOptions::new("test.mosquitto.org", 1883))
        .expect("connect");
}

#[test]
fn chapter_3_1_access_without_tls() {
    let (client, modem, _engine) = open(manual_modem(), ClientOptions::default());
    let opts = with_will("test.mosquitto.org", "0123456789", b"qwerty", 1, false);
    client.connect(opts).expect("connect");
    assert!(client.is_connected());
    client
        .subscribe(&[("simcommsg".into(), 1)], None)
        .expect("subscribe");
    let payload = b"012345678901234567890123456789012345678901234567890123456789";
    client
        .publish("simcommsg", payload, 1, false, None)
        .expect("publish");
    let msg = next_message(&client, Some("simcommsg"));
    assert_eq!(
        (msg.topic.as_str(), &msg.payload[..]),
        ("simcommsg", &payload[..])
    );
    assert_eq!((msg.qos, msg.retain, msg.client_index), (None, None, 0));
    client
        .subscribe(&[("123456789".into(), 1), ("simcommsg".into(), 1)], None)
        .expect("subscribe two");
    unsubscribe_and_close(&client, "simcommsg");
    assert_sent(
        &modem,
        &[
            "AT+CMQTTSTART",
            "AT+CMQTTDISC?",
            "AT+CMQTTREL=0",
            "AT+CMQTTACCQ=0,\"client test0\",0",
            "AT+CMQTTCFG=\"checkUTF8\",0,0",
            // Not in the manual: refused there (ERROR), and that is fine.
            "AT+CMQTTCFG=\"version\",0,4",
            "AT+CMQTTWILLTOPIC=0,10",
            "0123456789",
            "AT+CMQTTWILLMSG=0,6,1",
            "qwerty",
            "AT+CMQTTCONNECT=0,\"tcp://test.mosquitto.org:1883\",60,1",
            "AT+CMQTTSUB=0,9,1",
            "simcommsg",
            "AT+CMQTTTOPIC=0,9",
            "simcommsg",
            "AT+CMQTTPAYLOAD=0,60",
            "012345678901234567890123456789012345678901234567890123456789",
            "AT+CMQTTPUB=0,1,60,0",
            "AT+CMQTTSUBTOPIC=0,9,1",
            "123456789",
            "AT+CMQTTSUBTOPIC=0,9,1",
            "simcommsg",
            "AT+CMQTTSUB=0",
            "AT+CMQTTUNSUB=0,9,0",
            "simcommsg",
            "AT+CMQTTDISC=0,120",
            "AT+CMQTTREL=0",
            "AT+CMQTTSTOP",
        ],
    );
}

#[test]
fn chapter_3_4_tls_with_client_certificate() {
    let mut after_prompt = false;
    let script = manual_modem_but(move |input| {
        if std::mem::take(&mut after_prompt) {
            return Some(v(&[b"\r\nOK\r\n"]));
        }
        if input.starts_with(b"AT+CCERTDOWN=") {
            after_prompt = true;
            return Some(v(&[b"\r\n>"]));
        }
        tls_setup_ok(input)
    });
    let (client, modem, engine) = open(script, ClientOptions::default());
    let mut opts = ConnectOptions::new("test.mosquitto.org", 1883);
    opts.tls = Some(Tls {
        ca_cert: Some(b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".to_vec()),
        client_cert: Some(b"-----BEGIN CERTIFICATE-----\nME\n-----END CERTIFICATE-----\n".to_vec()),
        client_key: Some(
            b"-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----\n".to_vec(),
        ),
        verify_server: true,
        ssl_version: 4,
        ignore_local_time: true,
        negotiate_time: 300,
        context: None,
    });
    client.connect(opts).expect("connect with TLS");
    let sent = modem.inputs_text();
    for line in [
        "AT+CSSLCFG=\"sslversion\",0,4",
        "AT+CSSLCFG=\"authmode\",0,2",
        "AT+CSSLCFG=\"cacert\",0,\"mqtt0_cacert.pem\"",
        "AT+CSSLCFG=\"clientcert\",0,\"mqtt0_clientcert.pem\"",
        "AT+CSSLCFG=\"clientkey\",0,\"mqtt0_clientkey.pem\"",
        "AT+CMQTTACCQ=0,\"client test0\",1",
        "AT+CMQTTSSLCFG=0,0",
    ] {
        assert!(sent.iter().any(|s| s == line), "{line} not sent: {sent:?}");
    }
    // Re-acquired as an SSL client: released the TCP one first.
    let rel = sent
        .iter()
        .rposition(|s| s == "AT+CMQTTREL=0")
        .expect("release");
    let accq = sent
        .iter()
        .position(|s| s == "AT+CMQTTACCQ=0,\"client test0\",1")
        .expect("ssl accq");
    assert!(rel < accq);
    // The private key went to the modem but never into the transcript.
    assert!(sent.iter().any(|s| s.contains("TOPSECRET")));
    assert!(!transcript_text(&engine).contains("TOPSECRET"));
}

#[test]
fn result_code_becomes_mqtt_error_with_name() {
    let script = manual_modem_but(|input| match input {
        b"AT+CMQTTTOPIC=0,5" => Some(v(&[b"\r\n+CMQTTTOPIC: 0,11\r\n\r\nERROR\r\n"])),
        b"AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1" => {
            Some(v(&[b"\r\nOK\r\n", b"\r\n+CMQTTCONNECT: 0,30\r\n"]))
        }
        _ => None,
    });
    let (client, modem, _e) = open(script, ClientOptions::default());
    // Before connect() the client refuses by itself: nothing reaches the modem.
    assert!(matches!(
        client.publish("hello", b"x", 0, false, None),
        Err(Error::NotConnected("publish"))
    ));
    assert!(modem.inputs_text().is_empty());
    match client.connect(ConnectOptions::new("h", 1883)) {
        Err(Error::Mqtt { code: 30, name, .. }) => {
            assert_eq!(name, "connection refused: bad user name or password")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!client.is_connected());
    connect_to_the_manuals_broker(&client);
    match client.publish("hello", b"x", 0, false, None) {
        Err(Error::Mqtt {
            code: 11,
            name,
            operation,
        }) => {
            assert_eq!(name, "no connection");
            assert_eq!(operation, "publish");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn already_started_service_and_leftover_client_are_cleared() {
    // The service runs already, and client 0 is still connected from before.
    const CLIENT_0_CONNECTED: &[u8] = b"\r\n+CMQTTDISC: 0,0\r\n+CMQTTDISC: 1,1\r\n\r\nOK\r\n";
    let script = manual_modem_but(|input| match input {
        b"AT+CMQTTSTART" => Some(v(&[b"\r\nERROR\r\n"])),
        b"AT+CMQTTDISC?" => Some(v(&[CLIENT_0_CONNECTED])),
        _ => None,
    });
    let (client, modem, _e) = open(script, ClientOptions::default());
    assert!(
        modem.inputs_text().is_empty(),
        "opening a client sends nothing"
    );
    connect_to_the_manuals_broker(&client);
    let sent = modem.inputs_text();
    assert_eq!(
        &sent[..5],
        [
            "AT+CMQTTSTART",
            "AT+CMQTTDISC?",
            "AT+CMQTTDISC=0,120",
            "AT+CMQTTREL=0",
            "AT+CMQTTACCQ=0,\"client test0\",0"
        ]
    );
}

#[test]
fn multipart_receive_and_connection_loss() {
    let (client, modem, _e) = open(manual_modem(), ClientOptions::default());
    let rx = events(&client);
    connect_to_the_manuals_broker(&client);
    let fixture = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cmqtt/a7600_rx_multipart.txt"
    ));
    // The fixture is for client 1: rewrite its headers for client 0, payload bytes untouched.
    let fixed = replace_index(fixture_body(fixture), b": 1,", b": 0,");
    let fixed = replace_index(fixed, b"+CMQTTRXEND: 1", b"+CMQTTRXEND: 0");
    modem.push(&fixed);
    let msg = next_message(&client, None);
    assert_eq!(msg.topic, "sensors/building-7/floor-3/room-12/temp");
    assert_eq!(msg.payload.len(), 641);
    assert!(msg.payload.ends_with(b"tail-part"));
    modem.push(b"\r\n+CMQTTCONNLOST: 0,2\r\n");
    let lost = loop {
        match rx.recv_timeout(Duration::from_secs(5)).expect("event") {
            ClientEvent::Disconnected { cause, reason } => break (cause, reason),
            _ => continue,
        }
    };
    assert_eq!(lost, (2, "socket reset".to_string()));
    assert!(!client.is_connected());
}

fn fixture_body(f: &[u8]) -> Vec<u8> {
    let at = f
        .windows(5)
        .position(|w| w == b"#---\n")
        .expect("separator")
        + 5;
    f[at..].to_vec()
}

/// Replaces `from` with `to` in header lines only (raw payload bytes are left alone).
fn replace_index(stream: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stream.len());
    let mut i = 0;
    while i < stream.len() {
        let at_line_start = i == 0 || stream[i - 1] == b'\n';
        if at_line_start && stream[i..].starts_with(b"+CMQTTRX") {
            let end = stream[i..]
                .iter()
                .position(|&b| b == b'\r')
                .map(|p| i + p)
                .unwrap_or(stream.len());
            let line = &stream[i..end];
            let mut fixed = Vec::new();
            let mut j = 0;
            while j < line.len() {
                if line[j..].starts_with(from) {
                    fixed.extend_from_slice(to);
                    j += from.len();
                } else {
                    fixed.push(line[j]);
                    j += 1;
                }
            }
            // A data length follows RXTOPIC/RXPAYLOAD headers: copy the raw bytes as they are.
            out.extend_from_slice(&fixed);
            out.extend_from_slice(b"\r\n");
            i = end + 2;
            if line.starts_with(b"+CMQTTRXTOPIC:") || line.starts_with(b"+CMQTTRXPAYLOAD:") {
                let n: usize = String::from_utf8_lossy(line)
                    .rsplit(',')
                    .next()
                    .and_then(|s| s.trim().parse().ok())
                    .expect("length");
                out.extend_from_slice(&stream[i..i + n]);
                i += n;
            }
        } else {
            out.push(stream[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn limits_are_enforced_before_sending() {
    let (client, modem, _e) = open(manual_modem(), ClientOptions::default());
    let before = modem.inputs_text().len();
    let long_topic = "t".repeat(1025);
    assert!(matches!(
        client.publish(&long_topic, b"x", 0, false, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.publish("t", &vec![0u8; 10241], 0, false, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.publish("t", b"x", 3, false, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.publish("a/+", b"x", 0, false, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.subscribe(&[("a/#/b".into(), 0)], None),
        Err(Error::InvalidArgument(_))
    ));
    let mut o = ConnectOptions::new("h", 1883);
    o.keepalive = 0;
    assert!(matches!(client.connect(o), Err(Error::InvalidArgument(_))));
    let mut o = ConnectOptions::new("h", 1883);
    o.username = Some("u".into());
    o.password = Some("p".repeat(257));
    assert!(matches!(client.connect(o), Err(Error::InvalidArgument(_))));
    let o = with_will("h", "w", b"x", 0, true);
    match client.connect(o) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("retain"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        modem.inputs_text().len(),
        before,
        "nothing may be sent for a bad argument"
    );
}

#[test]
fn profile_limits() {
    let (port, _modem) = memport::scripted(manual_modem());
    let engine = Engine::start(port);
    let ctx = Context::new(engine, "sim7028").expect("profile");
    let opts = ClientOptions::default();
    assert!(matches!(
        ctx.open_client("x", 1, &opts),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ctx.open_client(&"x".repeat(257), 0, &opts),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ctx.open_client("a\"b", 0, &opts),
        Err(Error::InvalidArgument(_))
    ));
    let a7600 = capabilities("a7600").expect("a7600");
    assert_eq!((a7600.clients, a7600.client_id_len.1), (2, 128));
    let sim7028 = capabilities("sim7028").expect("sim7028");
    assert_eq!((sim7028.clients, sim7028.client_id_len.1), (1, 256));
    assert_eq!(error_name(35), "Disconnect from server failed");
    assert_eq!(error_name(99), "unknown error 99");
}

#[test]
fn close_after_a_loss_whose_urc_is_still_on_the_way() {
    // The modem lost the connection; its +CMQTTCONNLOST has not reached the host yet (a
    // remote port delays output), so the client still believes it is connected. Closing
    // it then meets "no connection" (11): that is the state close() wants, not an error.
    let no_connection = || {
        manual_modem_but(|input| match input {
            b"AT+CMQTTDISC=0,120" => Some(v(&[b"\r\n+CMQTTDISC: 0,11\r\n\r\nERROR\r\n"])),
            _ => None,
        })
    };
    let (client, modem, _e) = open(no_connection(), ClientOptions::default());
    connect_to_the_manuals_broker(&client);
    assert!(client.is_connected());
    client.close().expect("close");
    let sent = modem.inputs_text();
    // The client is released and the service stopped as after a clean disconnect.
    assert_eq!(
        &sent[sent.len() - 3..],
        ["AT+CMQTTDISC=0,120", "AT+CMQTTREL=0", "AT+CMQTTSTOP"]
    );
    // An explicit disconnect() still reports what the modem said.
    let (client, _modem, _e) = open(no_connection(), ClientOptions::default());
    connect_to_the_manuals_broker(&client);
    assert!(matches!(
        client.disconnect(None),
        Err(Error::Mqtt { code: 11, .. })
    ));
}

#[test]
fn link_loss_ends_a_publish_waiting_for_its_result() {
    let script = manual_modem_but(|input| match input {
        // OK, then the link drops before the broker's answer.
        b"AT+CMQTTPUB=0,1,60,0" => Some(v(&[b"\r\nOK\r\n", b"\r\n+CMQTTCONNLOST: 0,1\r\n"])),
        _ => None,
    });
    let (client, _modem, _e) = open(script, ClientOptions::default());
    connect_to_the_manuals_broker(&client);
    let payload = b"012345678901234567890123456789012345678901234567890123456789";
    let res = client.publish(
        "simcommsg",
        payload,
        1,
        false,
        Some(Duration::from_secs(30)),
    );
    assert!(
        matches!(res, Err(Error::Other(ref m)) if m.contains("socket closed passively")),
        "{res:?}"
    );
    // Aborted, not a ModemTimeout after the deadline. The reader thread marks the client
    // disconnected right after it ended the publish: wait for that, with a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.is_connected() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!client.is_connected());
}

/// seeds/003_45f2c3f1bcce002c.txt §2.1.17: "<checkUTF8_flag> ... the default value is 1";
/// §2.1.11 "The publish message should be UTF-encoded string". A module that follows the
/// manual refuses a binary payload unless the check is off, as §3.5 ("Access to MQTT server
/// without checking UTF8 coding") does right after AT+CMQTTACCQ.
#[test]
fn check_utf8_is_turned_off_after_every_acquire_unless_asked_for() {
    let (client, modem, _e) = open(manual_modem(), ClientOptions::default());
    connect_to_the_manuals_broker(&client);
    let sent = modem.inputs_text();
    let accq = sent
        .iter()
        .position(|s| s == "AT+CMQTTACCQ=0,\"client test0\",0")
        .expect("accq");
    assert_eq!(sent[accq + 1], "AT+CMQTTCFG=\"checkUTF8\",0,0");
    // Asked for: the check stays on, and a refusal is an error.
    let opts = ClientOptions {
        check_utf8: Some(true),
        ..ClientOptions::default()
    };
    let (client, modem, _e) = open(manual_modem(), opts);
    assert!(client
        .connect(ConnectOptions::new("test.mosquitto.org", 1883))
        .is_err());
    assert!(modem
        .inputs_text()
        .iter()
        .any(|s| s == "AT+CMQTTCFG=\"checkUTF8\",0,1"));
}

/// The SIM7028 of seeds/001_027f269829f52179.txt: §3.1 lists AT+CMQTTUNSUBTOPIC but no
/// AT+CMQTTSUBTOPIC, so several topics are subscribed with one AT+CMQTTSUB=<idx>,<len>,<qos>
/// each (§3.2.13).
#[test]
fn sim7028_subscribes_one_topic_per_command() {
    let (client, modem, _e) = open_profile(manual_modem(), "sim7028", ClientOptions::default());
    connect_to_the_manuals_broker(&client);
    client
        .subscribe(&[("simcommsg".into(), 1), ("simcommsg".into(), 1)], None)
        .expect("subscribe two");
    let sent = modem.inputs_text();
    assert!(!sent.iter().any(|s| s.starts_with("AT+CMQTTSUBTOPIC")));
    assert_eq!(sent.iter().filter(|s| *s == "AT+CMQTTSUB=0,9,1").count(), 2);
}

/// seeds/001_027f269829f52179.txt: server address 1-128 bytes (§3.2.8), SSL context 0-1
/// (§3.2.5 "+CMQTTSSLCFG: (0,0),(0-1)"), command lines of at most 559 characters after
/// "AT" (§1.4.4). Each is refused with ValueError before a byte is written.
#[test]
fn sim7028_limits_are_enforced_before_sending() {
    let (client, modem, _e) = open_profile(manual_modem(), "sim7028", ClientOptions::default());
    let long_host = "h".repeat(128 - "tcp://:1883".len() + 1);
    assert!(matches!(
        client.connect(ConnectOptions::new(&long_host, 1883)),
        Err(Error::InvalidArgument(_))
    ));
    let mut o = ConnectOptions::new("h", 8883);
    o.tls = Some(Tls {
        context: Some(2),
        ..Tls::default()
    });
    assert!(matches!(client.connect(o), Err(Error::InvalidArgument(_))));
    // 100-byte host, 256-byte username and password: a 600-character line.
    let mut o = ConnectOptions::new(&"h".repeat(100), 1883);
    o.username = Some("u".repeat(256));
    o.password = Some("p".repeat(256));
    match client.connect(o) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("559"), "{m}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        modem.inputs_text().is_empty(),
        "nothing may be sent for a bad argument"
    );
    // The same line is fine on an A7600.
    let a7600 = capabilities("a7600").expect("a7600");
    assert_eq!(a7600.server_addr_len, (9, 256));
}

/// seeds/001_027f269829f52179.txt §3.2.8, AT+CMQTTCONNECT reply case 3: "如果失败: 错误
/// +CMQTTCONNECT:<客户端索引>,<错误>" — ERROR first, then the code.
#[test]
fn error_then_connect_code_is_an_mqtt_error() {
    let script = manual_modem_but(|input| match input {
        b"AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1" => {
            Some(v(&[b"\r\nERROR\r\n", b"\r\n+CMQTTCONNECT: 0,25\r\n"]))
        }
        _ => None,
    });
    let (client, _modem, _e) = open_profile(script, "sim7028", ClientOptions::default());
    match client.connect(ConnectOptions::new("h", 1883)) {
        Err(Error::Mqtt { code: 25, name, .. }) => assert_eq!(name, "DNS error"),
        other => panic!("unexpected {other:?}"),
    }
}

/// seeds/003_45f2c3f1bcce002c.txt §2.1.1: a second AT+CMQTTSTART answers ERROR (the
/// service runs). A `+CME ERROR` is another failure and must not pass for "started".
#[test]
fn start_refused_with_cme_error_is_an_error() {
    let script = manual_modem_but(|input| match input {
        b"AT+CMQTTSTART" => Some(v(&[b"\r\n+CME ERROR: 3\r\n"])),
        _ => None,
    });
    let (client, modem, _e) = open(script, ClientOptions::default());
    assert!(matches!(
        client.connect(ConnectOptions::new("h", 1883)),
        Err(Error::Command { .. })
    ));
    assert_eq!(modem.inputs_text(), ["AT+CMQTTSTART"]);
}

/// seeds/003_45f2c3f1bcce002c.txt: the will (§2.1.6, §2.1.7) has no "cleared after"
/// note, unlike the SSL context (§2.1.5, "cleared after AT+CMQTTCONNECT failed or
/// AT+CMQTTDISC") and AT+CMQTTCFG (§2.1.17, "cleared after AT+CMQTTREL"): it stays until
/// the client is released. A connect without a will must not send the old one.
#[test]
fn a_connect_without_will_after_one_with_a_will_releases_first() {
    let script: memport::Script = {
        let mut inner = manual_modem();
        // The manual's prompts for a will of one byte each.
        Box::new(move |input: &[u8]| match input {
            b"AT+CMQTTWILLTOPIC=0,1" => {
                let _ = inner(b"AT+CMQTTWILLTOPIC=0,10");
                v(&[b"\r\n>"])
            }
            b"AT+CMQTTWILLMSG=0,1,0" => {
                let _ = inner(b"AT+CMQTTWILLMSG=0,6,1");
                v(&[b"\r\n>"])
            }
            _ => inner(input),
        })
    };
    let (client, modem, _e) = open(script, ClientOptions::default());
    let o = with_will("test.mosquitto.org", "w", b"x", 0, false);
    client.connect(o.clone()).expect("connect with will");
    client.disconnect(None).expect("disconnect");
    let again = sent_during(&modem, || client.connect(o).expect("again with the will"));
    assert!(
        !again.iter().any(|s| s.starts_with("AT+CMQTTREL")),
        "same will: no release needed: {again:?}"
    );
    client.disconnect(None).expect("disconnect");
    let after = sent_during(&modem, || {
        client
            .connect(ConnectOptions::new("test.mosquitto.org", 1883))
            .expect("connect without will")
    });
    assert_eq!(after[0], "AT+CMQTTREL=0", "{after:?}");
    assert_eq!(after[1], "AT+CMQTTACCQ=0,\"client test0\",0");
    assert!(!after.iter().any(|s| s.starts_with("AT+CMQTTWILL")));
}

/// `+CMQTTNONET`: the network closed and the MQTT service with it (not in the seeds'
/// manuals; SIMCom's later CMQTT firmware reports it). The next connect starts the service
/// and acquires the client again instead of trusting flags from before.
#[test]
fn nonet_forgets_the_started_service_and_the_acquired_client() {
    let (client, modem, _e) = open(manual_modem(), ClientOptions::default());
    connect_to_the_manuals_broker(&client);
    modem.push(b"\r\n+CMQTTNONET\r\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while client.is_connected() {
        assert!(std::time::Instant::now() < deadline, "no loss reported");
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = sent_during(&modem, || {
        client
            .connect(ConnectOptions::new("test.mosquitto.org", 1883))
            .expect("connect again")
    });
    assert_eq!(after[0], "AT+CMQTTSTART", "{after:?}");
    assert!(after
        .iter()
        .any(|s| s == "AT+CMQTTACCQ=0,\"client test0\",0"));
}

/// seeds/003_45f2c3f1bcce002c.txt §1.1 step 3 spells the setting
/// `AT+CSSLCFG="ignorlocaltime",<ssl_ctx_index>,<ignoreltime>`: sent as the manual spells
/// it, with SIMCom's other spelling when refused; SNI offered and its refusal tolerated.
#[test]
fn tls_sends_the_manuals_spelling_and_offers_sni() {
    let script = |accept_manual_spelling: bool| {
        manual_modem_but(move |input| {
            if input.starts_with(b"AT+CSSLCFG=\"ignorlocaltime\"") && !accept_manual_spelling {
                return Some(v(&[b"\r\nERROR\r\n"]));
            }
            if input.starts_with(b"AT+CSSLCFG=\"enableSNI\"") {
                return Some(v(&[b"\r\nERROR\r\n"]));
            }
            tls_setup_ok(input)
        })
    };
    for manual_spelling in [true, false] {
        let (client, modem, _e) = open(script(manual_spelling), ClientOptions::default());
        let mut o = ConnectOptions::new("test.mosquitto.org", 1883);
        o.tls = Some(Tls {
            ssl_version: 4,
            ignore_local_time: true,
            negotiate_time: 300,
            ..Tls::default()
        });
        client.connect(o).expect("connect with TLS");
        let sent = modem.inputs_text();
        assert!(sent
            .iter()
            .any(|s| s == "AT+CSSLCFG=\"ignorlocaltime\",0,1"));
        assert_eq!(
            sent.iter()
                .any(|s| s == "AT+CSSLCFG=\"ignorelocaltime\",0,1"),
            !manual_spelling
        );
        assert!(sent.iter().any(|s| s == "AT+CSSLCFG=\"enableSNI\",0,1"));
    }
}
