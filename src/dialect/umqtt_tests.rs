use super::*;
use crate::family::Family;

#[test]
fn read_header_takes_the_topic_by_its_length() {
    let h = b"+UMQTTC: 6,1,7,3,\"t/1\",4";
    assert_eq!(parse_read_header(h), Some((1, "t/1".to_string())));
    let h = b"+UMQTTC: 6,2,9,5,\"a,b/c\",4";
    assert_eq!(parse_read_header(h), Some((2, "a,b/c".to_string())));
    assert_eq!(parse_read_header(b"+UMQTTC: 6,x"), None);
    assert_eq!(parse_read_header(b"+UMQTTC: 7,1,1,1,\"a\",0"), None);
}

#[test]
fn md5_is_lower_case_hex() {
    assert_eq!(tls::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn router_delivers_counted_messages_and_reports_losses() {
    let c = ClientShared::new(0, 16);
    let (prefixes, handler) = urc_router(std::slice::from_ref(&c));
    assert!(prefixes.iter().any(|p| p == b"+UUMQTTC:"));
    let frame = Frame::Raw {
        header: b"+UMQTTC: 6,1,7,3,\"t/1\",4".to_vec(),
        data: b"a\r\nb".to_vec(),
    };
    handler(&frame);
    let m = c.try_next().expect("a message");
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("t/1", &b"a\r\nb"[..])
    );
    assert_eq!(m.qos, Some(1));
    c.reconnected();
    handler(&Frame::Line(b"+UUMQTTC: 0,101".to_vec()));
    assert!(!c.is_connected());
}

#[test]
fn every_limit_is_a_plain_sentence() {
    let caps = capabilities("sara-r5").expect("profile");
    assert_eq!(caps.payload_max, 1024);
    assert_eq!(caps.clients, 1);
    assert!(capabilities("sara-r4").is_none());
    assert_eq!(profile_for_model("SARA-R510M8S"), "sara-r5");
}

#[test]
fn read_answer_is_framed_by_its_length() {
    let mut rig = crate::fuzzing::Rig::new(Family::Umqtt);
    rig.feed(b"\r\n+UMQTTC: 6,1,7,3,\"t/1\",4,\"a\r\nb\"\r\n\r\nOK\r\n");
    let got = rig.take_received();
    assert_eq!(got.len(), 1, "{:?}", rig.outcomes);
    assert_eq!(got[0].payload, b"a\r\nb");
}
