//! The SIMCom SM* virtual modem (profile sim7080) at the AT level: the synchronous
//! commands, the refusals, `+SMSUB` framing, `+SMSTATE: 0` on a dropped link, the bearer.

mod sim_common;

use sim_common::quiet_modem;

/// URL, CONN and a subscription to `topic` at QoS 1 (the client id is the topic: the
/// tests share one broker, which would close a session whose id another takes).
fn connected(h: &mut sim_common::Host, topic: &str) {
    assert_eq!(
        h.cmd("AT+SMCONF=\"URL\",\"broker.example.org\",1883"),
        "\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd(&format!(
            "AT+SMCONF=\"CLIENTID\",\"{}\"",
            topic.replace('/', "-")
        )),
        "\r\nOK\r\n"
    );
    assert_eq!(h.cmd("AT+SMCONF=\"CLEANSS\",1"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+SMCONN"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+SMSTATE?"), "\r\n+SMSTATE: 1\r\n\r\nOK\r\n");
    assert_eq!(h.cmd(&format!("AT+SMSUB=\"{topic}\",1")), "\r\nOK\r\n");
}

#[test]
fn commands_before_a_connection_and_bad_parameters_are_refused() {
    let (_m, mut h) = quiet_modem("sim7080");
    // No URL yet, nothing connected.
    assert_eq!(h.cmd("AT+SMCONN"), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+SMPUB=\"a\",1,0,0"), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+SMSUB=\"a\",1"), "\r\nERROR\r\n");
    // ATM 17.2.9: AT+SMDISC answers OK on its own.
    assert_eq!(h.cmd("AT+SMDISC"), "\r\nOK\r\n");
    // Ranges of the test answer (ATM 17.2.1).
    assert_eq!(h.cmd("AT+SMCONF=\"KEEPTIME\",65536"), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+SMCONF=\"QOS\",3"), "\r\nERROR\r\n");
    let long = "t".repeat(129);
    assert_eq!(
        h.cmd(&format!("AT+SMCONF=\"TOPIC\",\"{long}\"")),
        "\r\nERROR\r\n"
    );
    assert_eq!(h.cmd("AT+SMCONF=\"NOSUCH\",1"), "\r\nERROR\r\n");
    // An unquoted tag and host (field: SIM7000_AWS_Log.txt).
    assert_eq!(h.cmd("AT+SMCONF=url,broker.example.org,1883"), "\r\nOK\r\n");
}

#[test]
fn publish_prompts_and_messages_come_as_quoted_lines() {
    let (_m, mut h) = quiet_modem("sim7080");
    connected(&mut h, "sm/t");
    // Over the limit of +SMPUB: 128,(0-1024),(0-2),(0-1).
    assert_eq!(h.cmd("AT+SMPUB=\"sm/t\",1025,1,0"), "\r\nERROR\r\n");
    h.send(b"AT+SMPUB=\"sm/t\",6,1,0\r");
    h.expect(b"\r\n> ");
    h.send(b"a\"b\x00\xffc");
    // OK once acknowledged, then the message (held until the OK).
    h.expect(b"\r\nOK\r\n");
    h.expect(b"\r\n+SMSUB: \"sm/t\",\"a\"b\x00\xffc\"\r\n");
    assert_eq!(h.cmd("AT+SMUNSUB=\"sm/t\""), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+SMDISC"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+SMSTATE?"), "\r\n+SMSTATE: 0\r\n\r\nOK\r\n");
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
    assert_eq!(h.cmd("AT+SMCONN"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CNACT=0,0"), "\r\nOK\r\n");
    h.expect(b"\r\n+APP PDP: 0,DEACTIVE\r\n\r\n+SMSTATE: 0\r\n");
    // No bearer: connecting fails at once.
    assert_eq!(h.cmd("AT+SMCONN"), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+CNACT=0,1"), "\r\nOK\r\n");
    h.expect(b"\r\n+APP PDP: 0,ACTIVE\r\n");
    assert_eq!(h.cmd("AT+SMCONN"), "\r\nOK\r\n");
}
