//! What differs between the imitated modems: identity strings and the ranges
//! that their test commands (`AT+CMQTTxxx=?`) announce.

/// The MQTT command set a profile answers.
pub(crate) use crate::family::Family;

pub(crate) struct Profile {
    pub name: &'static str,
    pub family: Family,
    pub manufacturer: &'static str,
    pub model: &'static str,
    pub revision: &'static str,
    pub imei: &'static str,
    pub imsi: &'static str,
    pub iccid: &'static str,
    /// Number of MQTT clients (indices 0..clients).
    pub clients: u8,
    /// Client id length range of AT+CMQTTACCQ.
    pub client_id_max: usize,
    /// Server address length range of AT+CMQTTCONNECT.
    pub server_addr_len: (usize, usize),
    /// Highest SSL context index (AT+CSSLCFG / AT+CMQTTSSLCFG).
    pub ssl_ctx_max: u8,
    /// Highest payload AT+CMQTTPAYLOAD accepts.
    pub payload_max: usize,
    /// Access technology reported by AT+COPS? (7 = E-UTRAN, 9 = NB-IoT).
    pub act: u8,
    /// Lines sent after power-up (and after `VirtualModem::reboot`).
    pub boot_urcs: &'static [&'static str],
}

/// Topic lengths (publish, will, subscribe, unsubscribe) are 1-1024 on all.
pub(crate) const TOPIC_MAX: usize = 1024;
/// Will message length range is 1-1024 on all.
pub(crate) const WILL_MAX: usize = 1024;

pub(crate) static A7600: Profile = Profile {
    name: "a7600",
    family: Family::Cmqtt,
    manufacturer: "SIMCOM INCORPORATED",
    model: "A7600E-H",
    revision: "A7600M7_V1.0.0.1",
    imei: "861234050000017",
    imsi: "460001234567890",
    iccid: "89860012345678901234",
    clients: 2,
    client_id_max: 128,
    server_addr_len: (9, 256),
    ssl_ctx_max: 9,
    payload_max: 10240,
    act: 7,
    // A7600 boot sequence as seen on the UART after power-up.
    boot_urcs: &["RDY", "+CPIN: READY", "SMS DONE", "PB DONE"],
};

pub(crate) static SIM7600: Profile = Profile {
    name: "sim7600",
    model: "SIMCOM_SIM7600E-H",
    revision: "SIM7600M22_V2.0",
    imei: "867584030000025",
    imsi: "460001234567891",
    iccid: "89860012345678901235",
    // The A7600's maker, command set, ranges and boot lines.
    ..A7600
};

/// SIM7028 (NB-IoT): one client (index 0), client id 1-256 bytes, server
/// address 1-128 bytes, SSL contexts 0-1 (SIM7028 MQTT(S) application note
/// V1.03, sections 3.2.3, 3.2.5 and 3.2.8).
pub(crate) static SIM7028: Profile = Profile {
    name: "sim7028",
    family: Family::Cmqtt,
    manufacturer: "SIMCOM INCORPORATED",
    model: "SIM7028",
    revision: "2110B05SIM7028",
    imei: "866123060000033",
    imsi: "460041234567892",
    iccid: "89860412345678901236",
    clients: 1,
    client_id_max: 256,
    server_addr_len: (1, 128),
    ssl_ctx_max: 1,
    payload_max: 10240,
    act: 9,
    // The NB-IoT module has no SMS/phonebook init messages.
    boot_urcs: &["RDY", "+CPIN: READY"],
};

/// Quectel boot sequence on the UART (LTE Standard modules).
const QUECTEL_BOOT: &[&str] = &[
    "RDY",
    "+CFUN: 1",
    "+CPIN: READY",
    "+QUSIM: 1",
    "+QIND: SMS DONE",
    "+QIND: PB DONE",
];

/// Quectel EC2x / EG9x / BG96 (`AT+QMT*`): six clients (0-5), host names up to 100
/// bytes, SSL contexts 0-5, payloads up to 4096 bytes (see src/dialect/qmt.rs).
const fn quectel(
    name: &'static str,
    model: &'static str,
    revision: &'static str,
    imei: &'static str,
    act: u8,
    boot_urcs: &'static [&'static str],
) -> Profile {
    Profile {
        name,
        family: Family::Qmt,
        manufacturer: "Quectel",
        model,
        revision,
        imei,
        imsi: "460001234567893",
        iccid: "89860012345678901237",
        clients: 6,
        client_id_max: 128,
        server_addr_len: (1, 100),
        ssl_ctx_max: 5,
        payload_max: 4096,
        act,
        boot_urcs,
    }
}

pub(crate) static EC20: Profile = quectel(
    "ec20",
    "EC20F",
    "EC20CEFAGR06A05M4G",
    "861234040000041",
    7,
    QUECTEL_BOOT,
);
pub(crate) static EC25: Profile = quectel(
    "ec25",
    "EC25",
    "EC25EFAR06A06M4G",
    "861234040000058",
    7,
    QUECTEL_BOOT,
);
pub(crate) static EG91: Profile = quectel(
    "eg91",
    "EG91",
    "EG91EXGAR08A04M1G",
    "861234040000066",
    7,
    QUECTEL_BOOT,
);
/// BG96 (LTE-M / NB-IoT): the publish command is `AT+QMTPUB` with a length.
pub(crate) static BG96: Profile = quectel(
    "bg96",
    "BG96",
    "BG96MAR02A07M1G",
    "866425030000074",
    8,
    &[
        "RDY",
        "+CFUN: 1",
        "+CPIN: READY",
        "+QIND: SMS DONE",
        "APP RDY",
    ],
);

/// The SIMCom `AT+CMQTT*` modems.
pub(crate) static CMQTT: [&Profile; 3] = [&A7600, &SIM7600, &SIM7028];

/// The Quectel `AT+QMT*` modems.
pub(crate) static QMT: [&Profile; 4] = [&EC20, &EC25, &EG91, &BG96];

impl Profile {
    /// Whether the profile has `AT+CMQTTSUBTOPIC`: SIM7028's command list (seeds/001
    /// §3.1) has `AT+CMQTTUNSUBTOPIC` but no `AT+CMQTTSUBTOPIC`.
    pub fn has_subtopic(&self) -> bool {
        self.name != "sim7028"
    }

    /// Whether `AT+CMQTTCFG="version"` is taken: A76xx / SIM7600 firmware takes it
    /// (open-source drivers send it, e.g. TinyGSM's TinyGsmMqttA76xx.h); SIM7028's
    /// `AT+CMQTTCFG=?` (seeds/001 §3.2.15) lists only checkUTF8 and optimeout.
    pub fn has_cfg_version(&self) -> bool {
        self.name != "sim7028"
    }

    /// The largest `+CMQTTRXTOPIC` / `+CMQTTRXPAYLOAD` part: SIM7600 firmware splits a
    /// received payload in 1500-byte parts (field trace sim7600_lilygot76xx_rx_1500_parts);
    /// 1024 elsewhere is a guess (docs/fidelity.md).
    pub fn rx_part_size(&self) -> usize {
        if self.name == "sim7600" {
            1500
        } else {
            1024
        }
    }

    /// Whether `AT+CMQTTSTART` prints `+CMQTTSTART: 0` before its `OK`: SIM7600G firmware
    /// does (field traces sim7600g_tsim7600x100, sim7600gh_tsim7600x49); A76xx prints it
    /// after (seeds/003 §3.2.1 example, field trace a7670e_embeddedbroker20).
    pub fn start_result_before_ok(&self) -> bool {
        self.name == "sim7600"
    }

    /// Whether `AT+CMQTTREL` of a client that was never acquired answers a plain `OK`:
    /// SIM7600G firmware does (field trace sim7600g_tsim7600x100); A7670 answers
    /// `+CMQTTREL: <idx>,20` then `ERROR` (field trace a7670_lilygo197).
    pub fn rel_of_free_client_is_ok(&self) -> bool {
        self.name == "sim7600"
    }

    /// Whether a failed `AT+CMQTTSTOP` answers `+CMQTTSTOP: <err>` then `ERROR` (SIM7028,
    /// seeds/001 §3.2.2) rather than `OK` then `+CMQTTSTOP: <err>` (seeds/003 §2.1.2).
    pub fn stop_failure_then_error(&self) -> bool {
        self.name == "sim7028"
    }

    /// Whether a TCP connect the server refuses fails `AT+CMQTTCONNECT` at once
    /// (`+CMQTTCONNECT: <idx>,3` then `ERROR`) instead of `OK` and a later result: A7670E
    /// firmware does (field trace a7670e_embeddedbroker20); other profiles: not known.
    pub fn refused_connect_fails_at_once(&self) -> bool {
        self.name == "a7600"
    }

    /// The longest command line executed, counted without the `AT` prefix: SIM7028
    /// "命令行缓冲区最多可以接受 559 个字符" (seeds/001 §1.4.4), longer lines answer
    /// `ERROR`. `None`: only the line buffer limits.
    pub fn line_max(&self) -> Option<usize> {
        (self.name == "sim7028").then_some(559)
    }

    /// "(0-1)" or "(0-0)".
    pub fn idx_range(&self) -> String {
        format!("(0-{})", self.clients.saturating_sub(1))
    }

    /// The test-command line of a CMQTT command (without the prefix).
    pub fn test_line(&self, cmd: &str) -> Option<String> {
        let i = self.idx_range();
        let one = self.clients == 1;
        Some(match cmd {
            "ACCQ" => format!("{i},(1-{})[,(0-1)]", self.client_id_max),
            "REL" => i,
            "SSLCFG" => {
                if one {
                    format!("(0,0),(0-{})", self.ssl_ctx_max)
                } else {
                    format!("(0,1),(0-{})", self.ssl_ctx_max)
                }
            }
            "WILLTOPIC" => format!("{i},(1-{TOPIC_MAX})"),
            "WILLMSG" => format!("{i},(1-{WILL_MAX}),(0-2)"),
            "CONNECT" => format!(
                "{i},({}-{}),(1-64800),(0-1)[,<user_name>,<pass_word>]",
                self.server_addr_len.0, self.server_addr_len.1
            ),
            "DISC" => format!("{i},(0, 60-180)"),
            "TOPIC" => format!("{i},(1-{TOPIC_MAX})"),
            "PAYLOAD" => format!("{i},(1-{})", self.payload_max),
            "PUB" => format!("{i},(0-2),(60-180),(0-1),(0-1)"),
            "SUBTOPIC" if self.has_subtopic() => format!("{i},(1-{TOPIC_MAX}),(0-2)"),
            // A7600 prints 0-1024 for the combined form (0 = "the topics
            // given by SUBTOPIC"); SIM7028 prints 1-1024.
            "SUB" => {
                if one {
                    format!("{i},(1-{TOPIC_MAX}),(0-2),(0-1)")
                } else {
                    format!("{i},(0-{TOPIC_MAX}),(0-2),(0-1)")
                }
            }
            "UNSUBTOPIC" => format!("{i},(1-{TOPIC_MAX})"),
            "UNSUB" => {
                if one {
                    format!("{i},(1-{TOPIC_MAX}),(0-2),(0-1)")
                } else {
                    format!("{i},(0-{TOPIC_MAX}),(0-1)")
                }
            }
            _ => return None,
        })
    }
}
