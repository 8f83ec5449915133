//! The virtual modem survives junk from the host: lines that are not UTF-8 or start with a
//! multi-byte character (e.g. a binary payload sent after the modem rebooted and forgot the
//! command that asked for it) are ignored, as real modems ignore anything not starting
//! with AT, and the next command is answered.

mod sim_common;
use sim_common::quiet_modem;

#[test]
fn binary_junk_lines_are_ignored() {
    for profile in ["a7600", "ec20", "sim7600-aliyun"] {
        let (_m, mut h) = quiet_modem(profile);
        // U+20AC, U+FFFD-producing bytes, 0xFF, NUL, a lone high byte before "AT".
        h.send(b"\xe2\x82\xacAT\r\xff\xfe\x00junk\r\x80AT+CSQ\r\xc3\r");
        assert_eq!(h.cmd("AT"), "\r\nOK\r\n", "{profile}: no answer after junk");
    }
}

#[test]
fn junk_after_reboot_mid_payload_is_ignored() {
    let (m, mut h) = quiet_modem("a7600");
    h.acquire0("junk");
    h.exchange(b"AT+CMQTTPAYLOAD=0,8\r", b"\r\n>");
    m.reboot();
    h.read_until(b"RDY\r\n");
    // The payload arrives after the reboot: the new boot treats it as a (junk) line.
    h.send(b"\xff\xd8\xa9c\x00\xfe\r\n");
    h.echo_off();
    assert_eq!(h.cmd("AT"), "\r\nOK\r\n");
}

/// With a baud rate set, the modem's output never leaves faster than the line carries it
/// (10 bits a byte): 40 answers of `\r\nOK\r\n` at 9600 baud take at least 250 ms of line
/// time from the moment the pacing starts, however the sleeps in between fall.
#[test]
fn paced_output_never_beats_the_line() {
    let (m, mut h) = quiet_modem("a7600");
    let start = std::time::Instant::now();
    m.set_baudrate(Some(9600));
    for _ in 0..40 {
        assert_eq!(h.cmd("AT"), "\r\nOK\r\n");
    }
    let took = start.elapsed();
    m.set_baudrate(None);
    // Each answer is 6 bytes = 60 bit times at 9600 baud = 6.25 ms.
    let line_time = std::time::Duration::from_micros(40 * 6_250);
    assert!(
        took >= line_time,
        "40 paced answers took {took:?}, less than the line's {line_time:?}"
    );
}
