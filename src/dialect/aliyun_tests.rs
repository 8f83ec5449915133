//! The Alibaba dialect against the manuals' sample sessions (seeds/000 section 5, seeds/002
//! section 3), over an in-memory scripted modem, plus the signing scheme's known answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::dialect::test_support::{assert_sent, next_message, transcript_text, v};
use crate::engine::memport::{self, ScriptedModem};
use crate::mqtt::{ClientOptions, MqttClient};

/// Connects with the options whose sequence [`manual_modem`] answers (keepalive 180 s,
/// persistent session).
fn connect_as_in_the_manual(client: &MqttClient, host: &str) {
    let mut opts = ConnectOptions::new(host, 1883);
    opts.keepalive = 180;
    opts.clean_session = false;
    client.connect(opts).expect("connect");
}

#[test]
fn signing_matches_the_documented_example() {
    // The platform's documentation example: clientId 12345, deviceName device, productKey
    // pk, timestamp 789, secret "secret", hmacsha1. Digest checked with Python's hmac.
    let s = sign_mqtt(
        "pk",
        "device",
        "secret",
        Some("12345"),
        Some("789"),
        SignMethod::HmacSha1,
    );
    assert_eq!(
        s,
        MqttSign {
            client_id: "12345|securemode=3,signmethod=hmacsha1,timestamp=789|".into(),
            username: "device&pk".into(),
            password: "fafd82a3d602b37fb0fa8b7892f24a477f851a14".into(),
        }
    );
}

/// The login of the manuals' sample device, with the SDK's default client id.
fn sign_sample_device(timestamp: Option<&str>, method: SignMethod) -> MqttSign {
    sign_mqtt(
        "CwlekguDcv3",
        "device",
        "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu",
        None,
        timestamp,
        method,
    )
}

#[test]
fn signing_without_timestamp_uses_the_sdk_client_id() {
    assert_eq!(
        sign_sample_device(None, SignMethod::HmacSha1),
        MqttSign {
            client_id: "CwlekguDcv3.device|securemode=3,signmethod=hmacsha1|".into(),
            username: "device&CwlekguDcv3".into(),
            password: "2ab2baf5ec68991d4e388f32b38127c463b826e0".into(),
        }
    );
}

#[test]
fn signing_with_sha256() {
    let s = sign_sample_device(Some("1600000000000"), SignMethod::HmacSha256);
    assert_eq!(
        s.password,
        "41210c312563911fa18a56b965a19664ad104afb5696200075606b34e46b157f"
    );
    assert!(s
        .client_id
        .contains("signmethod=hmacsha256,timestamp=1600000000000"));
}

#[test]
fn message_fields_keep_quotes_and_commas() {
    let (t, p) = parse_message_fields(br#""/pk/dn/get","{"a":"b,c"}""#).expect("fields");
    assert_eq!(t, "/pk/dn/get");
    assert_eq!(p, br#"{"a":"b,c"}"#.to_vec());
    assert!(parse_message_fields(b"no quotes").is_none());
}

#[test]
fn ccrecv_forms_of_both_revisions() {
    assert_eq!(
        parse_ccrecv(b"+CCRECV: 0,\"0x45\""),
        Some((0, Some(0x45), Vec::new()))
    );
    assert_eq!(
        parse_ccrecv(b"+CCRECV: 0,0x45,\"\""),
        Some((0, Some(0x45), Vec::new()))
    );
    assert_eq!(
        parse_ccrecv(b"+CCRECV: 0,\"0x8E\",\"a,\"b\"\""),
        Some((0, Some(0x8E), b"a,\"b\"".to_vec()))
    );
    assert_eq!(parse_ccrecv(b"+CCRECV: -1"), Some((-1, None, Vec::new())));
}

#[test]
fn triple_limits() {
    assert!(check_triple("CwlekguDcv3", "device", "x").is_ok());
    assert!(check_triple("CwlekguDcv3x", "device", "x").is_err());
    assert!(check_triple("pk", &"d".repeat(33), "x").is_err());
    assert!(check_triple("pk", "d", &"s".repeat(65)).is_err());
    assert!(check_triple("pk", "d", "a\"b").is_err());
    assert!(check_triple("", "d", "s").is_err());
}

/// The SIM7600 of manual 000 section 5.1, answering as printed there; a yield prints
/// whatever the test queued.
fn manual_modem(queue: Arc<Mutex<Vec<&'static [u8]>>>) -> memport::Script {
    Box::new(move |input: &[u8]| {
        let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
        match input {
            b"AT+CMAUTH=\"CwlekguDcv3\",\"device\",\"YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu\""
            | b"AT+CMPARA=\"CLEAN\",0"
            | b"AT+CMPARA=\"KEEPALIVE\",180000"
            | b"AT+CMPARA=\"TIMEOUT\",3000"
            | b"AT+CMCONN"
            | b"AT+CMSUB=\"/CwlekguDcv3/device/get\",1"
            | b"AT+CMUNSUB=\"/CwlekguDcv3/device/get\""
            | b"AT+CMPUB=\"/CwlekguDcv3/device/get\",1,\"hello\""
            | b"AT+CMDISCONN" => v(&[b"\r\nOK\r\n"]),
            b"AT+CMPUB=\"/CwlekguDcv3/device/get\",0,\"bad\"" => v(&[b"\r\n+CME ERROR: -27\r\n"]),
            b"AT+CMYIELD=100" => {
                let mut out = vec![b"\r\nOK\r\n".to_vec()];
                out.extend(q.drain(..).map(|u| u.to_vec()));
                out
            }
            _ => v(&[b"\r\nERROR\r\n"]),
        }
    })
}

fn open_client(queue: Arc<Mutex<Vec<&'static [u8]>>>) -> (MqttClient, ScriptedModem, Engine) {
    open_scripted(manual_modem(queue))
}

/// A revision 1 client of the documentation's device on a modem answering by `script`.
fn open_scripted(script: memport::Script) -> (MqttClient, ScriptedModem, Engine) {
    let (port, modem) = memport::scripted(script);
    let engine = Engine::start(port);
    let options = AliyunOptions {
        request_timeout: Some(3000),
        poll_interval: Duration::from_secs(3600),
        ..AliyunOptions::default()
    };
    let (c, shared) = AliyunMqtt::open(
        engine.clone(),
        Revision::V1,
        "CwlekguDcv3",
        "device",
        "YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu",
        options,
        100,
    )
    .expect("open");
    let client = MqttClient::new(Arc::new(AliyunBackend(c)), shared, ClientOptions::default());
    (client, modem, engine)
}

#[test]
fn manual_000_mqtt_sample() {
    let queue: Arc<Mutex<Vec<&'static [u8]>>> = Arc::new(Mutex::new(Vec::new()));
    let (client, modem, engine) = open_client(queue.clone());
    connect_as_in_the_manual(&client, &mqtt_endpoint("CwlekguDcv3"));
    queue.lock().unwrap().push(b"\r\n+CMYIELD: 3\r\n");
    client
        .subscribe(&[("/CwlekguDcv3/device/get".into(), 1)], None)
        .expect("subscribe");
    queue.lock().unwrap().extend([
        &b"\r\n+CMYIELD:9\r\n"[..],
        b"\r\n+CMYIELD:12,\"/CwlekguDcv3/device/get\",\"hello\"\r\n",
    ]);
    client
        .publish("/CwlekguDcv3/device/get", b"hello", 1, false, None)
        .expect("publish");
    let msg = next_message(&client, None);
    assert_eq!(
        (msg.topic.as_str(), &msg.payload[..]),
        ("/CwlekguDcv3/device/get", &b"hello"[..])
    );
    queue.lock().unwrap().push(b"\r\n+CMYIELD: 6\r\n");
    client
        .unsubscribe(&["/CwlekguDcv3/device/get".into()], None)
        .expect("unsubscribe");
    let err = client
        .publish("/CwlekguDcv3/device/get", b"bad", 0, false, None)
        .expect_err("state error");
    match err {
        Error::Mqtt { code, name, .. } => {
            assert_eq!(code, -27);
            assert_eq!(name, "MQTT_STATE_ERROR");
        }
        other => panic!("unexpected {other:?}"),
    }
    client.disconnect(None).expect("disconnect");
    assert_sent(
        &modem,
        &[
            "AT+CMAUTH=\"CwlekguDcv3\",\"device\",\"YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu\"",
            "AT+CMPARA=\"TIMEOUT\",3000",
            "AT+CMPARA=\"CLEAN\",0",
            "AT+CMPARA=\"KEEPALIVE\",180000",
            "AT+CMCONN",
            "AT+CMSUB=\"/CwlekguDcv3/device/get\",1",
            "AT+CMYIELD=100",
            "AT+CMPUB=\"/CwlekguDcv3/device/get\",1,\"hello\"",
            "AT+CMYIELD=100",
            "AT+CMUNSUB=\"/CwlekguDcv3/device/get\"",
            "AT+CMYIELD=100",
            "AT+CMPUB=\"/CwlekguDcv3/device/get\",0,\"bad\"",
            "AT+CMDISCONN",
        ],
    );
    // The device secret never shows in the transcript.
    assert!(!transcript_text(&engine).contains("YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu"));
}

#[test]
fn failed_subscribe_ack_is_an_mqtt_error() {
    let queue: Arc<Mutex<Vec<&'static [u8]>>> = Arc::new(Mutex::new(Vec::new()));
    let (client, _modem, _engine) = open_client(queue.clone());
    connect_as_in_the_manual(&client, "x");
    queue.lock().unwrap().push(b"\r\n+CMYIELD: 4\r\n");
    match client.subscribe(&[("/CwlekguDcv3/device/get".into(), 1)], None) {
        Err(Error::Mqtt {
            code: 4, operation, ..
        }) => assert_eq!(operation, "subscribe"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn payloads_are_escaped_or_refused_before_sending() {
    let queue: Arc<Mutex<Vec<&'static [u8]>>> = Arc::new(Mutex::new(Vec::new()));
    let (client, modem, _engine) = open_client(queue);
    assert!(matches!(
        client.publish("/t", b"x", 0, false, None),
        Err(Error::NotConnected("publish"))
    ));
    assert!(modem.inputs_text().is_empty());
    connect_as_in_the_manual(&client, "x");
    let sent = modem.inputs_text().len();
    for bad in [&b"a\rb"[..], b"a\nb", b"a\x1ab", b"\xff\xfe"] {
        let e = client
            .publish("/t", bad, 0, false, None)
            .expect_err("refused");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    }
    let e = client
        .publish("/t", &[b'x'; 1025], 0, false, None)
        .expect_err("too long");
    assert!(e.to_string().contains("1025"), "{e}");
    // seeds/000 §3.4 (AT+CMPUB): "<topic>和<message>输入参数两边需带"，如"abc"，中间不能带"，
    // 如"a"bc"" — no quote inside; no manual says how a backslash is read.
    for bad in [&br#"{"a":1}"#[..], br"a\b"] {
        let e = client
            .publish("/t", bad, 0, false, None)
            .expect_err("refused");
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    }
    // AT+CCSEND's message takes `\"` for a quote, as seeds/000 §4.5's example prints:
    // AT+CCSEND="update","{\"light \":\"open\"}",2000
    assert_eq!(
        payload_param("payload", br#"{"light ":"open"}"#, true).ok(),
        Some(r#"{"light ":"open"}"#)
    );
    assert!(payload_param("payload", br"a\b", true).is_err());
    assert_eq!(
        modem.inputs_text().len(),
        sent,
        "nothing sent for refused payloads"
    );
    let line = build(
        "AT+CCSEND",
        &[
            Arg::Str("update"),
            Arg::Escaped(r#"{"light ":"open"}"#),
            Arg::Int(2000),
        ],
    )
    .expect("line");
    assert_eq!(
        line.text(),
        r#"AT+CCSEND="update","{\"light \":\"open\"}",2000"#
    );
}

/// What a revision 2 client of [`open_v2`] sends before AT+CMCONN with the default
/// options (clean session, keepalive 60 s).
const V2_LOGIN: [&[u8]; 3] = [
    b"AT+CMAUTH=\"pk\",\"dn\",\"ds\"",
    b"AT+CMPARA=\"CLEAN\",1",
    b"AT+CMPARA=\"KEEPALIVE\",60000",
];

fn open_v2(script: memport::Script) -> (MqttClient, ScriptedModem, Engine) {
    let (port, modem) = memport::scripted(script);
    let engine = Engine::start(port);
    let options = AliyunOptions {
        poll_interval: Duration::from_secs(3600),
        auto_yield: Some(false),
        ..AliyunOptions::default()
    };
    let (c, shared) =
        AliyunMqtt::open(engine.clone(), Revision::V2, "pk", "dn", "ds", options, 100)
            .expect("open");
    let client = MqttClient::new(Arc::new(AliyunBackend(c)), shared, ClientOptions::default());
    (client, modem, engine)
}

/// seeds/002_8d748b88093903a9.txt §3 ("MQTT 的测试用例") starts with the bearer:
/// `AT+CNACT=1,"cmnet"` / `OK` / `+APP PDP: ACTIVE`, and `AT+CNACT?` /
/// `+CNACT: 1,"10.181.182.177"`. The client checks it before AT+CMCONN and brings it up.
#[test]
fn revision_2_brings_the_bearer_up_before_cmconn() {
    let up = Arc::new(Mutex::new(false));
    let u = up.clone();
    let script: memport::Script = Box::new(move |input: &[u8]| {
        let mut up = u.lock().unwrap_or_else(|p| p.into_inner());
        match input {
            b"AT+CNACT?" if *up => v(&[b"\r\n+CNACT: 1,\"10.181.182.177\"\r\n\r\nOK\r\n"]),
            b"AT+CNACT?" => v(&[b"\r\n+CNACT: 0,\"0.0.0.0\"\r\n\r\nOK\r\n"]),
            b"AT+CNACT=1" => {
                *up = true;
                v(&[b"\r\nOK\r\n", b"\r\n+APP PDP: ACTIVE\r\n"])
            }
            b"AT+CMCONN" if !*up => v(&[b"\r\n+CME ERROR: -14\r\n"]),
            b"AT+CMCONN" => v(&[b"\r\nOK\r\n"]),
            login if V2_LOGIN.contains(&login) => v(&[b"\r\nOK\r\n"]),
            _ => v(&[b"\r\nERROR\r\n"]),
        }
    });
    let (client, modem, _e) = open_v2(script);
    client
        .connect(ConnectOptions::new(&mqtt_endpoint("pk"), 1883))
        .expect("connect");
    let sent = modem.inputs_text();
    let cnact = sent
        .iter()
        .position(|s| s == "AT+CNACT=1")
        .expect("bearer up");
    let conn = sent.iter().position(|s| s == "AT+CMCONN").expect("connect");
    assert!(cnact < conn, "{sent:?}");
}

/// AT+CMCONN has no error table in either manual (seeds/000 §3.3: "If failed: ERROR";
/// seeds/002 §1.3: "+CME ERROR: <err>"); -27 MQTT_STATE_ERROR is listed for
/// AT+CMPUB/CMSUB/CMUNSUB only (seeds/000 §3.4-3.6). So -27 from AT+CMCONN is taken for
/// "still connected" only when AT+CMSTATUS? (seeds/002) says 1.
#[test]
fn cmconn_state_error_is_checked_with_cmstatus() {
    for connected in [false, true] {
        let script: memport::Script = Box::new(move |input: &[u8]| match input {
            b"AT+CNACT?" => v(&[b"\r\n+CNACT: 1,\"10.0.0.2\"\r\n\r\nOK\r\n"]),
            b"AT+CMSTATUS?" if connected => v(&[b"\r\n+CMSTATUS: 1\r\n\r\nOK\r\n"]),
            b"AT+CMSTATUS?" => v(&[b"\r\n+CMSTATUS: 0\r\n\r\nOK\r\n"]),
            b"AT+CMCONN" => v(&[b"\r\n+CME ERROR: -27\r\n"]),
            b"AT+CMDISCONN" => v(&[b"\r\nOK\r\n"]),
            login if V2_LOGIN.contains(&login) => v(&[b"\r\nOK\r\n"]),
            _ => v(&[b"\r\nERROR\r\n"]),
        });
        let (client, modem, _e) = open_v2(script);
        let r = client.connect(ConnectOptions::new(&mqtt_endpoint("pk"), 1883));
        assert!(matches!(r, Err(Error::Mqtt { code: -27, .. })), "{r:?}");
        let sent = modem.inputs_text();
        assert_eq!(
            sent.iter().any(|s| s == "AT+CMDISCONN"),
            connected,
            "{sent:?}"
        );
        assert_eq!(
            sent.iter().filter(|s| *s == "AT+CMCONN").count(),
            1 + connected as usize
        );
    }
}

#[test]
fn options_follow_each_revision() {
    let o = AliyunOptions {
        request_timeout: Some(20_000),
        ..AliyunOptions::default()
    };
    assert!(o.validate(Revision::V1).is_err());
    assert!(o.validate(Revision::V2).is_ok());
    let o = AliyunOptions {
        mqtt_version: Some(3),
        ..AliyunOptions::default()
    };
    assert!(o.validate(Revision::V1).is_ok());
    assert!(o.validate(Revision::V2).is_err());
    let o = AliyunOptions {
        auto_yield: Some(true),
        ..AliyunOptions::default()
    };
    assert!(o.validate(Revision::V1).is_err());
    assert!(o.validate(Revision::V2).is_ok());
}

/// The firmware's acks carry no id (000 §3.7, `+CMYIELD: <statuscode>`): an ack
/// that comes after its operation gave up belongs to that operation and must not complete
/// the next one of its kind.
#[test]
fn a_late_ack_does_not_complete_a_later_operation() {
    let queue: Arc<Mutex<Vec<&'static [u8]>>> = Arc::new(Mutex::new(Vec::new()));
    let (client, _modem, _engine) = open_client(queue.clone());
    connect_as_in_the_manual(&client, "x");
    let topic = [("/CwlekguDcv3/device/get".to_string(), 1)];
    // No ack within the operation's time: it gives up.
    let err = client
        .subscribe(&topic, Some(Duration::from_millis(300)))
        .expect_err("no ack");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // Its ack arrives late, with the next subscribe's yield; that subscribe's own ack
    // never comes: it must time out too, not succeed on the late one.
    queue.lock().unwrap().push(b"\r\n+CMYIELD: 3\r\n");
    let err = client
        .subscribe(&topic, Some(Duration::from_millis(600)))
        .expect_err("the late ack is not this operation's");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    // Acks that come in order after that complete their own operations again.
    queue.lock().unwrap().push(b"\r\n+CMYIELD: 3\r\n");
    queue.lock().unwrap().push(b"\r\n+CMYIELD: 3\r\n");
    client
        .subscribe(&topic, Some(Duration::from_secs(5)))
        .expect("the second late ack is discarded, the third is this one's");
}

/// Revision 1 answers a failed AT+CMCONN with a plain ERROR (seeds/000 §3.3) and has no
/// status query; AT+CMDISCONN answers OK when a connection object exists and -2
/// NULL_VALUE_ERROR when none does (§3.8). Only the first is a reason to connect again.
#[test]
fn revision_1_cmconn_error_is_checked_with_cmdisconn() {
    for held in [false, true] {
        let conns = Arc::new(Mutex::new(0));
        let n = conns.clone();
        let script: memport::Script = Box::new(move |input: &[u8]| {
            let mut n = n.lock().unwrap_or_else(|p| p.into_inner());
            match input {
                b"AT+CMCONN" => {
                    *n += 1;
                    if held && *n == 2 {
                        v(&[b"\r\nOK\r\n"])
                    } else {
                        v(&[b"\r\nERROR\r\n"])
                    }
                }
                b"AT+CMDISCONN" if held => v(&[b"\r\nOK\r\n"]),
                b"AT+CMDISCONN" => v(&[b"\r\n+CME ERROR: -2\r\n"]),
                b"AT+CMAUTH=\"CwlekguDcv3\",\"device\",\"YplyrQ3CKX6WKvNb5bpFKAv254JDhCmu\""
                | b"AT+CMPARA=\"TIMEOUT\",3000"
                | b"AT+CMPARA=\"CLEAN\",1"
                | b"AT+CMPARA=\"KEEPALIVE\",60000"
                | b"AT+CMYIELD=100" => v(&[b"\r\nOK\r\n"]),
                _ => v(&[b"\r\nERROR\r\n"]),
            }
        });
        let (client, modem, _engine) = open_scripted(script);
        let r = client.connect(ConnectOptions::new(&mqtt_endpoint("CwlekguDcv3"), 1883));
        match (held, r) {
            (true, Ok(())) => {}
            (false, Err(Error::Command { text, .. })) => {
                assert!(text.contains("CAUTONET"), "{text}")
            }
            (_, other) => panic!("held {held}: {other:?}"),
        }
        let sent = modem.inputs_text();
        assert_eq!(
            sent.iter().filter(|s| *s == "AT+CMCONN").count(),
            1 + held as usize
        );
    }
}
