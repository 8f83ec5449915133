//! Fault injection: link drops with wills, port reopen, reboot, chunked
//! output, noise, refusals, delays.

mod sim_common;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use sim_common::{modem, quiet_modem, Host, DEADLINE, OK};

fn broker_addr(url: &str) -> (String, u16) {
    let rest = url.trim_start_matches("mqtt://");
    let (h, p) = rest.rsplit_once(':').expect("host:port");
    (h.to_owned(), p.parse().expect("port"))
}

#[test]
fn drop_link_reports_connlost_and_broker_sends_will() {
    let m = modem("a7600");
    let (host, port) = broker_addr(m.broker_url());
    // a second client watching the will topic
    let mut opts = MqttOptions::new("will-watcher", host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut conn) = Client::new(opts, 16);
    client
        .subscribe("faults/will", QoS::AtLeastOnce)
        .expect("subscribe");
    let end = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < end, "no SUBACK");
        if let Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) =
            conn.recv_timeout(Duration::from_millis(200))
        {
            break;
        }
    }

    let mut h = Host::open_quiet(m.port());
    h.cmqtt_start();
    h.exchange(b"AT+CMQTTACCQ=0,\"will-sender\"\r", b"\r\nOK\r\n");
    h.input("AT+CMQTTWILLTOPIC=0,11", b"faults/will");
    h.input("AT+CMQTTWILLMSG=0,4,1", b"gone");
    h.cmqtt_connect(0, "tcp://broker.example.org:1883", 0);
    assert_eq!(
        h.cmd("AT+CMQTTDISC?"),
        "\r\n+CMQTTDISC: 0,0\r\n\r\n+CMQTTDISC: 1,1\r\n\r\nOK\r\n"
    );

    assert!(m.drop_link(1, 1).is_err(), "client 1 has no link");
    m.drop_link(0, 2).expect("drop link");
    h.expect(b"\r\n+CMQTTCONNLOST: 0,2\r\n");
    assert_eq!(
        h.cmd("AT+CMQTTDISC?"),
        "\r\n+CMQTTDISC: 0,1\r\n\r\n+CMQTTDISC: 1,1\r\n\r\nOK\r\n"
    );

    let end = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < end, "no will message");
        if let Ok(Ok(Event::Incoming(Incoming::Publish(p)))) =
            conn.recv_timeout(Duration::from_millis(200))
        {
            assert_eq!(p.topic, "faults/will");
            assert_eq!(&p.payload[..], b"gone");
            break;
        }
    }
    // the client can connect again
    h.cmqtt_connect(0, "tcp://broker.example.org:1883", 0);
}

#[test]
fn host_closes_and_reopens_the_port() {
    let m = modem("a7600");
    {
        let mut h = Host::open_quiet(m.port());
        assert_eq!(h.cmd("AT"), OK);
    }
    for _ in 0..3 {
        let mut h = Host::open(m.port());
        h.answers(&[("AT", OK), ("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n")]);
    }
}

#[test]
fn reboot_resets_everything() {
    let (m, mut h) = quiet_modem("a7600");
    h.connect0("rebooter");
    m.reboot();
    h.expect(b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n");
    // echo is back on, the MQTT service is stopped
    h.exchange(b"AT+CMQTTACCQ?\r", b"AT+CMQTTACCQ?\r\r\nERROR\r\n");
    h.echo_off();
    h.connect0("rebooter");
    assert!(h.pending().is_empty());
}

#[test]
fn chunked_output_noise_refusal_and_delay() {
    let (m, mut h) = quiet_modem("a7600");
    m.set_chunk_size(Some(1));
    assert_eq!(h.cmd("ATI"), "\r\nManufacturer: SIMCOM INCORPORATED\r\n\r\nModel: A7600E-H\r\n\r\nRevision: A7600M7_V1.0.0.1\r\n\r\nIMEI: 861234050000017\r\n\r\n+GCAP: +CGSM,+FCLASS,+DS\r\n\r\nOK\r\n");
    m.set_chunk_size(Some(3));
    assert_eq!(h.cmd("AT+CGMI"), "\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n");
    m.set_chunk_size(None);

    m.inject_noise(b"\x00\xffgarbage");
    h.expect(b"\x00\xffgarbage");
    assert_eq!(h.cmd("AT"), OK);

    m.refuse(Some("AT+CSQ"), "+CME ERROR: 10");
    assert_eq!(h.cmd("AT+CSQ"), "\r\n+CME ERROR: 10\r\n");
    assert_eq!(h.cmd("AT"), OK);
    m.refuse(None, "");
    assert_eq!(h.cmd("AT+CSQ"), "\r\n+CSQ: 23,0\r\n\r\nOK\r\n");

    m.set_response_delay(Duration::from_millis(50));
    assert_eq!(h.cmd("AT"), OK);
    m.set_response_delay(Duration::ZERO);

    m.close();
    m.close();
    assert!(m.drop_link(0, 1).is_err());
}

#[test]
fn many_idle_modems() {
    let modems: Vec<_> = (0..64).map(|_| modem("a7600")).collect();
    let mut h = Host::open(modems[63].port());
    assert_eq!(h.cmd("AT"), "AT\r\r\nOK\r\n");
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    assert_send_sync(&modems[0]);
}
