//! Binary payloads, multi-part receive blocks, empty payloads.

mod sim_common;
use sim_common::{modem, quiet_modem, Host};

/// Parses one `+CMQTTRX*` block for client 0 (its lines back to back, no blank line between
/// them, as the manual prints it); returns
/// (topic, payload, topic part sizes, payload part sizes).
fn read_rx(h: &mut Host) -> (Vec<u8>, Vec<u8>, Vec<usize>, Vec<usize>) {
    h.read_until(b"\r\n+CMQTTRXSTART: 0,");
    let head = h.read_until(b"\r\n");
    let head = String::from_utf8_lossy(&head[..head.len() - 2]).into_owned();
    let (tl, pl) = head.split_once(',').expect("two lengths");
    let (tl, pl): (usize, usize) = (tl.parse().expect("topic len"), pl.parse().expect("len"));
    let (topic, tparts) = read_parts(h, b"+CMQTTRXTOPIC: 0,", tl);
    let (payload, pparts) = read_parts(h, b"+CMQTTRXPAYLOAD: 0,", pl);
    h.expect(b"+CMQTTRXEND: 0\r\n");
    (topic, payload, tparts, pparts)
}

/// Reads `total` bytes sent in `prefix<n>` parts; returns them and the part sizes.
fn read_parts(h: &mut Host, prefix: &[u8], total: usize) -> (Vec<u8>, Vec<usize>) {
    let (mut data, mut parts) = (vec![], vec![]);
    while data.len() < total {
        h.expect(prefix);
        let n = h.read_until(b"\r\n");
        let n: usize = String::from_utf8_lossy(&n[..n.len() - 2])
            .parse()
            .expect("n");
        data.extend(h.read_n(n));
        h.expect(b"\r\n");
        parts.push(n);
    }
    (data, parts)
}

fn publish(h: &mut Host, topic: &[u8], payload: &[u8], qos: u8) {
    h.input(&format!("AT+CMQTTTOPIC=0,{}", topic.len()), topic);
    if !payload.is_empty() {
        h.input(&format!("AT+CMQTTPAYLOAD=0,{}", payload.len()), payload);
    }
    h.send(format!("AT+CMQTTPUB=0,{qos},60\r").as_bytes());
    h.expect(b"\r\nOK\r\n");
}

#[test]
fn binary_payload_10240_bytes_round_trip() {
    let (_m, mut h) = quiet_modem("a7600");
    h.acquire0("bin-roundtrip");
    // A binary payload needs the UTF-8 check off (seeds/003 §2.1.17, §3.5).
    assert_eq!(h.cmd("AT+CMQTTCFG=\"checkUTF8\",0,0"), "\r\nOK\r\n");
    h.cmqtt_connect(0, "tcp://broker.example.org:1883", 0);
    h.input("AT+CMQTTSUB=0,8,1", b"bin/echo");
    h.expect(b"\r\n+CMQTTSUB: 0,0\r\n");
    let payload: Vec<u8> = (0..10240).map(|i| (i % 256) as u8).collect();
    publish(&mut h, b"bin/echo", &payload, 2);
    // +CMQTTPUB and the RX block may come in either order.
    let (topic, got, _, parts) = read_rx(&mut h);
    assert_eq!(topic, b"bin/echo");
    assert_eq!(got, payload);
    assert_eq!(parts, vec![1024; 10]);
    // (the PUB result, wherever it was, must still be intact)
    let rest = h.pending();
    let all = String::from_utf8_lossy(&rest).into_owned();
    assert!(all.is_empty() || all == "\r\n+CMQTTPUB: 0,0\r\n", "{all:?}");
}

#[test]
fn multi_part_with_small_part_size_and_qos0() {
    let m = modem("sim7600");
    m.set_part_size(7);
    let mut h = Host::open_quiet(m.port());
    h.connect0("multi-part");
    let topic = b"parts/a-rather-long-topic";
    h.input(&format!("AT+CMQTTSUB=0,{},0", topic.len()), topic);
    h.expect(b"\r\n+CMQTTSUB: 0,0\r\n");
    let payload = b"OK\r\nERROR\r\n>\0 +CMQTTRXEND: 0\r\n";
    publish(&mut h, topic, payload, 0);
    h.expect(b"\r\n+CMQTTPUB: 0,0\r\n");
    let (t, p, tparts, pparts) = read_rx(&mut h);
    assert_eq!(t, topic);
    assert_eq!(p, payload);
    assert!(tparts.iter().all(|&n| n <= 7) && tparts.len() == topic.len().div_ceil(7));
    assert!(pparts.iter().all(|&n| n <= 7) && pparts.len() == payload.len().div_ceil(7));
}

#[test]
fn empty_payload_has_no_payload_part() {
    let (_m, mut h) = quiet_modem("a7600");
    h.connect0("empty-payload");
    h.input("AT+CMQTTSUB=0,5,1", b"empty");
    h.expect(b"\r\n+CMQTTSUB: 0,0\r\n");
    publish(&mut h, b"empty", b"", 1);
    let got = h.read_until(b"\r\n+CMQTTRXEND: 0\r\n");
    let s = String::from_utf8_lossy(&got).into_owned();
    assert!(
        s.ends_with(
            "\r\n+CMQTTRXSTART: 0,5,0\r\n+CMQTTRXTOPIC: 0,5\r\nempty\r\n+CMQTTRXEND: 0\r\n"
        ),
        "{s:?}"
    );
}

#[test]
fn echo_on_repeats_prompt_data() {
    let m = modem("a7600");
    let mut h = Host::open(m.port());
    h.send(b"AT+CMQTTSTART\r");
    h.expect(b"AT+CMQTTSTART\r\r\nOK\r\n\r\n+CMQTTSTART: 0\r\n");
    h.send(b"AT+CMQTTACCQ=0,\"echoer\"\r");
    h.expect(b"AT+CMQTTACCQ=0,\"echoer\"\r\r\nOK\r\n");
    h.exchange(b"AT+CMQTTTOPIC=0,3\r", b"AT+CMQTTTOPIC=0,3\r\r\n>");
    h.exchange(b"a/b", b"a/b\r\nOK\r\n");
}
