//! RFC 2217 (Telnet COM-PORT-OPTION) client, sans I/O.
//!
//! Bytes from the server go in through [`Client::handle_input`]; serial data comes out
//! (with Telnet commands removed and `IAC IAC` turned back into 0xFF), and whatever the
//! client must answer or request is queued for [`Client::take_transmit`]. Data for the
//! serial line goes through [`Client::encode_data`], which doubles 0xFF. Nothing here reads
//! a socket or a clock: the transport in [`super::net`] owns the socket and the deadlines.
//!
//! Option negotiation follows RFC 1143's state machine, reduced to the states this client
//! can reach: it never asks to turn an option off, so there is no WANTNO and no queue bit:
//! it asks the server to let it use COM-PORT-OPTION (`IAC WILL 44`), and both sides to use
//! BINARY (so CR, NUL and 0xFF pass untouched) and SUPPRESS-GO-AHEAD. Once the server agrees
//! to COM-PORT-OPTION the line settings are sent (SET-BAUDRATE, SET-DATASIZE, SET-PARITY,
//! SET-STOPSIZE) and SET-CONTROL for flow control, DTR and RTS. Each is answered by the
//! server with the value in force (the code plus 100); the client records the answers.
//!
//! Decisions where the RFC leaves room:
//! - Acknowledgements of SET-CONTROL are recorded but never required: ser2net on a pty
//!   does not answer DTR/RTS control, and neither do several device servers
//!   (`Client::pending` tells which are missing).
//! - Modem-state and line-state notifications are recorded (last value wins) and not
//!   acted upon; the default masks of the RFC (modem state: all, line state: none) apply.
//! - FLOWCONTROL-SUSPEND from the server sets [`Client::is_suspended`]; the transport holds
//!   back data (with a deadline) until FLOWCONTROL-RESUME.
//! - When the server refuses BINARY in a direction, that direction uses Telnet's NVT rule:
//!   a CR not followed by LF is sent as CR NUL, and a NUL after a received CR is dropped.
//! - A subnegotiation longer than [`MAX_SUBNEGOTIATION`] bytes is discarded whole.

/// Interpret As Command.
pub const IAC: u8 = 255;
pub const DONT: u8 = 254;
pub const DO: u8 = 253;
pub const WONT: u8 = 252;
pub const WILL: u8 = 251;
/// Subnegotiation begin.
pub const SB: u8 = 250;
/// Subnegotiation end.
pub const SE: u8 = 240;

/// Telnet options this client knows.
pub const OPT_BINARY: u8 = 0;
pub const OPT_ECHO: u8 = 1;
pub const OPT_SGA: u8 = 3;
pub const OPT_COM_PORT: u8 = 44;

/// COM-PORT-OPTION subcommands, client to server; the server answers with code + 100.
pub mod cmd {
    pub const SIGNATURE: u8 = 0;
    pub const SET_BAUDRATE: u8 = 1;
    pub const SET_DATASIZE: u8 = 2;
    pub const SET_PARITY: u8 = 3;
    pub const SET_STOPSIZE: u8 = 4;
    pub const SET_CONTROL: u8 = 5;
    pub const NOTIFY_LINESTATE: u8 = 6;
    pub const NOTIFY_MODEMSTATE: u8 = 7;
    pub const FLOWCONTROL_SUSPEND: u8 = 8;
    pub const FLOWCONTROL_RESUME: u8 = 9;
    pub const SET_LINESTATE_MASK: u8 = 10;
    pub const SET_MODEMSTATE_MASK: u8 = 11;
    pub const PURGE_DATA: u8 = 12;
    /// Added to a client code in the server's answer.
    pub const SERVER: u8 = 100;
}

/// SET-CONTROL values.
pub mod control {
    pub const FLOW_NONE: u8 = 1;
    pub const FLOW_XON_XOFF: u8 = 2;
    pub const FLOW_HARDWARE: u8 = 3;
    pub const DTR_ON: u8 = 8;
    pub const DTR_OFF: u8 = 9;
    pub const RTS_ON: u8 = 11;
    pub const RTS_OFF: u8 = 12;
}

/// Longest subnegotiation kept (the longest legitimate one is a signature string).
pub const MAX_SUBNEGOTIATION: usize = 512;

/// The text sent when the server asks for the client's signature.
pub const SIGNATURE: &[u8] = b"modemqtt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None = 1,
    Odd = 2,
    Even = 3,
    Mark = 4,
    Space = 5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopBits {
    One = 1,
    Two = 2,
    OnePointFive = 3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowControl {
    None,
    XonXoff,
    Hardware,
}

impl FlowControl {
    fn control_value(self) -> u8 {
        match self {
            FlowControl::None => control::FLOW_NONE,
            FlowControl::XonXoff => control::FLOW_XON_XOFF,
            FlowControl::Hardware => control::FLOW_HARDWARE,
        }
    }
}

/// What the client asks the server to set on the serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSettings {
    pub baudrate: u32,
    /// 5..=8.
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: StopBits,
    pub flow_control: FlowControl,
    pub dtr: bool,
    pub rts: bool,
}

impl Default for LineSettings {
    fn default() -> Self {
        LineSettings {
            baudrate: 115_200,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: StopBits::One,
            flow_control: FlowControl::None,
            dtr: true,
            rts: true,
        }
    }
}

/// A setting sent to the server and not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Baudrate,
    DataSize,
    Parity,
    StopSize,
    FlowControl,
    Dtr,
    Rts,
}

impl Setting {
    /// Whether the setting is one of the line settings (as opposed to SET-CONTROL).
    pub fn is_line_setting(self) -> bool {
        matches!(
            self,
            Setting::Baudrate | Setting::DataSize | Setting::Parity | Setting::StopSize
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Setting::Baudrate => "SET-BAUDRATE",
            Setting::DataSize => "SET-DATASIZE",
            Setting::Parity => "SET-PARITY",
            Setting::StopSize => "SET-STOPSIZE",
            Setting::FlowControl => "SET-CONTROL (flow control)",
            Setting::Dtr => "SET-CONTROL (DTR)",
            Setting::Rts => "SET-CONTROL (RTS)",
        }
    }
}

/// Where the COM-PORT-OPTION negotiation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComPort {
    /// Asked, no answer yet.
    Pending,
    /// The server agreed: settings were sent.
    Active,
    /// The server refused (`IAC DONT 44`) or withdrew it.
    Refused,
}

/// RFC 1143 option state of one side (no WANTNO: this client never disables an option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Q {
    No,
    Yes,
    WantYes,
}

#[derive(Debug, Clone, Copy)]
struct Opt {
    /// Whether this side uses the option (WILL/WONT sent by us, DO/DONT by the server).
    us: Q,
    /// Whether the server uses it (WILL/WONT sent by the server, DO/DONT by us).
    him: Q,
}

#[derive(Debug)]
enum Rx {
    Data,
    Iac,
    /// After `IAC WILL/WONT/DO/DONT`, waiting for the option byte.
    Negotiate(u8),
    /// After `IAC SB`, waiting for the option byte.
    SbOption,
    Sb,
    SbIac,
}

/// Values the server reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerState {
    pub baudrate: Option<u32>,
    pub data_bits: Option<u8>,
    pub parity: Option<u8>,
    pub stop_bits: Option<u8>,
    /// The last SET-CONTROL answer for flow control / DTR / RTS.
    pub flow_control: Option<u8>,
    pub dtr: Option<bool>,
    pub rts: Option<bool>,
    /// Last NOTIFY-MODEMSTATE byte (CD 0x80, RI 0x40, DSR 0x20, CTS 0x10, deltas below).
    pub modem_state: Option<u8>,
    /// Last NOTIFY-LINESTATE byte.
    pub line_state: Option<u8>,
    pub signature: Option<String>,
}

/// The client side of one RFC 2217 connection.
#[derive(Debug)]
pub struct Client {
    settings: LineSettings,
    opts: [Opt; 256],
    rx: Rx,
    sb: Vec<u8>,
    sb_option: u8,
    sb_overflow: bool,
    /// The last data byte received was CR (for the NVT CR NUL rule).
    last_cr: bool,
    tx: Vec<u8>,
    com_port: ComPort,
    pending: Vec<Setting>,
    server: ServerState,
    suspended: bool,
}

impl Client {
    /// A client that will ask for `settings`; the opening requests are queued at once.
    pub fn new(settings: LineSettings) -> Client {
        let mut c = Client {
            settings,
            opts: [Opt {
                us: Q::No,
                him: Q::No,
            }; 256],
            rx: Rx::Data,
            sb: Vec::new(),
            sb_option: 0,
            sb_overflow: false,
            last_cr: false,
            tx: Vec::new(),
            com_port: ComPort::Pending,
            pending: Vec::new(),
            server: ServerState::default(),
            suspended: false,
        };
        c.request_us(OPT_COM_PORT);
        c.request_us(OPT_BINARY);
        c.request_him(OPT_BINARY);
        c.request_us(OPT_SGA);
        c.request_him(OPT_SGA);
        c
    }

    pub fn settings(&self) -> &LineSettings {
        &self.settings
    }

    pub fn com_port(&self) -> ComPort {
        self.com_port
    }

    /// Settings sent and not yet acknowledged, in the order they were sent.
    pub fn pending(&self) -> &[Setting] {
        &self.pending
    }

    /// Whether every line setting (baud rate, data size, parity, stop size) was answered.
    pub fn line_settings_acknowledged(&self) -> bool {
        self.com_port == ComPort::Active && !self.pending.iter().any(|s| s.is_line_setting())
    }

    pub fn server(&self) -> &ServerState {
        &self.server
    }

    /// Whether the server asked to hold back data (FLOWCONTROL-SUSPEND).
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// Whether data to the server travels in binary mode.
    pub fn binary_out(&self) -> bool {
        self.opts[OPT_BINARY as usize].us == Q::Yes
    }

    /// Whether data from the server travels in binary mode.
    pub fn binary_in(&self) -> bool {
        self.opts[OPT_BINARY as usize].him == Q::Yes
    }

    /// Whether anything waits in the transmit queue.
    pub fn wants_transmit(&self) -> bool {
        !self.tx.is_empty()
    }

    /// Takes the bytes the client wants sent (negotiation, settings, answers).
    pub fn take_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tx)
    }

    /// Appends `data` for the serial line to `out`, escaped for Telnet.
    pub fn encode_data(&self, data: &[u8], out: &mut Vec<u8>) {
        let binary = self.binary_out();
        out.reserve(data.len() + 8);
        for (i, &b) in data.iter().enumerate() {
            out.push(b);
            if b == IAC {
                out.push(IAC);
            } else if b == b'\r' && !binary && data.get(i + 1) != Some(&b'\n') {
                out.push(0);
            }
        }
    }

    /// Feeds bytes received from the server; serial data is appended to `data`.
    pub fn handle_input(&mut self, input: &[u8], data: &mut Vec<u8>) {
        for &b in input {
            self.step(b, data);
        }
    }

    fn push_data(&mut self, b: u8, data: &mut Vec<u8>) {
        if b == 0 && self.last_cr && !self.binary_in() {
            self.last_cr = false;
            return;
        }
        self.last_cr = b == b'\r';
        data.push(b);
    }

    fn step(&mut self, b: u8, data: &mut Vec<u8>) {
        match self.rx {
            Rx::Data => {
                if b == IAC {
                    self.rx = Rx::Iac;
                } else {
                    self.push_data(b, data);
                }
            }
            Rx::Iac => {
                self.rx = Rx::Data;
                match b {
                    IAC => self.push_data(IAC, data),
                    WILL | WONT | DO | DONT => self.rx = Rx::Negotiate(b),
                    SB => self.rx = Rx::SbOption,
                    // NOP, DM, BRK, IP, AO, AYT, EC, EL, GA and a stray SE: nothing to do.
                    _ => log::trace!("telnet: ignoring IAC {b}"),
                }
            }
            Rx::Negotiate(verb) => {
                self.rx = Rx::Data;
                self.negotiate(verb, b);
            }
            Rx::SbOption => {
                self.sb_option = b;
                self.sb.clear();
                self.sb_overflow = false;
                self.rx = Rx::Sb;
            }
            Rx::Sb => {
                if b == IAC {
                    self.rx = Rx::SbIac;
                } else {
                    self.sb_push(b);
                }
            }
            Rx::SbIac => match b {
                IAC => {
                    self.sb_push(IAC);
                    self.rx = Rx::Sb;
                }
                SE => {
                    self.rx = Rx::Data;
                    if self.sb_overflow {
                        log::warn!(
                            "telnet: discarded a subnegotiation longer than {MAX_SUBNEGOTIATION} bytes"
                        );
                    } else {
                        let body = std::mem::take(&mut self.sb);
                        self.subnegotiation(self.sb_option, &body);
                    }
                }
                other => {
                    // A command inside a subnegotiation that is not IAC or SE: the server
                    // broke the framing. Drop the subnegotiation and read the command.
                    log::warn!("telnet: IAC {other} inside a subnegotiation; dropping it");
                    self.sb.clear();
                    self.rx = Rx::Iac;
                    self.step(other, data);
                }
            },
        }
    }

    fn sb_push(&mut self, b: u8) {
        if self.sb.len() >= MAX_SUBNEGOTIATION {
            self.sb_overflow = true;
        } else {
            self.sb.push(b);
        }
    }

    fn send_negotiation(&mut self, verb: u8, opt: u8) {
        self.tx.extend_from_slice(&[IAC, verb, opt]);
    }

    fn request_us(&mut self, opt: u8) {
        let o = &mut self.opts[opt as usize];
        if o.us == Q::No {
            o.us = Q::WantYes;
            self.send_negotiation(WILL, opt);
        }
    }

    fn request_him(&mut self, opt: u8) {
        let o = &mut self.opts[opt as usize];
        if o.him == Q::No {
            o.him = Q::WantYes;
            self.send_negotiation(DO, opt);
        }
    }

    /// Options this client agrees to use itself when the server asks.
    fn accept_us(opt: u8) -> bool {
        matches!(opt, OPT_BINARY | OPT_SGA | OPT_COM_PORT)
    }

    /// Options this client agrees the server uses (not ECHO: the modem echoes already).
    fn accept_him(opt: u8) -> bool {
        matches!(opt, OPT_BINARY | OPT_SGA)
    }

    fn negotiate(&mut self, verb: u8, opt: u8) {
        let i = opt as usize;
        match verb {
            WILL => match self.opts[i].him {
                Q::No => {
                    if Self::accept_him(opt) {
                        self.opts[i].him = Q::Yes;
                        self.send_negotiation(DO, opt);
                    } else {
                        self.send_negotiation(DONT, opt);
                    }
                }
                Q::Yes => {}
                Q::WantYes => self.opts[i].him = Q::Yes,
            },
            WONT => match self.opts[i].him {
                Q::No => {}
                Q::Yes => {
                    self.opts[i].him = Q::No;
                    self.send_negotiation(DONT, opt);
                }
                Q::WantYes => self.opts[i].him = Q::No,
            },
            DO => match self.opts[i].us {
                Q::No => {
                    if Self::accept_us(opt) {
                        self.opts[i].us = Q::Yes;
                        self.send_negotiation(WILL, opt);
                        self.enabled_us(opt);
                    } else {
                        self.send_negotiation(WONT, opt);
                    }
                }
                Q::Yes => {}
                Q::WantYes => {
                    self.opts[i].us = Q::Yes;
                    self.enabled_us(opt);
                }
            },
            DONT => {
                let before = self.opts[i].us;
                match before {
                    Q::No => {}
                    Q::Yes => {
                        self.opts[i].us = Q::No;
                        self.send_negotiation(WONT, opt);
                    }
                    Q::WantYes => self.opts[i].us = Q::No,
                }
                if opt == OPT_COM_PORT && before != Q::No {
                    self.com_port = ComPort::Refused;
                    self.pending.clear();
                    self.suspended = false;
                }
            }
            _ => {}
        }
    }

    fn enabled_us(&mut self, opt: u8) {
        if opt == OPT_COM_PORT && self.com_port != ComPort::Active {
            self.com_port = ComPort::Active;
            self.send_settings();
        }
    }

    fn send_subcommand(&mut self, code: u8, value: &[u8]) {
        self.tx.extend_from_slice(&[IAC, SB, OPT_COM_PORT, code]);
        for &b in value {
            self.tx.push(b);
            if b == IAC {
                self.tx.push(IAC);
            }
        }
        self.tx.extend_from_slice(&[IAC, SE]);
    }

    fn send_settings(&mut self) {
        let s = self.settings;
        self.pending.clear();
        self.send_subcommand(cmd::SET_BAUDRATE, &s.baudrate.to_be_bytes());
        self.pending.push(Setting::Baudrate);
        self.send_subcommand(cmd::SET_DATASIZE, &[s.data_bits]);
        self.pending.push(Setting::DataSize);
        self.send_subcommand(cmd::SET_PARITY, &[s.parity as u8]);
        self.pending.push(Setting::Parity);
        self.send_subcommand(cmd::SET_STOPSIZE, &[s.stop_bits as u8]);
        self.pending.push(Setting::StopSize);
        self.send_subcommand(cmd::SET_CONTROL, &[s.flow_control.control_value()]);
        self.pending.push(Setting::FlowControl);
        let dtr = if s.dtr {
            control::DTR_ON
        } else {
            control::DTR_OFF
        };
        self.send_subcommand(cmd::SET_CONTROL, &[dtr]);
        self.pending.push(Setting::Dtr);
        let rts = if s.rts {
            control::RTS_ON
        } else {
            control::RTS_OFF
        };
        self.send_subcommand(cmd::SET_CONTROL, &[rts]);
        self.pending.push(Setting::Rts);
    }

    fn acknowledged(&mut self, s: Setting) {
        if let Some(pos) = self.pending.iter().position(|p| *p == s) {
            self.pending.remove(pos);
        }
    }

    fn subnegotiation(&mut self, opt: u8, body: &[u8]) {
        if opt != OPT_COM_PORT {
            log::trace!("telnet: ignoring a subnegotiation of option {opt}");
            return;
        }
        let Some((&code, value)) = body.split_first() else {
            log::debug!("rfc2217: empty COM-PORT-OPTION subnegotiation");
            return;
        };
        let Some(code) = code.checked_sub(cmd::SERVER) else {
            log::debug!("rfc2217: ignoring client subcommand {code} sent by the server");
            return;
        };
        let first = value.first().copied();
        match code {
            cmd::SIGNATURE => {
                if value.is_empty() {
                    self.send_subcommand(cmd::SIGNATURE, SIGNATURE);
                } else {
                    self.server.signature = Some(String::from_utf8_lossy(value).into_owned());
                }
            }
            cmd::SET_BAUDRATE => {
                if let Ok(b) = <[u8; 4]>::try_from(value) {
                    self.server.baudrate = Some(u32::from_be_bytes(b));
                    self.acknowledged(Setting::Baudrate);
                } else {
                    log::warn!("rfc2217: SET-BAUDRATE answer of {} bytes", value.len());
                }
            }
            cmd::SET_DATASIZE => {
                if first.is_some() {
                    self.server.data_bits = first;
                    self.acknowledged(Setting::DataSize);
                }
            }
            cmd::SET_PARITY => {
                if first.is_some() {
                    self.server.parity = first;
                    self.acknowledged(Setting::Parity);
                }
            }
            cmd::SET_STOPSIZE => {
                if first.is_some() {
                    self.server.stop_bits = first;
                    self.acknowledged(Setting::StopSize);
                }
            }
            cmd::SET_CONTROL => match first {
                Some(
                    v @ (control::FLOW_NONE | control::FLOW_XON_XOFF | control::FLOW_HARDWARE),
                ) => {
                    self.server.flow_control = Some(v);
                    self.acknowledged(Setting::FlowControl);
                }
                Some(control::DTR_ON) => {
                    self.server.dtr = Some(true);
                    self.acknowledged(Setting::Dtr);
                }
                Some(control::DTR_OFF) => {
                    self.server.dtr = Some(false);
                    self.acknowledged(Setting::Dtr);
                }
                Some(control::RTS_ON) => {
                    self.server.rts = Some(true);
                    self.acknowledged(Setting::Rts);
                }
                Some(control::RTS_OFF) => {
                    self.server.rts = Some(false);
                    self.acknowledged(Setting::Rts);
                }
                other => log::debug!("rfc2217: SET-CONTROL answer {other:?}"),
            },
            cmd::NOTIFY_LINESTATE => self.server.line_state = first,
            cmd::NOTIFY_MODEMSTATE => self.server.modem_state = first,
            cmd::FLOWCONTROL_SUSPEND => self.suspended = true,
            cmd::FLOWCONTROL_RESUME => self.suspended = false,
            cmd::SET_LINESTATE_MASK | cmd::SET_MODEMSTATE_MASK | cmd::PURGE_DATA => {}
            other => log::debug!("rfc2217: unknown server subcommand {}", other + 100),
        }
    }
}

#[cfg(test)]
#[path = "rfc2217_tests.rs"]
mod tests;
