//! The module's state: registration, PDP contexts, radio, and what MQTT does without a
//! bearer; identity as each family prints it (docs/fidelity.md, "State and identity").

mod sim_common;
use sim_common::{broker_port, quiet_modem, ERROR, OK};

#[test]
fn quectel_identity() {
    let (_m, mut h) = quiet_modem("bg96");
    h.answers(&[
        (
            "ATI",
            "\r\nQuectel\r\n\r\nBG96\r\n\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n",
        ),
        ("AT+CGMR", "\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n"),
        ("AT+GMR", "\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n"),
        ("AT+CGMI", "\r\nQuectel\r\n\r\nOK\r\n"),
        ("AT+GSN", "\r\n866425030000074\r\n\r\nOK\r\n"),
        ("AT+QCCID", "\r\n+QCCID: 89860012345678901237\r\n\r\nOK\r\n"),
        (
            "AT+QNWINFO",
            "\r\n+QNWINFO: \"CAT-M1\",\"46000\",\"LTE BAND 3\",1575\r\n\r\nOK\r\n",
        ),
    ]);
    let (_m, mut h) = quiet_modem("ec20");
    assert!(h.cmd("AT+QNWINFO").contains("+QNWINFO: \"FDD LTE\","));
    // SIMCom keeps its own forms.
    let (_m, mut h) = quiet_modem("a7600");
    assert!(h
        .cmd("ATI")
        .starts_with("\r\nManufacturer: SIMCOM INCORPORATED\r\n"));
    h.answers(&[
        ("AT+CGMR", "\r\n+CGMR: A7600M7_V1.0.0.1\r\n\r\nOK\r\n"),
        ("AT+QCCID", ERROR),
    ]);
}

#[test]
fn quectel_contexts_follow_qiact_qideact_and_qicsgp() {
    let (_m, mut h) = quiet_modem("bg96");
    h.answers(&[
        // Up at power-on (context 1), as the library and the notes' examples expect.
        (
            "AT+QIACT?",
            "\r\n+QIACT: 1,1,1,\"10.49.14.68\"\r\n\r\nOK\r\n",
        ),
        ("AT+CGACT?", "\r\n+CGACT: 1,1\r\n\r\nOK\r\n"),
        ("AT+QICSGP=1,1,\"super\",\"\",\"\",0", OK),
        (
            "AT+QICSGP=1",
            "\r\n+QICSGP: 1,\"super\",\"\",\"\",0\r\n\r\nOK\r\n",
        ),
        ("AT+QICSGP=1,4,\"x\"", ERROR),
        ("AT+QIDEACT=1", OK),
        ("AT+QIACT?", OK),
        ("AT+CGACT?", "\r\n+CGACT: 1,0\r\n\r\nOK\r\n"),
        ("AT+QIACT=1", OK),
        ("AT+CGACT?", "\r\n+CGACT: 1,1\r\n\r\nOK\r\n"),
        // An undefined context cannot be activated; QICSGP defines it.
        ("AT+QIACT=2", ERROR),
        ("AT+QICSGP=2,1,\"iot\"", OK),
        ("AT+QIACT=2", OK),
        (
            "AT+QIACT?",
            "\r\n+QIACT: 1,1,1,\"10.49.14.68\"\r\n\r\n+QIACT: 2,1,1,\"10.49.14.69\"\r\n\r\nOK\r\n",
        ),
    ]);
}

#[test]
fn radio_off_deregisters_and_qmtopen_cannot_activate() {
    let (m, mut h) = quiet_modem("ec20");
    h.answers(&[
        ("AT+CREG?", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
        ("AT+CFUN=0", OK),
    ]);
    h.expect(b"\r\n+QIURC: \"pdpdeact\",1\r\n");
    assert_eq!(h.cmd("AT+CFUN?"), "\r\n+CFUN: 0\r\n\r\nOK\r\n");
    for reg in ["CREG", "CGREG", "CEREG"] {
        assert_eq!(
            h.cmd(&format!("AT+{reg}?")),
            format!("\r\n+{reg}: 0,0\r\n\r\nOK\r\n")
        );
    }
    h.answers(&[
        ("AT+CGATT?", "\r\n+CGATT: 0\r\n\r\nOK\r\n"),
        ("AT+QNWINFO", "\r\n+QNWINFO: No Service\r\n\r\nOK\r\n"),
        ("AT+QIACT=1", ERROR),
        ("AT+QMTOPEN=0,\"127.0.0.1\",1883", OK),
    ]);
    h.expect(b"\r\n+QMTOPEN: 0,3\r\n");
    // Radio on: registered again, the context stays down until QMTOPEN brings it up.
    h.answers(&[
        ("AT+CFUN=1", OK),
        ("AT+CREG?", "\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
        ("AT+QIACT?", OK),
    ]);
    let port = broker_port(&m);
    assert_eq!(h.cmd(&format!("AT+QMTOPEN=0,\"127.0.0.1\",{port}")), OK);
    h.expect(b"\r\n+QMTOPEN: 0,0\r\n");
    assert!(h.cmd("AT+QIACT?").starts_with("\r\n+QIACT: 1,1,1,"));
    // Deregistration with COPS=2 takes the open client's context with it.
    assert_eq!(h.cmd("AT+COPS=2"), OK);
    h.expect(b"\r\n+QIURC: \"pdpdeact\",1\r\n");
    h.answers(&[
        ("AT+COPS?", "\r\n+COPS: 2\r\n\r\nOK\r\n"),
        ("AT+QMTOPEN?", OK),
        ("AT+COPS=0", OK),
        ("AT+CEREG?", "\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
    ]);
}

#[test]
fn host_deactivation_drops_quectel_clients_with_qmtstat() {
    let (m, mut h) = quiet_modem("bg96");
    let port = broker_port(&m);
    assert_eq!(h.cmd(&format!("AT+QMTOPEN=2,\"127.0.0.1\",{port}")), OK);
    h.expect(b"\r\n+QMTOPEN: 2,0\r\n");
    assert_eq!(h.cmd("AT+QIDEACT=1"), OK);
    h.expect(b"\r\n+QMTSTAT: 2,1\r\n");
    assert_eq!(h.cmd("AT+QMTOPEN?"), OK);
}

#[test]
fn will_flag_off_takes_the_trailing_fields() {
    let (_m, mut h) = quiet_modem("bg96");
    let will_off = "\r\n+QMTCFG: \"will\",0\r\n\r\nOK\r\n";
    h.answers(&[
        ("AT+QMTCFG=\"will\",0,0,0,0,\"t\",\"m\"", OK),
        ("AT+QMTCFG=\"will\",0", will_off),
        ("AT+QMTCFG=\"will\",0,0,3,0,\"t\",\"m\"", ERROR),
        ("AT+QMTCFG=\"will\",0,1,1,0,\"t\",\"m\"", OK),
        ("AT+QMTCFG=\"will\",0,0,1,0,\"t\",\"m\"", OK),
        ("AT+QMTCFG=\"will\",0", will_off),
    ]);
}

#[test]
fn cmqtt_start_and_connect_need_the_network() {
    let (_m, mut h) = quiet_modem("a7600");
    h.answers(&[
        ("AT+CFUN=4", OK),
        ("AT+CGACT?", "\r\n+CGACT: 1,0\r\n\r\nOK\r\n"),
        ("AT+CGACT=1,1", ERROR),
    ]);
    h.exchange(b"AT+CMQTTSTART\r", b"\r\nOK\r\n\r\n+CMQTTSTART: 7\r\n");
    h.answers(&[("AT+CMQTTACCQ=0,\"x\"", ERROR), ("AT+CFUN=1", OK)]);
    // START brings the context up ("by activating PDP context").
    h.connect0("state-1");
    assert_eq!(h.cmd("AT+CGACT?"), "\r\n+CGACT: 1,1\r\n\r\nOK\r\n");
    // The network goes: the link is lost with cause 3, and a connect fails with 9.
    assert_eq!(h.cmd("AT+COPS=2"), OK);
    h.expect(b"\r\n+CMQTTCONNLOST: 0,3\r\n");
    let connect = "AT+CMQTTCONNECT=0,\"tcp://broker.example.org:1883\",60,1";
    assert_eq!(h.cmd(connect), OK);
    h.expect(b"\r\n+CMQTTCONNECT: 0,9\r\n");
    // Back on the network, the next connect brings the context up again.
    h.answers(&[("AT+COPS=0", OK), (connect, OK)]);
    h.expect(b"\r\n+CMQTTCONNECT: 0,0\r\n");
    // The host deactivates the context itself.
    assert_eq!(h.cmd("AT+CGACT=0,1"), OK);
    h.expect(b"\r\n+CMQTTCONNLOST: 0,3\r\n");
    assert_eq!(h.cmd("AT+CGPADDR"), "\r\n+CGPADDR: 1,0.0.0.0\r\n\r\nOK\r\n");
}

#[test]
fn aliyun_bearer_follows_the_radio() {
    let (_m, mut h) = quiet_modem("sim7000-aliyun");
    h.answers(&[
        ("AT+CFUN=0", OK),
        ("AT+CNACT=1,\"cmnet\"", ERROR),
        ("AT+CFUN=1", OK),
        ("AT+CNACT=1,\"cmnet\"", OK),
    ]);
    h.expect(b"\r\n+APP PDP: ACTIVE\r\n");
    h.answers(&[
        ("AT+CFUN=4", OK),
        ("AT+CNACT?", "\r\n+CNACT: 0,\"0.0.0.0\"\r\n\r\nOK\r\n"),
    ]);
}
