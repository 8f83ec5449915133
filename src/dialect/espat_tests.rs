use super::*;
use crate::engine::memport;
use crate::mqtt::ClientOptions;

#[test]
fn quoted_parameters_take_esp_at_escapes() {
    assert_eq!(quoted(r#"a,b"c\d"#), r#""a\,b\"c\\d""#);
    assert_eq!(quoted(""), "\"\"");
    let e = check_text("topic", "a\nb").unwrap_err().to_string();
    assert!(e.starts_with("topic: must not contain LF"), "{e}");
}

#[test]
fn lines_of_256_bytes_or_more_are_refused() {
    let ok = "A".repeat(LINE_MAX - 1);
    assert!(limits::line(ok, None, "topic").is_ok());
    let e = limits::line("A".repeat(LINE_MAX), None, "topic")
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 255 bytes"), "{e}");
}

#[test]
fn subrecv_topic_is_read_between_the_outer_quotes() {
    let h = br#"+MQTTSUBRECV:0,"a,"b",12"#;
    assert_eq!(subrecv_topic(h), Some(&br#"a,"b"#[..]));
    assert_eq!(subrecv_topic(b"+MQTTSUBRECV:0,"), None);
}

#[test]
fn err_code_lines_name_the_mqtt_error() {
    // Field log esp32c3_espat647_unescaped_comma.
    let c = err_code(b"ERR CODE:0x010a6044").unwrap();
    assert_eq!(error_name(c), "data read failed");
    assert_eq!(error_name(0x0109_0000), "command not supported");
    assert_eq!(err_code(b"ERROR"), None);
    assert_eq!(
        chip("AT version:2.2.0.0-dev(ca41ec4 - ESP32 - Sep 16 2020 11:28:17)").as_deref(),
        Some("ESP32")
    );
}

fn client(script: memport::Script) -> (crate::mqtt::MqttClient, memport::ScriptedModem) {
    let (port, scripted) = memport::scripted(script);
    let engine = Engine::start(port);
    let ctx = Context::new(engine, PROFILE).unwrap();
    let clients = crate::dialect::ContextClients(ctx);
    let c = crate::dialect::FamilyClients::open_mqtt(&clients, "dev", 0, ClientOptions::default())
        .unwrap();
    (c, scripted)
}

/// The connect sequence and its answers as the MQTT AT Examples print them; long
/// credentials go through AT+MQTTLONGPASSWORD after the prompt.
#[test]
fn connect_configures_then_waits_for_mqttconnected() {
    let (c, s) = client(Box::new(|line: &[u8]| {
        let l = String::from_utf8_lossy(line).into_owned();
        let a: &[u8] = if l.starts_with("AT+MQTTCLEAN") {
            b"\r\nERROR\r\n"
        } else if l.starts_with("AT+MQTTLONGPASSWORD") {
            b"\r\nOK\r\n\r\n>"
        } else if l.starts_with("AT+MQTTCONN=") {
            b"\r\n+MQTTCONNECTED:0,1,\"h\",\"1883\",\"\",0\r\n\r\nOK\r\n"
        } else {
            b"\r\nOK\r\n"
        };
        vec![a.to_vec()]
    }));
    let mut o = ConnectOptions::new("h", 1883);
    o.username = Some("u,1".into());
    o.password = Some("p".repeat(70));
    c.connect(o).unwrap();
    let sent = s.inputs_text();
    assert!(
        sent.iter()
            .any(|l| l == r#"AT+MQTTUSERCFG=0,1,"dev","u\,1","",0,0,"""#),
        "{sent:?}"
    );
    assert!(
        sent.iter().any(|l| l == "AT+MQTTLONGPASSWORD=0,70"),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|l| l == r#"AT+MQTTCONNCFG=0,60,0,"","",0,0"#),
        "{sent:?}"
    );
    assert!(
        sent.iter().any(|l| l == r#"AT+MQTTCONN=0,"h",1883,0"#),
        "{sent:?}"
    );
    assert!(c.is_connected());
}

#[test]
fn limits_are_refused_before_a_byte_is_written() {
    let (c, s) = client(Box::new(|_line: &[u8]| vec![b"\r\nOK\r\n".to_vec()]));
    let mut o = ConnectOptions::new("h", 1883);
    o.keepalive = 0;
    let e = c.connect(o).unwrap_err().to_string();
    assert!(
        e.starts_with("keepalive: 0 s is out of range (must be 1 to 7200"),
        "{e}"
    );
    let mut o = ConnectOptions::new("h", 1883);
    o.will = Some(crate::mqtt::Will {
        topic: "w".into(),
        payload: vec![0xff],
        qos: 0,
        retain: false,
    });
    let e = c.connect(o).unwrap_err().to_string();
    assert!(e.starts_with("will payload: must be UTF-8 text"), "{e}");
    let e = c
        .connect(ConnectOptions::new(&"h".repeat(129), 1883))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "host: 129 bytes is too long (at most 128 bytes)");
    assert!(s.inputs_text().is_empty(), "{:?}", s.inputs_text());
}
