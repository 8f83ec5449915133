//! Host side of the virtual-modem tests: opens the pty like a real host (with
//! the `serialport` crate) and reads with deadlines, so no test can hang.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use modemqtt::sim::{SimConfig, VirtualModem};

pub const DEADLINE: Duration = Duration::from_secs(15);

/// The final result `OK`, as [`Host::cmd`] returns it.
pub const OK: &str = "\r\nOK\r\n";
/// The final result `ERROR`, as [`Host::cmd`] returns it.
pub const ERROR: &str = "\r\nERROR\r\n";

pub fn modem(profile: &str) -> VirtualModem {
    VirtualModem::start(SimConfig {
        profile: profile.to_owned(),
        ..SimConfig::default()
    })
    .expect("virtual modem starts")
}

/// A virtual modem of `profile` and its pty opened with echo off ([`Host::open_quiet`]).
pub fn quiet_modem(profile: &str) -> (VirtualModem, Host) {
    let m = modem(profile);
    let h = Host::open_quiet(m.port());
    (m, h)
}

/// A virtual modem whose network also resolves `names` to its broker (the host names of
/// the manuals' examples).
pub fn modem_resolving(profile: &str, names: &[&str]) -> VirtualModem {
    VirtualModem::start(SimConfig {
        profile: profile.to_owned(),
        hosts: names.iter().map(|n| (n.to_string(), None)).collect(),
        ..SimConfig::default()
    })
    .expect("virtual modem starts")
}

/// The TCP port of the modem's embedded broker.
pub fn broker_port(m: &VirtualModem) -> u16 {
    m.broker_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("broker port")
}

pub struct Host {
    port: Box<dyn serialport::SerialPort>,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Host {
    pub fn open(path: &str) -> Host {
        let port = serialport::new(path, 115_200)
            .timeout(Duration::from_millis(50))
            .open()
            .expect("open the pty like a serial port");
        Host {
            port,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, data: &[u8]) {
        self.port.write_all(data).expect("write to the modem");
        self.port.flush().expect("flush");
    }

    fn fill(&mut self) -> bool {
        let mut b = [0u8; 8192];
        match self.port.read(&mut b) {
            Ok(n) => {
                self.buf.extend_from_slice(&b[..n]);
                n > 0
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => false,
            Err(e) => panic!("read from the modem: {e}"),
        }
    }

    /// Everything up to and including `pat`.
    pub fn read_until(&mut self, pat: &[u8]) -> Vec<u8> {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = find(&self.buf, pat) {
                let rest = self.buf.split_off(i + pat.len());
                return std::mem::replace(&mut self.buf, rest);
            }
            if Instant::now() > end {
                panic!(
                    "no {:?} within {DEADLINE:?}; got {:?}",
                    String::from_utf8_lossy(pat),
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.fill();
        }
    }

    /// Exactly `n` bytes.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let end = Instant::now() + DEADLINE;
        while self.buf.len() < n {
            if Instant::now() > end {
                panic!(
                    "only {} of {n} bytes within {DEADLINE:?}: {:?}",
                    self.buf.len(),
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.fill();
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Sends `data`, then reads exactly `expected` back ([`Host::send`], [`Host::expect`]).
    pub fn exchange(&mut self, data: &[u8], expected: &[u8]) {
        self.send(data);
        self.expect(expected);
    }

    /// Reads exactly `expected.len()` bytes and compares them.
    pub fn expect(&mut self, expected: &[u8]) {
        let got = self.read_n(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "unexpected bytes from the modem"
        );
    }

    /// Sends a command line (CR-terminated) and returns everything up to its
    /// final result (OK / ERROR / +CME ERROR line).
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r").as_bytes());
        self.final_result()
    }

    /// Sends each command of `dialogue` in turn ([`Host::cmd`]) and checks its whole
    /// answer; a mismatch names the command.
    pub fn answers(&mut self, dialogue: &[(&str, &str)]) {
        for (line, expected) in dialogue {
            assert_eq!(self.cmd(line), *expected, "the answer to {line}");
        }
    }

    pub fn final_result(&mut self) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = String::from_utf8_lossy(&self.buf).into_owned();
            for pat in ["\r\nOK\r\n", "\r\nERROR\r\n"] {
                if let Some(i) = s.find(pat) {
                    let cut = i + pat.len();
                    let rest = self.buf.split_off(cut);
                    let out = std::mem::replace(&mut self.buf, rest);
                    return String::from_utf8_lossy(&out).into_owned();
                }
            }
            if let Some(i) = s.find("\r\n+CME ERROR: ") {
                if let Some(j) = s[i + 2..].find("\r\n") {
                    let cut = i + 2 + j + 2;
                    let rest = self.buf.split_off(cut);
                    let out = std::mem::replace(&mut self.buf, rest);
                    return String::from_utf8_lossy(&out).into_owned();
                }
            }
            if Instant::now() > end {
                panic!("no final result within {DEADLINE:?}; got {s:?}");
            }
            self.fill();
        }
    }

    /// [`Host::open`], then [`Host::echo_off`].
    pub fn open_quiet(path: &str) -> Host {
        let mut h = Host::open(path);
        h.echo_off();
        h
    }

    /// Sends `ATE0` (echoed, since echo starts on) and drains its answer.
    pub fn echo_off(&mut self) {
        self.send(b"ATE0\r");
        self.read_until(b"ATE0\r\r\nOK\r\n");
    }

    /// Nothing pending right now (waits briefly for stragglers).
    pub fn pending(&mut self) -> Vec<u8> {
        for _ in 0..4 {
            self.fill();
        }
        std::mem::take(&mut self.buf)
    }

    /// A `>` prompt, then `data`, then OK.
    pub fn input(&mut self, cmd: &str, data: &[u8]) {
        self.exchange(format!("{cmd}\r").as_bytes(), b"\r\n>");
        self.exchange(data, b"\r\nOK\r\n");
    }

    /// `AT+CMQTTSTART` and its `OK` and `+CMQTTSTART: 0`, in either order: SIM7600
    /// firmware prints the result first (echo must be off).
    pub fn cmqtt_start(&mut self) {
        self.send(b"AT+CMQTTSTART\r");
        let got = self.read_until(b"+CMQTTSTART: 0\r\n");
        let got = if got.starts_with(b"\r\nOK\r\n") {
            got
        } else {
            let mut all = got;
            all.extend(self.read_until(b"\r\nOK\r\n"));
            all
        };
        assert!(
            got == b"\r\nOK\r\n\r\n+CMQTTSTART: 0\r\n"
                || got == b"\r\n+CMQTTSTART: 0\r\n\r\nOK\r\n",
            "unexpected AT+CMQTTSTART answer {:?}",
            String::from_utf8_lossy(&got)
        );
    }

    /// `AT+CMQTTCONNECT` of client `idx` to `server` (keepalive 60 s, clean session): `OK`,
    /// then `+CMQTTCONNECT: <idx>,<result>` (echo must be off).
    pub fn cmqtt_connect(&mut self, idx: u8, server: &str, result: u8) {
        self.send(format!("AT+CMQTTCONNECT={idx},\"{server}\",60,1\r").as_bytes());
        self.expect(format!("\r\nOK\r\n\r\n+CMQTTCONNECT: {idx},{result}\r\n").as_bytes());
    }

    /// START, then client 0 acquired as `client_id` (echo must be off).
    pub fn acquire0(&mut self, client_id: &str) {
        self.cmqtt_start();
        self.exchange(
            format!("AT+CMQTTACCQ=0,\"{client_id}\"\r").as_bytes(),
            b"\r\nOK\r\n",
        );
    }

    /// Brings client 0 up: START, ACCQ, CONNECT (echo must be off).
    pub fn connect0(&mut self, client_id: &str) {
        self.acquire0(client_id);
        self.cmqtt_connect(0, "tcp://broker.example.org:1883", 0);
    }
}
