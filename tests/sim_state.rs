//! The module's state: registration, PDP contexts, radio, and what MQTT does without a
//! bearer; identity as each family prints it (docs/fidelity.md, "State and identity").

mod sim_common;
use sim_common::{broker_port, quiet_modem};

#[test]
fn quectel_identity() {
    let (_m, mut h) = quiet_modem("bg96");
    assert_eq!(
        h.cmd("ATI"),
        "\r\nQuectel\r\n\r\nBG96\r\n\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n"
    );
    assert_eq!(h.cmd("AT+CGMR"), "\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+GMR"), "\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CGMI"), "\r\nQuectel\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+GSN"), "\r\n866425030000074\r\n\r\nOK\r\n");
    assert_eq!(
        h.cmd("AT+QCCID"),
        "\r\n+QCCID: 89860012345678901237\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd("AT+QNWINFO"),
        "\r\n+QNWINFO: \"CAT-M1\",\"46000\",\"LTE BAND 3\",1575\r\n\r\nOK\r\n"
    );
    let (_m, mut h) = quiet_modem("ec20");
    assert!(h.cmd("AT+QNWINFO").contains("+QNWINFO: \"FDD LTE\","));
    // SIMCom keeps its own forms.
    let (_m, mut h) = quiet_modem("a7600");
    assert!(h
        .cmd("ATI")
        .starts_with("\r\nManufacturer: SIMCOM INCORPORATED\r\n"));
    assert_eq!(
        h.cmd("AT+CGMR"),
        "\r\n+CGMR: A7600M7_V1.0.0.1\r\n\r\nOK\r\n"
    );
    assert_eq!(h.cmd("AT+QCCID"), "\r\nERROR\r\n");
}

#[test]
fn quectel_contexts_follow_qiact_qideact_and_qicsgp() {
    let (_m, mut h) = quiet_modem("bg96");
    // Up at power-on (context 1), as the library and the notes' examples expect.
    assert_eq!(
        h.cmd("AT+QIACT?"),
        "\r\n+QIACT: 1,1,1,\"10.49.14.68\"\r\n\r\nOK\r\n"
    );
    assert_eq!(h.cmd("AT+CGACT?"), "\r\n+CGACT: 1,1\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+QICSGP=1,1,\"super\",\"\",\"\",0"), "\r\nOK\r\n");
    assert_eq!(
        h.cmd("AT+QICSGP=1"),
        "\r\n+QICSGP: 1,\"super\",\"\",\"\",0\r\n\r\nOK\r\n"
    );
    assert_eq!(h.cmd("AT+QICSGP=1,4,\"x\""), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+QIDEACT=1"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+QIACT?"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CGACT?"), "\r\n+CGACT: 1,0\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+QIACT=1"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CGACT?"), "\r\n+CGACT: 1,1\r\n\r\nOK\r\n");
    // An undefined context cannot be activated; QICSGP defines it.
    assert_eq!(h.cmd("AT+QIACT=2"), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+QICSGP=2,1,\"iot\""), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+QIACT=2"), "\r\nOK\r\n");
    assert_eq!(
        h.cmd("AT+QIACT?"),
        "\r\n+QIACT: 1,1,1,\"10.49.14.68\"\r\n\r\n+QIACT: 2,1,1,\"10.49.14.69\"\r\n\r\nOK\r\n"
    );
}

#[test]
fn radio_off_deregisters_and_qmtopen_cannot_activate() {
    let (m, mut h) = quiet_modem("ec20");
    assert_eq!(h.cmd("AT+CREG?"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CFUN=0"), "\r\nOK\r\n");
    h.expect(b"\r\n+QIURC: \"pdpdeact\",1\r\n");
    assert_eq!(h.cmd("AT+CFUN?"), "\r\n+CFUN: 0\r\n\r\nOK\r\n");
    for reg in ["CREG", "CGREG", "CEREG"] {
        assert_eq!(
            h.cmd(&format!("AT+{reg}?")),
            format!("\r\n+{reg}: 0,0\r\n\r\nOK\r\n")
        );
    }
    assert_eq!(h.cmd("AT+CGATT?"), "\r\n+CGATT: 0\r\n\r\nOK\r\n");
    assert_eq!(
        h.cmd("AT+QNWINFO"),
        "\r\n+QNWINFO: No Service\r\n\r\nOK\r\n"
    );
    assert_eq!(h.cmd("AT+QIACT=1"), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+QMTOPEN=0,\"127.0.0.1\",1883"), "\r\nOK\r\n");
    h.expect(b"\r\n+QMTOPEN: 0,3\r\n");
    // Radio on: registered again, the context stays down until QMTOPEN brings it up.
    assert_eq!(h.cmd("AT+CFUN=1"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CREG?"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+QIACT?"), "\r\nOK\r\n");
    let port = broker_port(&m);
    assert_eq!(
        h.cmd(&format!("AT+QMTOPEN=0,\"127.0.0.1\",{port}")),
        "\r\nOK\r\n"
    );
    h.expect(b"\r\n+QMTOPEN: 0,0\r\n");
    assert!(h.cmd("AT+QIACT?").starts_with("\r\n+QIACT: 1,1,1,"));
    // Deregistration with COPS=2 takes the open client's context with it.
    assert_eq!(h.cmd("AT+COPS=2"), "\r\nOK\r\n");
    h.expect(b"\r\n+QIURC: \"pdpdeact\",1\r\n");
    assert_eq!(h.cmd("AT+COPS?"), "\r\n+COPS: 2\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+QMTOPEN?"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+COPS=0"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CEREG?"), "\r\n+CEREG: 0,1\r\n\r\nOK\r\n");
}

#[test]
fn host_deactivation_drops_quectel_clients_with_qmtstat() {
    let (m, mut h) = quiet_modem("bg96");
    let port = broker_port(&m);
    assert_eq!(
        h.cmd(&format!("AT+QMTOPEN=2,\"127.0.0.1\",{port}")),
        "\r\nOK\r\n"
    );
    h.expect(b"\r\n+QMTOPEN: 2,0\r\n");
    assert_eq!(h.cmd("AT+QIDEACT=1"), "\r\nOK\r\n");
    h.expect(b"\r\n+QMTSTAT: 2,1\r\n");
    assert_eq!(h.cmd("AT+QMTOPEN?"), "\r\nOK\r\n");
}

#[test]
fn will_flag_off_takes_the_trailing_fields() {
    let (_m, mut h) = quiet_modem("bg96");
    assert_eq!(
        h.cmd("AT+QMTCFG=\"will\",0,0,0,0,\"t\",\"m\""),
        "\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd("AT+QMTCFG=\"will\",0"),
        "\r\n+QMTCFG: \"will\",0\r\n\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd("AT+QMTCFG=\"will\",0,0,3,0,\"t\",\"m\""),
        "\r\nERROR\r\n"
    );
    assert_eq!(
        h.cmd("AT+QMTCFG=\"will\",0,1,1,0,\"t\",\"m\""),
        "\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd("AT+QMTCFG=\"will\",0,0,1,0,\"t\",\"m\""),
        "\r\nOK\r\n"
    );
    assert_eq!(
        h.cmd("AT+QMTCFG=\"will\",0"),
        "\r\n+QMTCFG: \"will\",0\r\n\r\nOK\r\n"
    );
}

#[test]
fn cmqtt_start_and_connect_need_the_network() {
    let (_m, mut h) = quiet_modem("a7600");
    assert_eq!(h.cmd("AT+CFUN=4"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CGACT?"), "\r\n+CGACT: 1,0\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CGACT=1,1"), "\r\nERROR\r\n");
    h.exchange(b"AT+CMQTTSTART\r", b"\r\nOK\r\n\r\n+CMQTTSTART: 7\r\n");
    assert_eq!(h.cmd("AT+CMQTTACCQ=0,\"x\""), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+CFUN=1"), "\r\nOK\r\n");
    // START brings the context up ("by activating PDP context").
    h.connect0("state-1");
    assert_eq!(h.cmd("AT+CGACT?"), "\r\n+CGACT: 1,1\r\n\r\nOK\r\n");
    // The network goes: the link is lost with cause 3, and a connect fails with 9.
    assert_eq!(h.cmd("AT+COPS=2"), "\r\nOK\r\n");
    h.expect(b"\r\n+CMQTTCONNLOST: 0,3\r\n");
    assert_eq!(
        h.cmd("AT+CMQTTCONNECT=0,\"tcp://broker.example.org:1883\",60,1"),
        "\r\nOK\r\n"
    );
    h.expect(b"\r\n+CMQTTCONNECT: 0,9\r\n");
    // Back on the network, the next connect brings the context up again.
    assert_eq!(h.cmd("AT+COPS=0"), "\r\nOK\r\n");
    assert_eq!(
        h.cmd("AT+CMQTTCONNECT=0,\"tcp://broker.example.org:1883\",60,1"),
        "\r\nOK\r\n"
    );
    h.expect(b"\r\n+CMQTTCONNECT: 0,0\r\n");
    // The host deactivates the context itself.
    assert_eq!(h.cmd("AT+CGACT=0,1"), "\r\nOK\r\n");
    h.expect(b"\r\n+CMQTTCONNLOST: 0,3\r\n");
    assert_eq!(h.cmd("AT+CGPADDR"), "\r\n+CGPADDR: 1,0.0.0.0\r\n\r\nOK\r\n");
}

#[test]
fn aliyun_bearer_follows_the_radio() {
    let (_m, mut h) = quiet_modem("sim7000-aliyun");
    assert_eq!(h.cmd("AT+CFUN=0"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CNACT=1,\"cmnet\""), "\r\nERROR\r\n");
    assert_eq!(h.cmd("AT+CFUN=1"), "\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CNACT=1,\"cmnet\""), "\r\nOK\r\n");
    h.expect(b"\r\n+APP PDP: ACTIVE\r\n");
    assert_eq!(h.cmd("AT+CFUN=4"), "\r\nOK\r\n");
    assert_eq!(
        h.cmd("AT+CNACT?"),
        "\r\n+CNACT: 0,\"0.0.0.0\"\r\n\r\nOK\r\n"
    );
}
