use super::*;

/// The opening requests of a new client.
const OPENING: &[u8] = &[
    IAC,
    WILL,
    OPT_COM_PORT,
    IAC,
    WILL,
    OPT_BINARY,
    IAC,
    DO,
    OPT_BINARY,
    IAC,
    WILL,
    OPT_SGA,
    IAC,
    DO,
    OPT_SGA,
];

fn feed(c: &mut Client, input: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    c.handle_input(input, &mut data);
    data
}

fn sub(code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![IAC, SB, OPT_COM_PORT, code];
    for &b in value {
        v.push(b);
        if b == IAC {
            v.push(IAC);
        }
    }
    v.extend_from_slice(&[IAC, SE]);
    v
}

/// SET-BAUDRATE, SET-DATASIZE, SET-PARITY, SET-STOPSIZE, then one SET-CONTROL per value of
/// `control`: codes 1-5 from the client, 101-105 in the server's answers (`base` 0 or 100).
fn line_subs(base: u8, baud: u32, [data, parity, stop]: [u8; 3], control: &[u8]) -> Vec<u8> {
    let mut v = sub(base + 1, &baud.to_be_bytes());
    for (code, value) in [(2, data), (3, parity), (4, stop)] {
        v.extend(sub(base + code, &[value]));
    }
    for &c in control {
        v.extend(sub(base + 5, &[c]));
    }
    v
}

/// A client whose server agreed to everything and acknowledged every setting.
fn active() -> Client {
    let mut c = Client::new(LineSettings::default());
    c.take_transmit();
    let mut agree = Vec::new();
    for (verb, opt) in [
        (DO, OPT_COM_PORT),
        (DO, OPT_BINARY),
        (WILL, OPT_BINARY),
        (DO, OPT_SGA),
        (WILL, OPT_SGA),
    ] {
        agree.extend_from_slice(&[IAC, verb, opt]);
    }
    assert!(feed(&mut c, &agree).is_empty());
    c.take_transmit();
    let acks = line_subs(100, 115_200, [8, 1, 1], &[1, 8, 11]);
    assert!(feed(&mut c, &acks).is_empty());
    assert!(c.pending().is_empty());
    c
}

#[test]
fn opening_asks_for_com_port_binary_and_sga() {
    let mut c = Client::new(LineSettings::default());
    assert_eq!(c.take_transmit(), OPENING);
    assert_eq!(c.com_port(), ComPort::Pending);
    assert!(!c.wants_transmit());
}

#[test]
fn agreement_sends_the_line_settings() {
    let mut c = Client::new(LineSettings {
        baudrate: 9600,
        data_bits: 7,
        parity: Parity::Even,
        stop_bits: StopBits::Two,
        flow_control: FlowControl::Hardware,
        dtr: false,
        rts: true,
    });
    c.take_transmit();
    feed(&mut c, &[IAC, DO, OPT_COM_PORT]);
    assert_eq!(c.com_port(), ComPort::Active);
    let want = line_subs(0, 9600, [7, 3, 2], &[3, 9, 11]);
    assert_eq!(c.take_transmit(), want);
    assert_eq!(
        c.pending(),
        &[
            Setting::Baudrate,
            Setting::DataSize,
            Setting::Parity,
            Setting::StopSize,
            Setting::FlowControl,
            Setting::Dtr,
            Setting::Rts
        ]
    );
    assert!(!c.line_settings_acknowledged());
}

#[test]
fn acknowledgements_clear_pending_and_record_values() {
    let c = active();
    assert!(c.line_settings_acknowledged());
    let s = c.server();
    assert_eq!(s.baudrate, Some(115_200));
    assert_eq!(s.data_bits, Some(8));
    assert_eq!(s.parity, Some(1));
    assert_eq!(s.stop_bits, Some(1));
    assert_eq!(s.flow_control, Some(1));
    assert_eq!(s.dtr, Some(true));
    assert_eq!(s.rts, Some(true));
    assert!(c.binary_in() && c.binary_out());
}

#[test]
fn missing_control_acks_leave_line_settings_acknowledged() {
    // ser2net on a pty answers the line settings but not DTR/RTS.
    let mut c = Client::new(LineSettings::default());
    c.take_transmit();
    feed(&mut c, &[IAC, DO, OPT_COM_PORT]);
    let acks = line_subs(100, 115_200, [8, 1, 1], &[]);
    feed(&mut c, &acks);
    assert!(c.line_settings_acknowledged());
    assert_eq!(
        c.pending(),
        &[Setting::FlowControl, Setting::Dtr, Setting::Rts]
    );
}

#[test]
fn baudrate_with_ff_byte_is_escaped_both_ways() {
    // 0x0001C2FF contains 0xFF: it must be doubled inside the subnegotiation.
    let baud = 0x0001_C2FF;
    let mut c = Client::new(LineSettings {
        baudrate: baud,
        ..LineSettings::default()
    });
    c.take_transmit();
    feed(&mut c, &[IAC, DO, OPT_COM_PORT]);
    let tx = c.take_transmit();
    assert!(tx.starts_with(&[
        IAC,
        SB,
        OPT_COM_PORT,
        1,
        0x00,
        0x01,
        0xC2,
        IAC,
        IAC,
        IAC,
        SE
    ]));
    feed(&mut c, &sub(101, &baud.to_be_bytes()));
    assert_eq!(c.server().baudrate, Some(baud));
}

#[test]
fn refusal_of_com_port() {
    let mut c = Client::new(LineSettings::default());
    c.take_transmit();
    feed(&mut c, &[IAC, DONT, OPT_COM_PORT]);
    assert_eq!(c.com_port(), ComPort::Refused);
    // An answer to our own request needs no reply.
    assert!(!c.wants_transmit());
}

#[test]
fn withdrawal_of_com_port_is_answered() {
    let mut c = active();
    feed(&mut c, &[IAC, DONT, OPT_COM_PORT]);
    assert_eq!(c.com_port(), ComPort::Refused);
    assert_eq!(c.take_transmit(), [IAC, WONT, OPT_COM_PORT]);
}

#[test]
fn unknown_options_are_refused_known_ones_accepted() {
    let mut c = active();
    // Terminal type (24): DO -> WONT; WILL ECHO -> DONT; WILL 24 -> DONT.
    feed(&mut c, &[IAC, DO, 24, IAC, WILL, OPT_ECHO, IAC, WILL, 24]);
    assert_eq!(
        c.take_transmit(),
        [IAC, WONT, 24, IAC, DONT, OPT_ECHO, IAC, DONT, 24]
    );
    // Repeated agreement to an enabled option: no reply (no negotiation loop).
    feed(&mut c, &[IAC, DO, OPT_BINARY, IAC, WILL, OPT_SGA]);
    assert!(!c.wants_transmit());
}

#[test]
fn server_initiated_binary_is_accepted_once() {
    let mut c = Client::new(LineSettings::default());
    c.take_transmit();
    // The server refuses our BINARY request, then offers it itself.
    feed(&mut c, &[IAC, WONT, OPT_BINARY]);
    assert!(!c.binary_in());
    assert!(!c.wants_transmit());
    feed(&mut c, &[IAC, WILL, OPT_BINARY]);
    assert!(c.binary_in());
    assert_eq!(c.take_transmit(), [IAC, DO, OPT_BINARY]);
    // Then withdraws it: acknowledged with DONT.
    feed(&mut c, &[IAC, WONT, OPT_BINARY]);
    assert!(!c.binary_in());
    assert_eq!(c.take_transmit(), [IAC, DONT, OPT_BINARY]);
}

#[test]
fn ff_in_payload_is_unescaped() {
    let mut c = active();
    let data = feed(
        &mut c,
        &[b'A', IAC, IAC, b'B', IAC, IAC, IAC, IAC, 0, b'\r', 0],
    );
    assert_eq!(data, [b'A', 0xFF, b'B', 0xFF, 0xFF, 0, b'\r', 0]);
}

#[test]
fn ff_in_payload_is_escaped() {
    let c = active();
    let mut out = Vec::new();
    c.encode_data(&[1, 0xFF, 2, 0xFF, 0xFF, b'\r'], &mut out);
    assert_eq!(out, [1, IAC, IAC, 2, IAC, IAC, IAC, IAC, b'\r']);
}

#[test]
fn every_byte_value_survives_a_round_trip() {
    let payload: Vec<u8> = (0..=255u8).cycle().take(2048).collect();
    let sender = active();
    let mut wire = Vec::new();
    sender.encode_data(&payload, &mut wire);
    let mut receiver = active();
    assert_eq!(feed(&mut receiver, &wire), payload);
}

#[test]
fn split_iac_sequences_give_the_same_result() {
    // Data with escaped 0xFF, a negotiation, a notification and an acknowledgement,
    // fed in every two-piece split and byte by byte.
    let mut stream = vec![b'x', IAC, IAC, b'y'];
    stream.extend_from_slice(&[IAC, WILL, OPT_ECHO]);
    stream.extend(sub(107, &[0xB0]));
    stream.extend(sub(101, &[0, 0, 0x25, 0x80]));
    stream.extend_from_slice(&[IAC, IAC, b'\r', b'\n']);
    stream.extend_from_slice(&[IAC, 241]); // NOP
    stream.push(b'z');
    let whole = {
        let mut c = active();
        let d = feed(&mut c, &stream);
        (d, c.take_transmit(), c.server().clone())
    };
    assert_eq!(whole.0, [b'x', 0xFF, b'y', 0xFF, b'\r', b'\n', b'z']);
    assert_eq!(whole.1, [IAC, DONT, OPT_ECHO]);
    assert_eq!(whole.2.modem_state, Some(0xB0));
    assert_eq!(whole.2.baudrate, Some(9600));
    for cut in 0..=stream.len() {
        let mut c = active();
        let mut d = feed(&mut c, &stream[..cut]);
        d.extend(feed(&mut c, &stream[cut..]));
        assert_eq!(d, whole.0, "split at {cut}");
        assert_eq!(c.take_transmit(), whole.1, "split at {cut}");
        assert_eq!(c.server(), &whole.2, "split at {cut}");
    }
    let mut c = active();
    let mut d = Vec::new();
    for b in &stream {
        d.extend(feed(&mut c, std::slice::from_ref(b)));
    }
    assert_eq!(d, whole.0);
    assert_eq!(c.server(), &whole.2);
}

#[test]
fn notifications_and_flow_control() {
    let mut c = active();
    feed(&mut c, &sub(106, &[0x60]));
    assert_eq!(c.server().line_state, Some(0x60));
    feed(&mut c, &sub(108, &[]));
    assert!(c.is_suspended());
    feed(&mut c, &sub(109, &[]));
    assert!(!c.is_suspended());
}

#[test]
fn signature_request_is_answered_and_signature_recorded() {
    let mut c = active();
    feed(&mut c, &sub(100, &[]));
    assert_eq!(c.take_transmit(), sub(0, SIGNATURE));
    feed(&mut c, &sub(100, b"ser2net 4.3"));
    assert_eq!(c.server().signature.as_deref(), Some("ser2net 4.3"));
}

#[test]
fn broken_subnegotiation_is_dropped_and_data_continues() {
    let mut c = active();
    // IAC DO inside a subnegotiation: the SB is dropped, the DO is honoured.
    let data = feed(
        &mut c,
        &[IAC, SB, OPT_COM_PORT, 107, 0x10, IAC, DO, 24, b'k'],
    );
    assert_eq!(data, b"k");
    assert_eq!(c.server().modem_state, None);
    assert_eq!(c.take_transmit(), [IAC, WONT, 24]);
}

#[test]
fn overlong_subnegotiation_is_discarded() {
    let mut c = active();
    let long = vec![b'a'; MAX_SUBNEGOTIATION + 10];
    let data = feed(&mut c, &sub(100, &long));
    assert!(data.is_empty());
    assert_eq!(c.server().signature, None);
    assert_eq!(feed(&mut c, b"ok"), b"ok");
}

#[test]
fn nvt_rules_without_binary() {
    let mut c = Client::new(LineSettings::default());
    c.take_transmit();
    feed(&mut c, &[IAC, WONT, OPT_BINARY, IAC, DONT, OPT_BINARY]);
    assert!(!c.binary_in() && !c.binary_out());
    let mut out = Vec::new();
    c.encode_data(b"AT\rX\r\n\r", &mut out);
    assert_eq!(out, b"AT\r\0X\r\n\r\0");
    // CR NUL from the server is a bare CR, split or not.
    let mut d = feed(&mut c, b"OK\r");
    d.extend(feed(&mut c, b"\0\r\n"));
    assert_eq!(d, b"OK\r\r\n");
}

#[test]
fn subcommands_for_other_options_are_ignored() {
    let mut c = active();
    let data = feed(&mut c, &[IAC, SB, 24, 1, IAC, SE, b'z']);
    assert_eq!(data, b"z");
    assert!(!c.wants_transmit());
}
