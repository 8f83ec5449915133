//! SSL clients (`AT+CMQTTACCQ=<idx>,"<id>",1`) open real TLS links. The
//! embedded broker speaks plain MQTT, so every TLS link to it must fail the
//! handshake (32); successful handshakes against TLS brokers are tested in
//! tests/python/test_cmqtt_tls.py (mosquitto with generated certificates).

mod sim_common;
use sim_common::{quiet_modem, Host, OK};

fn started() -> (modemqtt::sim::VirtualModem, Host) {
    let (m, mut h) = quiet_modem("a7600");
    h.cmqtt_start();
    (m, h)
}

#[test]
fn tls_link_to_a_plain_broker_fails_the_handshake() {
    let (_m, mut h) = started();
    // authmode 0 needs no files: the connect gets as far as the handshake.
    h.answers(&[
        ("AT+CSSLCFG=\"authmode\",0,0", OK),
        ("AT+CMQTTACCQ=0,\"tls0\",1", OK),
        ("AT+CMQTTSSLCFG=0,0", OK),
    ]);
    h.cmqtt_connect(0, "tcp://broker.example.org:8883", 32);
    // "cleared after AT+CMQTTCONNECT failed"
    assert_eq!(
        h.cmd("AT+CMQTTSSLCFG?"),
        "\r\n+CMQTTSSLCFG: 0,\r\n\r\n+CMQTTSSLCFG: 1,\r\n\r\nOK\r\n"
    );
    // The same name as a TCP client reaches the broker.
    h.answers(&[("AT+CMQTTREL=0", OK), ("AT+CMQTTACCQ=0,\"tls0\",0", OK)]);
    h.cmqtt_connect(0, "tcp://broker.example.org:1883", 0);
}

#[test]
fn protocol_versions_older_than_tls12_fail_the_handshake() {
    let (_m, mut h) = started();
    for (v, expected) in [(0, 32), (1, 32), (2, 32)] {
        let version = format!("AT+CSSLCFG=\"sslversion\",1,{v}");
        h.answers(&[(&version, OK), ("AT+CMQTTACCQ=1,\"old\",1", OK)]);
        h.cmqtt_connect(1, "tcp://broker.example.org:8883", expected);
        assert_eq!(h.cmd("AT+CMQTTREL=1"), OK);
    }
    // TLS 1.2 alone is spoken: against the plain broker it is the handshake
    // that fails, after a real attempt.
    h.answers(&[
        ("AT+CSSLCFG=\"sslversion\",1,3", OK),
        ("AT+CMQTTACCQ=1,\"tls12\",1", OK),
    ]);
    h.cmqtt_connect(1, "tcp://broker.example.org:8883", 32);
}

#[test]
fn files_each_authmode_needs() {
    let (_m, mut h) = started();
    let ca = b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    h.input(&format!("AT+CCERTDOWN=\"ca.pem\",{}", ca.len()), ca);
    h.answers(&[
        ("AT+CSSLCFG=\"cacert\",0,\"ca.pem\"", OK),
        ("AT+CMQTTACCQ=0,\"files\",1", OK),
    ]);
    // authmode 2 without client certificate and key: not set
    assert_eq!(h.cmd("AT+CSSLCFG=\"authmode\",0,2"), OK);
    h.cmqtt_connect(0, "tcp://broker.example.org:8883", 33);
    // authmode 1: the CA file is there but holds no usable certificate
    assert_eq!(h.cmd("AT+CSSLCFG=\"authmode\",0,1"), OK);
    h.cmqtt_connect(0, "tcp://broker.example.org:8883", 33);
    // authmode 3 needs the client files only
    assert_eq!(h.cmd("AT+CSSLCFG=\"authmode\",0,3"), OK);
    h.cmqtt_connect(0, "tcp://broker.example.org:8883", 33);
    // authmode 0 needs nothing: the handshake is tried (and fails on the
    // plain broker)
    assert_eq!(h.cmd("AT+CSSLCFG=\"authmode\",0,0"), OK);
    h.cmqtt_connect(0, "tcp://broker.example.org:8883", 32);
}
