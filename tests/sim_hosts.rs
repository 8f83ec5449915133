//! Host names on the virtual modem's network: only loopback, `broker.example.org` and the
//! names the user maps resolve; any other name fails with the family's DNS error, any other
//! address with its connect error (CMQTT: seeds/003 §2.2.1 codes 25 and 3; QMT: the notes'
//! `+QMTOPEN` results 4 and 5). Every CMQTT and QMT profile.

mod sim_common;
use modemqtt::sim::{SimConfig, SimError, VirtualModem};
use sim_common::{broker_port, Host};

const CMQTT: [&str; 3] = ["a7600", "sim7600", "sim7028"];
const QMT: [&str; 4] = ["ec20", "ec25", "eg91", "bg96"];

fn modem(profile: &str, hosts: &[(&str, Option<&str>)]) -> VirtualModem {
    VirtualModem::start(SimConfig {
        profile: profile.to_owned(),
        hosts: hosts
            .iter()
            .map(|(n, t)| (n.to_string(), t.map(str::to_owned)))
            .collect(),
        ..SimConfig::default()
    })
    .expect("virtual modem starts")
}

fn closed_port() -> u16 {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    port
}

/// A modem whose network maps `broker.lab` to its broker and `closed.lab` to a closed
/// port, with its broker's port.
fn lab_modem(profile: &str) -> (VirtualModem, String) {
    let closed = format!("127.0.0.1:{}", closed_port());
    let m = modem(
        profile,
        &[("broker.lab", None), ("closed.lab", Some(&closed))],
    );
    let port = broker_port(&m).to_string();
    (m, port)
}

/// Connects CMQTT client 0 (acquired afresh) to `addr`; returns the connect result code.
fn cmqtt_connect(h: &mut Host, n: usize, addr: &str) -> u8 {
    assert_eq!(h.cmd(&format!("AT+CMQTTACCQ=0,\"hosts{n}\"")), "\r\nOK\r\n");
    h.send(format!("AT+CMQTTCONNECT=0,\"tcp://{addr}\",60,1\r").as_bytes());
    let got = h.read_until(b"+CMQTTCONNECT: 0,");
    let code = String::from_utf8_lossy(&h.read_until(b"\r\n"))
        .trim()
        .to_owned();
    if got.starts_with(b"\r\nOK\r\n") {
        assert_eq!(got, b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,");
    } else {
        // Failed at once: the result, then ERROR.
        assert_eq!(got, b"\r\n+CMQTTCONNECT: 0,");
        h.expect(b"\r\nERROR\r\n");
    }
    if code == "0" {
        assert_eq!(h.cmd("AT+CMQTTDISC=0,120"), "\r\nOK\r\n");
        h.expect(b"\r\n+CMQTTDISC: 0,0\r\n");
    }
    assert_eq!(h.cmd("AT+CMQTTREL=0"), "\r\nOK\r\n");
    code.parse().expect("numeric result")
}

#[test]
fn cmqtt_resolves_only_known_names() {
    for profile in CMQTT {
        let (m, port) = lab_modem(profile);
        let mut h = Host::open_quiet(m.port());
        h.cmqtt_start();
        let cases: &[(&str, u8)] = &[
            (&format!("127.0.0.1:{port}"), 0),
            (&format!("localhost:{port}"), 0),
            ("broker.example.org:1883", 0),
            ("BROKER.lab:8883", 0),
            // A typo of a mapped name fails as on a real network.
            ("broker.lan:1883", 25),
            ("test.mosquitto.org:1883", 25),
            ("closed.lab:1883", 3),
            ("192.168.43.128:1883", 3),
        ];
        for (n, (addr, want)) in cases.iter().enumerate() {
            assert_eq!(cmqtt_connect(&mut h, n, addr), *want, "{profile}: {addr}");
        }
    }
}

#[test]
fn a7600_fails_an_unreachable_address_at_once() {
    // Field trace a7670e_embeddedbroker20: `tcp://192.168.43.128:1883` answers
    // `+CMQTTCONNECT: 0,3` and `ERROR`, without an `OK` first.
    let m = modem("a7600", &[]);
    let mut h = Host::open_quiet(m.port());
    h.cmqtt_start();
    assert_eq!(h.cmd("AT+CMQTTACCQ=0,\"ip\""), "\r\nOK\r\n");
    assert_eq!(
        h.cmd("AT+CMQTTCONNECT=0,\"tcp://192.168.43.128:1883\",20,1"),
        "\r\n+CMQTTCONNECT: 0,3\r\n\r\nERROR\r\n"
    );
}

#[test]
fn qmt_resolves_only_known_names() {
    for profile in QMT {
        let (m, port) = lab_modem(profile);
        let mut h = Host::open_quiet(m.port());
        let cases: &[(&str, &str, u8)] = &[
            ("127.0.0.1", &port, 0),
            ("broker.example.org", "1883", 0),
            ("Broker.Lab", "8883", 0),
            ("broker.lan", "1883", 4),
            ("a1gfgsfcsg3p4-ats.iot.us-east-1.amazonaws.com", "8883", 4),
            ("closed.lab", "1883", 5),
            ("10.1.2.3", "1883", 5),
        ];
        for (host, port, want) in cases {
            assert_eq!(
                h.cmd(&format!("AT+QMTOPEN=0,\"{host}\",{port}")),
                "\r\nOK\r\n",
                "{profile}: {host}"
            );
            h.expect(format!("\r\n+QMTOPEN: 0,{want}\r\n").as_bytes());
            if *want == 0 {
                assert_eq!(h.cmd("AT+QMTCLOSE=0"), "\r\nOK\r\n");
                h.expect(b"\r\n+QMTCLOSE: 0,0\r\n");
            }
        }
    }
}

#[test]
fn a_bad_mapping_is_refused_with_the_argument_named() {
    let start = |name: &str, target: Option<&str>| {
        VirtualModem::start(SimConfig {
            hosts: vec![(name.to_owned(), target.map(str::to_owned))],
            ..SimConfig::default()
        })
    };
    for (name, target, words) in [
        ("", None, "hosts: name is empty"),
        ("tcp://broker.lab", None, "bare host name"),
        ("broker.lab:1883", None, "must not carry a port"),
        (
            "broker.lab",
            Some("127.0.0.1:99999"),
            "port from 1 to 65535",
        ),
    ] {
        match start(name, target) {
            Err(SimError::InvalidArgument(m)) => assert!(m.contains(words), "{m}"),
            Err(e) => panic!("{name:?}: unexpected error {e}"),
            Ok(_) => panic!("{name:?} -> {target:?} accepted"),
        }
    }
}
