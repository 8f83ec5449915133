//! The esp32-at virtual modem against ESP-AT's documented answers (docs/fidelity.md, ESP-AT
//! section): what a cellular modem would answer is refused, escapes and the line limit,
//! blocking connect/subscribe, PUBRAW's OK-then-prompt, and messages split past the receive
//! buffer.

mod sim_common;
use sim_common::{broker_port, quiet_modem};

#[test]
fn cellular_commands_are_refused_and_gmr_names_the_chip() {
    let (_m, mut h) = quiet_modem("esp32-at");
    for c in [
        "AT+CGMI",
        "AT+CGMM",
        "AT+CGSN",
        "AT+CMEE=1",
        "AT+CSQ",
        "AT+CREG?",
    ] {
        assert_eq!(h.cmd(c), "\r\nERROR\r\n", "{c}");
    }
    assert_eq!(h.cmd("AT+SYSLOG=1"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CSQ"), "\r\nERR CODE:0x01090000\r\n\r\nERROR\r\n");
    let gmr = h.cmd("AT+GMR");
    assert!(
        gmr.starts_with("\r\nAT version:2.2.0.0-dev(ca41ec4 - ESP32 - "),
        "{gmr}"
    );
    assert_eq!(gmr.matches("\r\n\r\n").count(), 4, "{gmr}");
}

#[test]
fn escapes_line_limit_and_the_blocking_commands() {
    let (m, mut h) = quiet_modem("esp32-at");
    let port = broker_port(&m);
    assert_eq!(h.cmd("AT+SYSLOG=1"), "\r\nOK\r\n");
    // Before any configuration.
    assert_eq!(
        h.cmd("AT+MQTTCLEAN=0"),
        "\r\nERR CODE:0x010a6003\r\n\r\nERROR\r\n"
    );
    assert_eq!(
        h.cmd(r#"AT+MQTTUSERCFG=0,1,"a\,b\"c\\","","",0,0,"""#),
        "\r\nOK\r\n"
    );
    let long = format!("AT+MQTTCONNCFG=0,60,0,\"{}\",\"m\",0,0", "t".repeat(230));
    assert!(h.cmd(&long).ends_with("\r\nERROR\r\n"));
    assert_eq!(
        h.cmd(&format!("AT+MQTTCONN=0,\"127.0.0.1\",{port},0")),
        format!("\r\n+MQTTCONNECTED:0,1,\"127.0.0.1\",\"{port}\",\"\",0\r\n\r\nOK\r\n")
    );
    assert_eq!(
        h.cmd("AT+MQTTCONN?"),
        format!("\r\n+MQTTCONN:0,4,1,\"127.0.0.1\",\"{port}\",\"\",0\r\n\r\nOK\r\n")
    );
    assert_eq!(h.cmd(r#"AT+MQTTSUB=0,"a/b",1"#), "\r\nOK\r\n");
    assert_eq!(
        h.cmd(r#"AT+MQTTSUB=0,"a/b",1"#),
        "\r\nALREADY SUBSCRIBE\r\n\r\nOK\r\n"
    );
    // An unescaped comma in the text data: two ERR CODE lines (field log I647).
    assert_eq!(
        h.cmd(r#"AT+MQTTPUB=0,"a/b","1, 2",0,0"#),
        "\r\nERR CODE:0x01080002\r\n\r\nERR CODE:0x010a6044\r\n\r\nERROR\r\n"
    );
    // PUBRAW: OK, then the prompt; 1100 bytes come back in two parts: 1024 bytes less the
    // QoS 1 packet's header (1 + 2 + 2 + 3 + 2 bytes), then the rest.
    h.exchange(b"AT+MQTTPUBRAW=0,\"a/b\",1100,1,0\r", b"\r\nOK\r\n\r\n>");
    let payload: Vec<u8> = (0..1100u32).map(|i| (i % 251) as u8).collect();
    h.send(&payload);
    h.read_until(b"+MQTTPUB:OK\r\n");
    let first = h.read_until(b"\"a/b\",1014,");
    assert!(first.ends_with(b"+MQTTSUBRECV:0,\"a/b\",1014,"));
    assert_eq!(h.read_n(1014), payload[..1014]);
    h.read_until(b"+MQTTSUBRECV:0,\"a/b\",86,");
    assert_eq!(h.read_n(86), payload[1014..]);
    h.read_until(b"\r\n");
    assert_eq!(
        h.cmd(r#"AT+MQTTUNSUB=0,"x/y""#),
        "\r\nNO UNSUBSCRIBE\r\n\r\nOK\r\n"
    );
    assert_eq!(h.cmd("AT+MQTTCLEAN=0"), "\r\nOK\r\n");
}
