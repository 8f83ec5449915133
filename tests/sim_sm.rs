//! The SIMCom SM* virtual modem (profile sim7080) at the AT level: the synchronous
//! commands, the refusals, `+SMSUB` framing, `+SMSTATE: 0` on a dropped link, the bearer.

mod sim_common;

use sim_common::{quiet_modem, ERROR, OK};

/// URL, CONN and a subscription to `topic` at QoS 1 (the client id is the topic: the
/// tests share one broker, which would close a session whose id another takes).
fn connected(h: &mut sim_common::Host, topic: &str) {
    let client_id = format!("AT+SMCONF=\"CLIENTID\",\"{}\"", topic.replace('/', "-"));
    let subscribe = format!("AT+SMSUB=\"{topic}\",1");
    h.answers(&[
        ("AT+SMCONF=\"URL\",\"broker.example.org\",1883", OK),
        (&client_id, OK),
        ("AT+SMCONF=\"CLEANSS\",1", OK),
        ("AT+SMCONN", OK),
        ("AT+SMSTATE?", "\r\n+SMSTATE: 1\r\n\r\nOK\r\n"),
        (&subscribe, OK),
    ]);
}

#[test]
fn commands_before_a_connection_and_bad_parameters_are_refused() {
    let (_m, mut h) = quiet_modem("sim7080");
    let long_topic = format!("AT+SMCONF=\"TOPIC\",\"{}\"", "t".repeat(129));
    h.answers(&[
        // No URL yet, nothing connected.
        ("AT+SMCONN", ERROR),
        ("AT+SMPUB=\"a\",1,0,0", ERROR),
        ("AT+SMSUB=\"a\",1", ERROR),
        // ATM 17.2.9: AT+SMDISC answers OK on its own.
        ("AT+SMDISC", OK),
        // Ranges of the test answer (ATM 17.2.1).
        ("AT+SMCONF=\"KEEPTIME\",65536", ERROR),
        ("AT+SMCONF=\"QOS\",3", ERROR),
        (&long_topic, ERROR),
        ("AT+SMCONF=\"NOSUCH\",1", ERROR),
        // An unquoted tag and host (field: SIM7000_AWS_Log.txt).
        ("AT+SMCONF=url,broker.example.org,1883", OK),
    ]);
}

#[test]
fn publish_prompts_and_messages_come_as_quoted_lines() {
    let (_m, mut h) = quiet_modem("sim7080");
    connected(&mut h, "sm/t");
    // Over the limit of +SMPUB: 128,(0-1024),(0-2),(0-1).
    assert_eq!(h.cmd("AT+SMPUB=\"sm/t\",1025,1,0"), ERROR);
    h.send(b"AT+SMPUB=\"sm/t\",6,1,0\r");
    h.expect(b"\r\n> ");
    h.send(b"a\"b\x00\xffc");
    // OK once acknowledged, then the message (held until the OK).
    h.expect(b"\r\nOK\r\n");
    h.expect(b"\r\n+SMSUB: \"sm/t\",\"a\"b\x00\xffc\"\r\n");
    h.answers(&[
        ("AT+SMUNSUB=\"sm/t\"", OK),
        ("AT+SMDISC", OK),
        ("AT+SMSTATE?", "\r\n+SMSTATE: 0\r\n\r\nOK\r\n"),
    ]);
}

#[test]
fn a_dropped_link_and_a_lost_bearer_print_their_urcs() {
    let (m, mut h) = quiet_modem("sim7080");
    connected(&mut h, "sm/drop");
    m.drop_link(0, 1).expect("drop link");
    h.expect(b"\r\n+SMSTATE: 0\r\n");
    assert!(
        m.drop_link(0, 2).is_err(),
        "cause 1 only (+SMSTATE has none)"
    );
    h.answers(&[("AT+SMCONN", OK), ("AT+CNACT=0,0", OK)]);
    h.expect(b"\r\n+APP PDP: 0,DEACTIVE\r\n\r\n+SMSTATE: 0\r\n");
    // No bearer: connecting fails at once.
    h.answers(&[("AT+SMCONN", ERROR), ("AT+CNACT=0,1", OK)]);
    h.expect(b"\r\n+APP PDP: 0,ACTIVE\r\n");
    assert_eq!(h.cmd("AT+SMCONN"), OK);
}
