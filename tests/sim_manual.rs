//! The A7600 MQTT manual's chapter 3.1 example, byte for byte, against the
//! embedded broker.

mod sim_common;
use sim_common::{modem, modem_resolving, quiet_modem, Host};

#[test]
fn echo_is_on_until_ate0() {
    let m = modem("a7600");
    let mut h = Host::open(m.port());
    h.exchange(b"AT\r", b"AT\r\r\nOK\r\n");
    h.exchange(b"ATE0\r", b"ATE0\r\r\nOK\r\n");
    h.exchange(b"AT\r", b"\r\nOK\r\n");
    // CRLF and bare LF terminators are tolerated.
    h.exchange(b"AT+CSQ\r\n", b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n");
    h.exchange(b"AT+CREG?\n", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n");
    h.exchange(b"AT+NOSUCH\r", b"\r\nERROR\r\n");
    m.close();
}

#[test]
fn chapter_3_1_example() {
    let m = modem_resolving("a7600", &["test.mosquitto.org"]);
    let mut h = Host::open_quiet(m.port());

    // network checks that precede the example
    assert_eq!(h.cmd("AT+CSQ"), "\r\n+CSQ: 23,0\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CGREG?"), "\r\n+CGREG: 0,1\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CGSOCKCONT=1,\"IP\",\"CMNET\""), "\r\nOK\r\n");

    h.cmqtt_start();
    h.exchange(b"AT+CMQTTACCQ=0,\"client test0\"\r", b"\r\nOK\r\n");
    h.input("AT+CMQTTWILLTOPIC=0,10", b"0123456789");
    h.input("AT+CMQTTWILLMSG=0,6,1", b"qwerty");
    h.cmqtt_connect(0, "tcp://test.mosquitto.org:1883", 0);

    h.input("AT+CMQTTSUB=0,9,1", b"simcommsg");
    h.expect(b"\r\n+CMQTTSUB: 0,0\r\n");

    let payload = b"012345678901234567890123456789012345678901234567890123456789";
    h.input("AT+CMQTTTOPIC=0,9", b"simcommsg");
    h.input("AT+CMQTTPAYLOAD=0,60", payload);
    h.exchange(b"AT+CMQTTPUB=0,1,60\r", b"\r\nOK\r\n");
    // The PUBACK result and the message coming back may arrive in either
    // order; each is one unbroken frame.
    let pub_done: &[u8] = b"\r\n+CMQTTPUB: 0,0\r\n";
    let mut rx = Vec::new();
    // As the manual prints it: one block, no blank line between its lines.
    rx.extend_from_slice(b"\r\n+CMQTTRXSTART: 0,9,60\r\n");
    rx.extend_from_slice(b"+CMQTTRXTOPIC: 0,9\r\nsimcommsg\r\n");
    rx.extend_from_slice(b"+CMQTTRXPAYLOAD: 0,60\r\n");
    rx.extend_from_slice(payload);
    rx.extend_from_slice(b"\r\n+CMQTTRXEND: 0\r\n");
    let got = h.read_n(pub_done.len() + rx.len());
    let a = [pub_done, &rx[..]].concat();
    let b = [&rx[..], pub_done].concat();
    assert!(
        got == a || got == b,
        "got {:?}",
        String::from_utf8_lossy(&got)
    );

    h.input("AT+CMQTTSUBTOPIC=0,9,1", b"123456789");
    h.exchange(b"AT+CMQTTSUB=0\r", b"\r\nOK\r\n\r\n+CMQTTSUB: 0,0\r\n");

    h.input("AT+CMQTTUNSUB=0,9,0", b"simcommsg");
    h.expect(b"\r\n+CMQTTUNSUB: 0,0\r\n");

    h.send(b"AT+CMQTTDISC=0,120\r");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTDISC: 0,0\r\n");
    h.exchange(b"AT+CMQTTREL=0\r", b"\r\nOK\r\n");
    h.exchange(b"AT+CMQTTSTOP\r", b"\r\nOK\r\n\r\n+CMQTTSTOP: 0\r\n");
    assert!(h.pending().is_empty());

    let s = m.stats();
    assert!(s.published >= 1 && s.delivered >= 1 && s.commands >= 10);
    assert!(s.bytes_in > 0 && s.bytes_out > 0);
}

#[test]
fn test_commands_announce_profile_ranges() {
    let (_m, mut h) = quiet_modem("a7600");
    assert_eq!(
        h.cmd("AT+CMQTTACCQ=?"),
        "\r\n+CMQTTACCQ: (0-1),(1-128)[,(0-1)]\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd("AT+CMQTTPUB=?"),
        "\r\n+CMQTTPUB: (0-1),(0-2),(60-180),(0-1),(0-1)\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd("AT+CMQTTPAYLOAD=?"),
        "\r\n+CMQTTPAYLOAD: (0-1),(1-10240)\r\n\r\nOK\r\n"
    );
    let m7028 = modem("sim7028");
    let mut h2 = Host::open(m7028.port());
    h2.echo_off();
    assert_eq!(
        h2.cmd("AT+CMQTTACCQ=?"),
        "\r\n+CMQTTACCQ: (0-0),(1-256)[,(0-1)]\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h2.cmd("AT+CMQTTCONNECT=?"),
        "\r\n+CMQTTCONNECT: (0-0),(1-128),(1-64800),(0-1)[,<user_name>,<pass_word>]\r\n\r\nOK\r\n"
    );
    assert!(h2.cmd("ATI").contains("Model: SIM7028"));
}
