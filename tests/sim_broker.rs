//! The embedded broker with plain rumqttc clients: retained messages,
//! QoS 1 and 2, wills.

use std::time::{Duration, Instant};

use modemqtt::broker::EmbeddedBroker;
use rumqttc::{Client, Connection, Event, Incoming, LastWill, MqttOptions, Publish, QoS};

const DEADLINE: Duration = Duration::from_secs(15);

fn client(b: &EmbeddedBroker, id: &str, will: Option<LastWill>) -> (Client, Connection) {
    let mut o = MqttOptions::new(id, "127.0.0.1", b.port());
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(1 << 20, 1 << 20);
    if let Some(w) = will {
        o.set_last_will(w);
    }
    let (c, mut conn) = Client::new(o, 64);
    wait(&mut conn, |e| matches!(e, Incoming::ConnAck(_)));
    (c, conn)
}

fn wait(conn: &mut Connection, mut f: impl FnMut(&Incoming) -> bool) -> Incoming {
    let end = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < end, "deadline passed");
        match conn.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(Event::Incoming(i))) if f(&i) => return i,
            Ok(Err(e)) => panic!("connection error: {e}"),
            _ => {}
        }
    }
}

fn publish_of(i: Incoming) -> Publish {
    match i {
        Incoming::Publish(p) => p,
        other => panic!("not a publish: {other:?}"),
    }
}

#[test]
fn shared_is_one_broker_and_url_has_port() {
    let a = EmbeddedBroker::shared().expect("broker");
    let b = EmbeddedBroker::shared().expect("broker");
    assert_eq!(a.port(), b.port());
    assert_eq!(a.url(), format!("mqtt://127.0.0.1:{}", a.port()));
}

#[test]
fn retained_qos1_qos2_and_big_payloads() {
    let b = EmbeddedBroker::start().expect("broker");
    let (pubc, mut pubconn) = client(&b, "pub", None);
    pubc.publish("r/t", QoS::AtLeastOnce, true, b"kept".to_vec())
        .expect("publish");
    wait(&mut pubconn, |i| matches!(i, Incoming::PubAck(_)));

    let (subc, mut subconn) = client(&b, "sub", None);
    subc.subscribe("r/#", QoS::ExactlyOnce).expect("subscribe");
    let p = publish_of(wait(&mut subconn, |i| matches!(i, Incoming::Publish(_))));
    assert_eq!(&p.payload[..], b"kept");
    assert!(p.retain);

    let big: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    pubc.publish("r/q2", QoS::ExactlyOnce, false, big.clone())
        .expect("publish");
    let end = Instant::now() + DEADLINE;
    let mut got = None;
    let mut comp = false;
    while got.is_none() || !comp {
        assert!(Instant::now() < end, "deadline passed");
        if let Ok(Ok(Event::Incoming(Incoming::PubComp(_)))) =
            pubconn.recv_timeout(Duration::from_millis(20))
        {
            comp = true;
        }
        if let Ok(Ok(Event::Incoming(Incoming::Publish(p)))) =
            subconn.recv_timeout(Duration::from_millis(20))
        {
            got = Some(p);
        }
    }
    let p = got.expect("message");
    assert_eq!(p.qos, QoS::ExactlyOnce);
    assert_eq!(&p.payload[..], &big[..]);
}

#[test]
fn will_is_sent_when_a_client_vanishes() {
    let b = EmbeddedBroker::start().expect("broker");
    let (watch, mut watchconn) = client(&b, "watch", None);
    watch.subscribe("w/#", QoS::AtLeastOnce).expect("subscribe");
    wait(&mut watchconn, |i| matches!(i, Incoming::SubAck(_)));
    let will = LastWill::new("w/dead", b"bye".to_vec(), QoS::AtLeastOnce, false);
    let (c, conn) = client(&b, "mortal", Some(will));
    drop(conn); // socket closed without DISCONNECT
    drop(c);
    let p = publish_of(wait(&mut watchconn, |i| matches!(i, Incoming::Publish(_))));
    assert_eq!(p.topic, "w/dead");
    assert_eq!(&p.payload[..], b"bye");
}
