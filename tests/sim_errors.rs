//! Wrong sequences and out-of-range parameters.

mod sim_common;
use modemqtt::broker::EmbeddedBroker;
use modemqtt::sim::{SimConfig, VirtualModem};
use sim_common::{quiet_modem, Host, ERROR, OK};

#[test]
fn sequence_errors() {
    let (_m, mut h) = quiet_modem("a7600");
    // before START, write/read forms fail; test forms work
    h.answers(&[("AT+CMQTTACCQ=0,\"x\"", ERROR), ("AT+CMQTTACCQ?", ERROR)]);
    assert!(h.cmd("AT+CMQTTREL=?").ends_with(OK));
    h.cmqtt_start();
    h.answers(&[
        ("AT+CMQTTSTART", "\r\n+CMQTTSTART: 23\r\n\r\nERROR\r\n"),
        // not acquired
        (
            "AT+CMQTTTOPIC=0,5",
            "\r\n+CMQTTTOPIC: 0,20\r\n\r\nERROR\r\n",
        ),
        ("AT+CMQTTACCQ=0,\"dev-1\"", OK),
        (
            "AT+CMQTTACCQ=0,\"dev-1\"",
            "\r\n+CMQTTACCQ: 0,19\r\n\r\nERROR\r\n",
        ),
        (
            "AT+CMQTTACCQ?",
            "\r\n+CMQTTACCQ: 0,\"dev-1\",0\r\n\r\n+CMQTTACCQ: 1,\"\",0\r\n\r\nOK\r\n",
        ),
        // index out of range, bad numbers
        ("AT+CMQTTACCQ=2,\"x\"", ERROR),
        ("AT+CMQTTACCQ=1,\"x\",2", ERROR),
    ]);
    // publish before connect
    h.input("AT+CMQTTTOPIC=0,5", b"a/b/c");
    h.input("AT+CMQTTPAYLOAD=0,2", b"hi");
    h.answers(&[
        ("AT+CMQTTPUB=0,1,60", "\r\n+CMQTTPUB: 0,11\r\n\r\nERROR\r\n"),
        ("AT+CMQTTPUB=0,1,30", ERROR),
        ("AT+CMQTTPUB=0,3,60", ERROR),
        // lengths out of range
        (
            "AT+CMQTTPAYLOAD=0,10241",
            "\r\n+CMQTTPAYLOAD: 0,22\r\n\r\nERROR\r\n",
        ),
        (
            "AT+CMQTTTOPIC=0,1025",
            "\r\n+CMQTTTOPIC: 0,22\r\n\r\nERROR\r\n",
        ),
        (
            "AT+CMQTTTOPIC=0,0",
            "\r\n+CMQTTTOPIC: 0,22\r\n\r\nERROR\r\n",
        ),
    ]);
    let long_id = "x".repeat(129);
    assert_eq!(
        h.cmd(&format!("AT+CMQTTACCQ=1,\"{long_id}\"")),
        "\r\n+CMQTTACCQ: 1,22\r\n\r\nERROR\r\n"
    );
    h.answers(&[
        // disconnect while not connected
        (
            "AT+CMQTTDISC=0,120",
            "\r\n+CMQTTDISC: 0,11\r\n\r\nERROR\r\n",
        ),
        (
            "AT+CMQTTDISC?",
            "\r\n+CMQTTDISC: 0,1\r\n\r\n+CMQTTDISC: 1,1\r\n\r\nOK\r\n",
        ),
        // CFG
        ("AT+CMQTTCFG=\"optimeout\",0,19", ERROR),
        ("AT+CMQTTCFG=\"optimeout\",0,24", OK),
        ("AT+CMQTTCFG=\"checkUTF8\",0,0", OK),
        (
            "AT+CMQTTCFG?",
            "\r\n+CMQTTCFG: 0,0,24\r\n\r\n+CMQTTCFG: 1,1,120\r\n\r\nOK\r\n",
        ),
        ("AT+CMQTTREL=0", OK),
        ("AT+CMQTTREL=0", "\r\n+CMQTTREL: 0,20\r\n\r\nERROR\r\n"),
    ]);
    h.exchange(b"AT+CMQTTSTOP\r", b"\r\nOK\r\n\r\n+CMQTTSTOP: 0\r\n");
    assert_eq!(h.cmd("AT+CMQTTSTOP"), ERROR);
}

#[test]
fn sim7028_has_one_client() {
    let (_m, mut h) = quiet_modem("sim7028");
    h.cmqtt_start();
    let acquire = format!("AT+CMQTTACCQ=0,\"{}\"", "y".repeat(256));
    h.answers(&[
        ("AT+CMQTTACCQ=1,\"x\"", ERROR),
        (&acquire, OK),
        ("AT+CMQTTTOPIC=1,3", ERROR),
        ("AT+CMQTTSSLCFG=0,2", ERROR),
        ("AT+CMQTTSSLCFG=0,1", OK),
    ]);
}

fn closed_port() -> u16 {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    port
}

#[test]
fn refused_connect_on_sim7600_is_reported_after_ok() {
    // No trace shows SIM7600 firmware failing a refused connect at once: the result comes
    // as the command's later report, as for every other connect failure.
    let (_m, mut h) = quiet_modem("sim7600");
    h.exchange(b"AT+CMQTTSTART\r", b"\r\n+CMQTTSTART: 0\r\n\r\nOK\r\n");
    assert_eq!(h.cmd("AT+CMQTTACCQ=0,\"cf\""), OK);
    let port = closed_port();
    h.send(format!("AT+CMQTTCONNECT=0,\"tcp://127.0.0.1:{port}\",60,1\r").as_bytes());
    h.expect(b"\r\nOK\r\n");
    h.expect(b"\r\n+CMQTTCONNECT: 0,3\r\n");
}

#[test]
fn connect_failures() {
    let (_m, mut h) = quiet_modem("a7600");
    h.acquire0("cf");
    // a closed port on loopback: the refused connect fails the command at once on A76xx
    // (field trace a7670e_embeddedbroker20: +CMQTTCONNECT: 0,3 then ERROR)
    let port = closed_port();
    assert_eq!(
        h.cmd(&format!(
            "AT+CMQTTCONNECT=0,\"tcp://127.0.0.1:{port}\",60,1"
        )),
        "\r\n+CMQTTCONNECT: 0,3\r\n\r\nERROR\r\n"
    );
    // DNS failure
    h.cmqtt_connect(0, "tcp://no-such-host.invalid:1883", 25);
    h.answers(&[
        // address must begin with tcp://
        ("AT+CMQTTCONNECT=0,\"http://example.com\",60,1", ERROR),
        ("AT+CMQTTCONNECT=0,\"tcp://broker.example.org\",0,1", ERROR),
        // SSL client without the certificate its authmode needs
        ("AT+CMQTTACCQ=1,\"ssl\",1", OK),
        ("AT+CSSLCFG=\"authmode\",1,1", OK),
        ("AT+CSSLCFG=\"cacert\",1,\"ca.pem\"", OK),
    ]);
    h.cmqtt_connect(1, "tcp://broker.example.org:8883", 33);
    h.input("AT+CCERTDOWN=\"ca.pem\",5", b"-----");
    assert_eq!(
        h.cmd("AT+CCERTLIST"),
        "\r\n+CCERTLIST: \"ca.pem\"\r\n\r\nOK\r\n"
    );
    // Uploaded, but no certificate inside: still "not set certificate" (the
    // TLS behaviour itself is tested in sim_tls.rs).
    h.cmqtt_connect(1, "tcp://broker.example.org:8883", 33);
    h.answers(&[
        ("AT+CCERTDELE=\"ca.pem\"", OK),
        ("AT+CCERTDELE=\"ca.pem\"", ERROR),
    ]);
}

#[test]
fn bad_credentials_give_30() {
    let broker = EmbeddedBroker::start_with_auth(&[("user", "secret")]).expect("broker");
    let m = VirtualModem::start(SimConfig {
        profile: "a7600".into(),
        broker_url: Some(broker.url()),
        part_size: Some(1024),
        ..SimConfig::default()
    })
    .expect("modem");
    let mut h = Host::open_quiet(m.port());
    h.acquire0("auth");
    h.send(b"AT+CMQTTCONNECT=0,\"tcp://broker.example.org:1883\",60,1,\"user\",\"wrong\"\r");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,30\r\n");
    h.send(b"AT+CMQTTCONNECT=0,\"tcp://broker.example.org:1883\",60,1,\"user\",\"secret\"\r");
    h.expect(b"\r\nOK\r\n\r\n+CMQTTCONNECT: 0,0\r\n");
    assert_eq!(
        h.cmd("AT+CMQTTCONNECT?"),
        "\r\n+CMQTTCONNECT: 0,\"tcp://broker.example.org:1883\",60,1,\"user\",\"secret\"\r\n\r\n+CMQTTCONNECT: 1\r\n\r\nOK\r\n"
    );
}

#[test]
fn cmee_modes() {
    let (_m, mut h) = quiet_modem("a7600");
    h.answers(&[
        ("AT+CFUN=9", ERROR),
        ("AT+CMEE=1", OK),
        ("AT+CFUN=9", "\r\n+CME ERROR: 50\r\n"),
        ("AT+CMEE=2", OK),
        ("AT+CFUN=9", "\r\n+CME ERROR: Incorrect parameters\r\n"),
        ("AT+CMEE?", "\r\n+CMEE: 2\r\n\r\nOK\r\n"),
        ("AT+CMQTTACCQ=0,\"x\"", ERROR),
    ]);
}

/// seeds/003_45f2c3f1bcce002c.txt §2.1.17: checkUTF8 "the default value is 1"; §2.1.7
/// "The will message should be UTF-encoded string", §2.1.11 "The publish message should
/// be UTF-encoded string"; result code 2 is "bad UTF-8 string" (§2.2.1), reported as
/// `+CMQTTxxx: <idx>,<err>` then `ERROR` (the commands' failure case b). §3.5 turns the
/// check off with `AT+CMQTTCFG="checkUTF8",0,0`, after which the same data passes.
#[test]
fn check_utf8_refuses_non_utf8_topics_payloads_and_wills_by_default() {
    let (_m, mut h) = quiet_modem("a7600");
    h.acquire0("u8");
    let bad: &[u8] = b"\xff\xfe";
    for (cmd, name) in [
        ("AT+CMQTTTOPIC=0,2", "TOPIC"),
        ("AT+CMQTTPAYLOAD=0,2", "PAYLOAD"),
        ("AT+CMQTTWILLTOPIC=0,2", "WILLTOPIC"),
        ("AT+CMQTTWILLMSG=0,2,1", "WILLMSG"),
    ] {
        h.exchange(format!("{cmd}\r").as_bytes(), b"\r\n>");
        h.send(bad);
        h.expect(format!("\r\n+CMQTT{name}: 0,2\r\n\r\nERROR\r\n").as_bytes());
    }
    assert_eq!(h.cmd("AT+CMQTTCFG=\"checkUTF8\",0,0"), OK);
    h.input("AT+CMQTTPAYLOAD=0,2", bad);
    h.input("AT+CMQTTWILLMSG=0,2,1", bad);
    // After AT+CMQTTREL the setting is cleared (§2.1.17): the default is back.
    h.answers(&[("AT+CMQTTREL=0", OK), ("AT+CMQTTACCQ=0,\"u8\"", OK)]);
    h.exchange(b"AT+CMQTTPAYLOAD=0,2\r", b"\r\n>");
    h.exchange(bad, b"\r\n+CMQTTPAYLOAD: 0,2\r\n\r\nERROR\r\n");
}

/// seeds/001_027f269829f52179.txt (SIM7028): §3.1's command list has no
/// AT+CMQTTSUBTOPIC; §3.2.15's `AT+CMQTTCFG=?` lists checkUTF8 and optimeout only; §1.4.4
/// "命令行缓冲区最多可以接受 559 个字符 ... 如果输入的字符超过此数量,则无该命令将被执行,
/// TA 将返回“ERROR”" — 559 characters after "AT" at most, else ERROR.
#[test]
fn sim7028_refuses_what_its_manual_lacks() {
    let (_m, mut h) = quiet_modem("sim7028");
    h.acquire0("s");
    h.answers(&[
        ("AT+CMQTTSUBTOPIC=0,9,1", ERROR),
        ("AT+CMQTTSUBTOPIC=?", ERROR),
        ("AT+CMQTTCFG=\"version\",0,4", ERROR),
    ]);
    // 559 characters after "AT" pass the line check (and fail on the length: 22), 560 do not.
    let at = |n: usize| {
        let head = "+CMQTTACCQ=0,\"";
        let id = "i".repeat(n - head.len() - 1);
        format!("AT{head}{id}\"")
    };
    assert_eq!(at(559).len(), 561);
    assert_eq!(h.cmd(&at(559)), "\r\n+CMQTTACCQ: 0,22\r\n\r\nERROR\r\n");
    assert_eq!(h.cmd(&at(560)), ERROR);
    // The A7600 takes both SUBTOPIC and the protocol version.
    let (_m, mut h) = quiet_modem("a7600");
    h.acquire0("s");
    assert_eq!(h.cmd("AT+CMQTTCFG=\"version\",0,4"), OK);
    assert!(h.cmd("AT+CMQTTSUBTOPIC=?").ends_with(OK));
}

/// seeds/004_5067d45f94b02b5c.txt §3.2.1: `+QMTCFG: "timeout",(0-5),(1-60),(1-10),(0,1)`
/// (retry times 1-10). BG96 publishes with AT+QMTPUB only (BG96 MQTT application note);
/// the EC2x modules also have AT+QMTPUBEX (LTE Standard MQTT application note V1.2).
#[test]
fn qmt_refuses_what_the_notes_do_not_have() {
    let (_m, mut h) = quiet_modem("ec20");
    h.answers(&[
        ("AT+QMTCFG=\"timeout\",0,5,0,0", ERROR),
        ("AT+QMTCFG=\"timeout\",0,5,1,0", OK),
        ("AT+QMTCFG=\"timeout\",0,5,11,0", ERROR),
    ]);
    assert!(h.cmd("AT+QMTPUBEX=?").ends_with(OK));
    let (_m, mut h) = quiet_modem("bg96");
    h.answers(&[
        ("AT+QMTPUBEX=?", ERROR),
        ("AT+QMTPUBEX=0,1,1,0,\"t\",2", ERROR),
    ]);
    assert!(h.cmd("AT+QMTPUB=?").ends_with(OK));
}
