//! Quectel `AT+QMT*`: EC20 / EC21 / EC25 / EG91 / EG95 / EM05 and BG96 / BG95 (six clients,
//! index 0-5).
//!
//! Sources: the summary page in seeds/004, Quectel's "EC2x&EG9x&EM05 MQTT Application Note"
//! (V1.1, 2018-12), its successor "LTE Standard MQTT Application Note" (V1.2, 2020-04), the
//! "BG96 MQTT Application Note" and the "BG95&BG77&BG600L MQTT Application Note" (V1.1), and
//! open-source drivers of these modules. Where they disagree:
//!
//! * Publishing: the V1.1 EC2x note has `AT+QMTPUB=...,"<topic>"` ended by Ctrl-Z (not
//!   binary-safe) and an in-line `AT+QMTPUBEX=...,"<msg>"`; the V1.2 note and current EC2x
//!   firmware take `AT+QMTPUBEX=<idx>,<msgID>,<qos>,<retain>,"<topic>",<length>`, then `> `,
//!   then exactly `<length>` bytes. BG95/BG96 notes give the same fixed-length form under the
//!   name `AT+QMTPUB=...,<msglen>`. We use the fixed-length form (binary-safe) with the
//!   command name of the profile, and the Ctrl-Z form only for an empty payload (nothing in
//!   it can be mistaken for the terminator).
//! * Payload limit: 4096 bytes on BG95/BG96 (field reports agree); the LTE Standard note gives
//!   no figure for `<length>`, so the EC2x profiles enforce the same 4096.
//! * Receive: `AT+QMTCFG="recv/mode",<idx>,<msg_recv_mode>,<msg_len_enable>`. Payloads in
//!   `+QMTRECV` are not escaped (they may hold `"`, CR, LF), so the length field is
//!   enabled and payloads are taken by byte count (the codec's `RawRule::Inline`); a module
//!   that refuses the field is set up without it and read by `parse_recv_line`.
//!   In buffer mode the modem announces `+QMTRECV: <idx>,<recv_id>` (five buffers, 0-4) and
//!   the host reads with `AT+QMTRECV=<idx>,<recv_id>`; the answer has the same shape as the
//!   direct URC.
//! * Results: `OK` only means the command was accepted; the outcome is the result URC
//!   (`+QMTOPEN: idx,result`, `+QMTCONN: idx,result[,ret_code]`, ...), which may come after
//!   other URCs. A `result` of 1 (retransmission, with a count) is progress, not the end.
//! * `AT+QMTDISC` closes the TCP connection too: a new `AT+QMTOPEN` is needed afterwards.
//! * `+QIURC: "pdpdeact",<cid>`: the PDP context is gone, so every client on it is too.
//! * Error numbers of `MqttError`: the field the modem reported, i.e. `result` (-1..5 for
//!   open, 1-2 for the packet results), or the CONNACK `ret_code` (1-5) for a refused
//!   connection, or the granted-QoS value 128 for a refused subscription; the name tells
//!   which.

mod context;
mod limits;
mod spec;
mod urc;

pub use context::*;
pub use limits::*;
pub use spec::SPEC;
pub use urc::*;

use crate::dialect::results::Results;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::at::session::{Command, Expect};
use crate::at::{build, Arg, Frame, RawRule};
use crate::dialect::common::{lists_client_in, lock};
use crate::dialect::common::{reader_loop, ReadStep};
use crate::dialect::{ClientContext, UrcRouter};
use crate::engine::{Engine, Response};
use crate::error::{Error, Result};
use crate::mqtt::{
    self, AliAuth, Backend, BackendIdentity, Capabilities, ClientShared, ConnectOptions, Message,
    ReceiveMode, Tls, CAUSE_PDP_DEACTIVATED,
};

/// `+QFUPL: <upload_size>,<checksum>`: the checksum is the XOR of the data taken as
/// big-endian 16-bit words, an odd last byte as the high byte (Quectel's FILE AT
/// commands manual; the seeds do not cover the file commands).
pub fn qfupl_checksum(data: &[u8]) -> u16 {
    data.chunks(2).fold(0u16, |sum, pair| {
        let hi = u16::from(pair[0]) << 8;
        let lo = pair.get(1).copied().map(u16::from).unwrap_or(0);
        sum ^ (hi | lo)
    })
}

/// One QMT client index.
pub struct QmtClient {
    ctx: Arc<Context>,
    index: u8,
    client_id: String,
    shared: Arc<ClientShared>,
    mode: ReceiveMode,
    version: u8,
    pdp_cid: u8,
    packet_timeout: u32,
    retries: u32,
    timeout_notice: bool,
    aliauth: Option<AliAuth>,
    next_msgid: AtomicU16,
    /// The boot generation in which this index holds an open network (QMTOPEN done).
    opened: Mutex<Option<u64>>,
    /// The boot generation in which leftovers of an earlier run were cleared.
    checked_gen: Mutex<Option<u64>>,
    closed: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
}

const CMD: Duration = Duration::from_secs(9);
/// `AT+QMTRECV=<idx>,<id>` reads one stored message.
const READ_CMD: Duration = Duration::from_secs(15);

impl QmtClient {
    fn engine(&self) -> &Engine {
        &self.ctx.engine
    }

    fn idx(&self) -> i64 {
        self.index as i64
    }

    /// 1..=65535, wrapping, never 0 (0 is reserved for QoS 0 publishes).
    fn msgid(&self) -> u16 {
        loop {
            let id = self.next_msgid.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }

    /// The longest a packet exchange can take on the modem: every try times out.
    fn packet_wait(&self) -> Duration {
        Duration::from_secs(self.packet_timeout as u64 * (self.retries as u64 + 1) + 5)
    }

    fn exec(&self, cmd: Command) -> Result<Response> {
        self.engine().execute_raw(cmd)
    }

    fn cfg(&self, key: &str, args: &[Arg]) -> Result<()> {
        let mut all = vec![Arg::Str(key), Arg::Int(self.idx())];
        all.extend_from_slice(args);
        let c = Command::new(build("AT+QMTCFG", &all)?, CMD);
        self.engine().execute(c).map(|_| ())
    }

    /// Runs a command whose outcome is a `+NAME: idx,...` result URC (its `expect`);
    /// returns that line. The AT channel is free again at `OK`: the result is awaited
    /// outside it (see `results.rs`), within the command's timeout.
    fn with_result(&self, cmd: Command) -> Result<Vec<u8>> {
        self.ctx.router.results.run(self.engine(), self.index, cmd)
    }

    /// Checks `+NAME: idx,msgid,result[,value]`.
    fn packet_outcome(&self, operation: &str, line: &[u8]) -> Result<Vec<i64>> {
        let f = int_fields(line);
        let result = f.get(2).copied().ok_or_else(|| {
            Error::Protocol(format!(
                "{operation}: cannot parse {:?}",
                String::from_utf8_lossy(line)
            ))
        })?;
        if result != 0 {
            return Err(Error::Mqtt {
                operation: operation.into(),
                code: result as i32,
                name: packet_result_name(result as i32),
            });
        }
        Ok(f)
    }

    /// Clears what an earlier run (or another program) left on this index, once per boot.
    fn clear_leftovers(&self) -> Result<()> {
        let gen = self.engine().boot_generation();
        let mut checked = lock(&self.checked_gen);
        if *checked == Some(gen) {
            return Ok(());
        }
        let c = Command::new(build("AT+QMTCONN?", &[])?, CMD).with_response(b"+QMTCONN:".to_vec());
        let r = self.engine().execute(c)?;
        // +QMTCONN: <idx>,<state>: 1 initializing, 2 connecting, 3 connected, 4 disconnecting
        if lists_client_in(&r.lines, b"+QMTCONN:", self.idx(), 3) {
            log::info!(
                "qmt: client {} was left connected; disconnecting",
                self.index
            );
            if let Err(e) = self.disc(Duration::from_secs(30)) {
                log::debug!("qmt: clearing client {}: {e}", self.index);
            }
        }
        let c = Command::new(build("AT+QMTOPEN?", &[])?, CMD).with_response(b"+QMTOPEN:".to_vec());
        let r = self.engine().execute(c)?;
        let opened = r.lines.iter().any(|f| match f {
            Frame::Line(l) => field_int(l, 0) == Some(self.idx()),
            _ => false,
        });
        if opened {
            log::info!("qmt: client {} was left open; closing", self.index);
            if let Err(e) = self.close_network() {
                log::debug!("qmt: clearing client {}: {e}", self.index);
            }
        }
        *checked = Some(gen);
        Ok(())
    }

    fn close_network(&self) -> Result<()> {
        let c = Command::new(
            build("AT+QMTCLOSE", &[Arg::Int(self.idx())])?,
            Duration::from_secs(30),
        )
        .with_expect(Expect::prefix(format!("+QMTCLOSE: {},", self.index)));
        let line = self.with_result(c);
        *lock(&self.opened) = None;
        let line = line?;
        link_result(&line, "close", "failed to close network")
    }

    fn disc(&self, timeout: Duration) -> Result<()> {
        let c = Command::new(build("AT+QMTDISC", &[Arg::Int(self.idx())])?, timeout)
            .with_expect(Expect::prefix(format!("+QMTDISC: {},", self.index)));
        let line = self.with_result(c);
        // The TCP connection goes with the MQTT one.
        *lock(&self.opened) = None;
        let line = line?;
        link_result(&line, "disconnect", "failed to disconnect")
    }

    fn upload_file(&self, name: &str, content: &[u8], secret: bool) -> Result<()> {
        // Replace an older copy; "file not found" is the normal answer the first time.
        if let Ok(c) = build("AT+QFDEL", &[Arg::Str(name)]) {
            let _ = self.exec(Command::new(c, CMD));
        }
        let mut c = Command::new(
            build(
                "AT+QFUPL",
                &[Arg::Str(name), Arg::Int(content.len() as i64), Arg::Int(10)],
            )?,
            Duration::from_secs(30),
        )
        .with_data(content.to_vec())
        .with_prompt_line(b"CONNECT".to_vec())
        .with_response(b"+QFUPL:".to_vec());
        c.data_secret = secret;
        let text = c.line.text().to_string();
        let r = self.engine().execute(c)?;
        // +QFUPL: <upload_size>,<checksum>
        let value = r.value("+QFUPL:").unwrap_or_default();
        let mut it = value.split(',');
        let size = it.next().and_then(|n| n.trim().parse::<usize>().ok());
        if size != Some(content.len()) {
            return Err(Error::Protocol(format!(
                "{text}: uploaded {size:?} bytes, expected {}",
                content.len()
            )));
        }
        let want = qfupl_checksum(content);
        match it.next().map(|c| u16::from_str_radix(c.trim(), 16)) {
            Some(Ok(got)) if got == want => Ok(()),
            Some(Ok(got)) => Err(Error::Protocol(format!(
                "{text}: the modem's checksum {got:x} is not the data's {want:x}: the file arrived damaged"
            ))),
            _ => {
                log::debug!("qmt: {text}: no checksum to verify in {value:?}");
                Ok(())
            }
        }
    }

    fn configure_tls(&self, tls: &Tls) -> Result<u8> {
        let ctx = tls.context.unwrap_or(self.index);
        let sslcfg = |key: &str, value: Arg| -> Result<()> {
            let c = Command::new(
                build("AT+QSSLCFG", &[Arg::Str(key), Arg::Int(ctx as i64), value])?,
                CMD,
            );
            self.engine().execute(c).map(|_| ())
        };
        // sslversion: 0 SSL3.0, 1 TLS1.0, 2 TLS1.1, 3 TLS1.2, 4 all (the modem default).
        sslcfg("sslversion", Arg::Int(tls.ssl_version.min(4) as i64))?;
        sslcfg("ciphersuite", Arg::Bare("0xFFFF"))?;
        // seclevel: 0 no authentication, 1 server, 2 server and client.
        let seclevel = match (tls.verify_server, tls.client_cert.is_some()) {
            (_, true) => 2,
            (true, false) => 1,
            (false, false) => 0,
        };
        sslcfg("seclevel", Arg::Int(seclevel))?;
        sslcfg("ignorelocaltime", Arg::Int(tls.ignore_local_time as i64))?;
        for (key, content, secret) in [
            ("cacert", &tls.ca_cert, false),
            ("clientcert", &tls.client_cert, false),
            ("clientkey", &tls.client_key, true),
        ] {
            if let Some(pem) = content {
                let file = format!("UFS:mqtt{}_{key}.pem", self.index);
                self.upload_file(&file, pem, secret)?;
                sslcfg(key, Arg::Str(&file))?;
            }
        }
        Ok(ctx)
    }

    fn start_reader(self: &Arc<Self>, wake: Receiver<()>) -> Result<()> {
        let me = Arc::downgrade(self);
        let stop = self.stop.clone();
        let h = std::thread::Builder::new()
            .name(format!("modemqtt-qmtrecv-{}", self.index))
            .spawn(move || buffer_reader(me, wake, stop))
            .map_err(|e| Error::Other(format!("cannot start the buffer reader: {e}")))?;
        *lock(&self.reader) = Some(h);
        Ok(())
    }

    /// Reads stored message `recv_id`. The answer (`+QMTRECV: <idx>,<msgID>,...`) is not
    /// claimed as a response: it goes through the URC handler like every other `+QMTRECV`
    /// line, so messages and buffer notices are handled in the order the modem sent them.
    fn read_buffer(&self, recv_id: u8) -> Result<()> {
        let c = Command::new(
            build(
                "AT+QMTRECV",
                &[Arg::Int(self.idx()), Arg::Int(recv_id as i64)],
            )?,
            READ_CMD,
        );
        self.engine().execute(c).map(|_| ())
    }

    /// Buffer mode: notes messages stored before we were listening (`AT+QMTRECV?` lists
    /// `+QMTRECV: <idx>,<s0>,...,<s4>` with 1 for a full buffer).
    fn scan_buffers(&self) -> Result<()> {
        let c = Command::new(build("AT+QMTRECV?", &[])?, CMD).with_response(b"+QMTRECV:".to_vec());
        let r = self.engine().execute(c)?;
        for f in &r.lines {
            if let Frame::Line(l) = f {
                let v = int_fields(l);
                if v.first() == Some(&self.idx()) {
                    for (id, full) in v.iter().skip(1).enumerate() {
                        if *full == 1 {
                            self.ctx.router.note_buffer(self.index as usize, id as u8);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check_topics_quotable(&self, topics: impl Iterator<Item = impl AsRef<str>>) -> Result<()> {
        for t in topics {
            // Topics are quoted on the QMT command lines.
            mqtt::check_quotable("topic", t.as_ref())?;
        }
        Ok(())
    }
}

/// The per-client buffer reader: reads a stored message only while the client's inbox has
/// room, so a slow consumer leaves messages in the modem (which stops taking more from the
/// broker) instead of losing them. The URC handler only notes "stored in buffer N".
fn buffer_reader(me: std::sync::Weak<QmtClient>, wake: Receiver<()>, stop: Arc<AtomicBool>) {
    reader_loop(&wake, &stop, || {
        let Some(c) = me.upgrade() else {
            return ReadStep::Stop;
        };
        let next = if c.shared.free_capacity() > 0 {
            c.ctx.router.take_pending(c.index as usize)
        } else {
            None
        };
        match next {
            Some(id) => match c.read_buffer(id) {
                Ok(()) => ReadStep::Read,
                Err(e @ (Error::Port(_) | Error::Closed(_))) => {
                    log::debug!("qmt: client {}: buffer reader ends: {e}", c.index);
                    ReadStep::Stop
                }
                Err(e) => {
                    log::warn!(
                        "qmt: client {}: reading buffer {id} failed: {e}; retrying",
                        c.index
                    );
                    c.ctx.router.requeue(c.index as usize, id);
                    ReadStep::Idle
                }
            },
            None => ReadStep::Idle,
        }
    })
}

impl Backend for QmtClient {
    fn identity(&self) -> BackendIdentity<'_> {
        BackendIdentity::new(&self.ctx.caps, self.index, &self.client_id)
    }

    fn connect(&self, opts: &ConnectOptions) -> Result<()> {
        let caps = &self.ctx.caps;
        // Everything is checked before the first byte goes out.
        mqtt::check_len("host", opts.host.len(), caps.server_addr_len)?;
        let will_text = match &opts.will {
            Some(w) => {
                mqtt::check_quotable("will topic", &w.topic)?;
                let text = std::str::from_utf8(&w.payload).map_err(|_| {
                    Error::invalid("will payload: must be UTF-8 text on QMT (it is quoted on the command line)")
                })?;
                mqtt::check_quotable("will payload", text)?;
                Some((w, text))
            }
            None => None,
        };
        if let Some(tls) = &opts.tls {
            if tls.context.is_some_and(|c| c > 5) {
                return Err(Error::invalid("tls context: must be 0 to 5 on QMT"));
            }
        }
        if let Some(p) = &opts.password {
            self.engine().add_secret(p.as_bytes());
        }
        self.clear_leftovers()?;
        let gen = self.engine().boot_generation();
        if lock(&self.opened).is_some_and(|g| g == gen) {
            // A previous connection ended (+QMTSTAT) but the network may still be open.
            if let Err(e) = self.close_network() {
                log::debug!("qmt: client {}: closing the old network: {e}", self.index);
            }
        }
        self.cfg("version", &[Arg::Int(self.version as i64)])?;
        self.cfg("pdpcid", &[Arg::Int(self.pdp_cid as i64)])?;
        self.cfg("keepalive", &[Arg::Int(opts.keepalive as i64)])?;
        self.cfg("session", &[Arg::Int(opts.clean_session as i64)])?;
        self.cfg(
            "timeout",
            &[
                Arg::Int(self.packet_timeout as i64),
                Arg::Int(self.retries as i64),
                Arg::Int(self.timeout_notice as i64),
            ],
        )?;
        match will_text {
            Some((w, text)) => self.cfg(
                "will",
                &[
                    Arg::Int(1),
                    Arg::Int(w.qos as i64),
                    Arg::Int(w.retain as i64),
                    Arg::Str(&w.topic),
                    Arg::Str(text),
                ],
            )?,
            None => self.cfg("will", &[Arg::Int(0)])?,
        }
        let recv_mode = match self.mode {
            ReceiveMode::Urc => 0,
            ReceiveMode::Buffer => 1,
        };
        // The length field frames payloads holding `"`, CR or LF; a modem without it is
        // read with the length-less parser (see `parse_recv_line`).
        if let Err(e) = self.cfg("recv/mode", &[Arg::Int(recv_mode), Arg::Int(1)]) {
            log::warn!(
                "qmt: client {}: recv/mode with the length field refused ({e}); payloads with CR/LF cannot be received",
                self.index
            );
            self.cfg("recv/mode", &[Arg::Int(recv_mode)])?;
        }
        if let Some(a) = &self.aliauth {
            self.cfg(
                "aliauth",
                &[
                    Arg::Str(&a.product_key),
                    Arg::Str(&a.device_name),
                    Arg::Secret(&a.device_secret),
                ],
            )?;
        }
        match &opts.tls {
            Some(tls) => {
                let ctx = self.configure_tls(tls)?;
                self.cfg("ssl", &[Arg::Int(1), Arg::Int(ctx as i64)])?;
            }
            None => self.cfg("ssl", &[Arg::Int(0)])?,
        }
        let deadline = Instant::now() + opts.timeout;
        let c = Command::new(
            build(
                "AT+QMTOPEN",
                &[
                    Arg::Int(self.idx()),
                    Arg::Str(&opts.host),
                    Arg::Int(opts.port as i64),
                ],
            )?,
            opts.timeout,
        )
        .with_expect(Expect::prefix(format!("+QMTOPEN: {},", self.index)));
        let line = self.with_result(c)?;
        match field_int(&line, 1) {
            Some(0) => *lock(&self.opened) = Some(gen),
            Some(code) => {
                return Err(Error::Mqtt {
                    operation: "connect".into(),
                    code: code as i32,
                    name: open_result_name(code as i32),
                })
            }
            None => {
                return Err(Error::Protocol(format!(
                    "AT+QMTOPEN: cannot parse {:?}",
                    String::from_utf8_lossy(&line)
                )))
            }
        }
        let mut args = vec![Arg::Int(self.idx()), Arg::Str(&self.client_id)];
        if let Some(u) = &opts.username {
            args.push(Arg::Str(u));
            if let Some(p) = &opts.password {
                args.push(Arg::Secret(p));
            }
        }
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let c = Command::new(build("AT+QMTCONN", &args)?, left).with_expect(Expect {
            prefix: format!("+QMTCONN: {},", self.index).into_bytes(),
            is_final: Some(final_unless_retransmission::<1>),
        });
        let outcome = self.with_result(c).and_then(|line| {
            let f = int_fields(&line);
            match (f.get(1).copied(), f.get(2).copied()) {
                (Some(0), None | Some(0)) => Ok(()),
                (Some(0), Some(ret)) => Err(Error::Mqtt {
                    operation: "connect".into(),
                    code: ret as i32,
                    name: conn_ret_code_name(ret as i32),
                }),
                (Some(result), _) => Err(Error::Mqtt {
                    operation: "connect".into(),
                    code: result as i32,
                    name: packet_result_name(result as i32),
                }),
                (None, _) => Err(Error::Protocol(format!(
                    "AT+QMTCONN: cannot parse {:?}",
                    String::from_utf8_lossy(&line)
                ))),
            }
        });
        if let Err(e) = outcome {
            // Leave the index clean for the next attempt.
            if let Err(ce) = self.close_network() {
                log::debug!(
                    "qmt: client {}: closing after a failed connect: {ce}",
                    self.index
                );
            }
            return Err(e);
        }
        if self.mode == ReceiveMode::Buffer {
            if let Err(e) = self.scan_buffers() {
                log::debug!("qmt: client {}: AT+QMTRECV?: {e}", self.index);
            }
        }
        Ok(())
    }

    fn send_publish(&self, msg: mqtt::Publish<'_>) -> Result<()> {
        let (topic, payload, qos, retain, timeout) = msg.parts();
        self.check_topics_quotable(std::iter::once(topic))?;
        let msgid = if qos == 0 { 0 } else { self.msgid() };
        let wait = timeout.unwrap_or_else(|| self.packet_wait() + Duration::from_secs(15));
        let mut args = vec![
            Arg::Int(self.idx()),
            Arg::Int(msgid as i64),
            Arg::Int(qos as i64),
            Arg::Int(retain as i64),
            Arg::Str(topic),
        ];
        let (name, data) = if payload.is_empty() {
            // The Ctrl-Z form: an empty message is just the terminator.
            ("QMTPUB", vec![0x1a])
        } else {
            args.push(Arg::Int(payload.len() as i64));
            (self.ctx.publish_name()?, payload.to_vec())
        };
        let c = Command::new(build(&format!("AT+{name}"), &args)?, wait)
            .with_data(data)
            .with_expect(Expect {
                prefix: format!("+{name}: {},{msgid},", self.index).into_bytes(),
                is_final: Some(final_unless_retransmission::<2>),
            });
        let line = self.with_result(c)?;
        self.packet_outcome("publish", &line).map(|_| ())
    }

    fn subscribe(&self, topics: &[(String, u8)], timeout: Option<Duration>) -> Result<()> {
        self.check_topics_quotable(topics.iter().map(|(t, _)| t))?;
        let wait = timeout.unwrap_or_else(|| self.packet_wait());
        for chunk in topics.chunks(TOPICS_PER_COMMAND) {
            let msgid = self.msgid();
            let mut args = vec![Arg::Int(self.idx()), Arg::Int(msgid as i64)];
            for (t, q) in chunk {
                args.push(Arg::Str(t));
                args.push(Arg::Int(*q as i64));
            }
            let c = Command::new(build("AT+QMTSUB", &args)?, wait).with_expect(Expect {
                prefix: format!("+QMTSUB: {},{msgid},", self.index).into_bytes(),
                is_final: Some(final_unless_retransmission::<2>),
            });
            let line = self.with_result(c)?;
            let f = self.packet_outcome("subscribe", &line)?;
            // <value>: the granted QoS of each topic, 128 when refused.
            if let Some(&refused) = f.iter().skip(3).find(|&&v| v == 128) {
                return Err(Error::Mqtt {
                    operation: "subscribe".into(),
                    code: refused as i32,
                    name: "subscription refused by the server".into(),
                });
            }
        }
        Ok(())
    }

    fn unsubscribe(&self, topics: &[String], timeout: Option<Duration>) -> Result<()> {
        self.check_topics_quotable(topics.iter())?;
        let wait = timeout.unwrap_or_else(|| self.packet_wait());
        for chunk in topics.chunks(TOPICS_PER_COMMAND) {
            let msgid = self.msgid();
            let mut args = vec![Arg::Int(self.idx()), Arg::Int(msgid as i64)];
            for t in chunk {
                args.push(Arg::Str(t));
            }
            let c = Command::new(build("AT+QMTUNS", &args)?, wait).with_expect(Expect {
                prefix: format!("+QMTUNS: {},{msgid},", self.index).into_bytes(),
                is_final: Some(final_unless_retransmission::<2>),
            });
            let line = self.with_result(c)?;
            self.packet_outcome("unsubscribe", &line)?;
        }
        Ok(())
    }

    fn disconnect(&self, timeout: Option<Duration>) -> Result<()> {
        self.disc(timeout.unwrap_or(Duration::from_secs(30)))
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.stop.store(true, Ordering::SeqCst);
        self.shared.set_room_listener(None);
        // Dropping the router's wake sender ends the reader's wait.
        if let Some(Some(slot)) = lock(&self.ctx.router.slots).get_mut(self.index as usize) {
            slot.wake = None;
        }
        if let Some(h) = lock(&self.reader).take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        let mut first_error = None;
        if self.engine().failure().is_none() {
            let gen = self.engine().boot_generation();
            if self.shared.is_connected() {
                if let Err(e) = self.disc(Duration::from_secs(10)) {
                    first_error.get_or_insert(e);
                }
            }
            if lock(&self.opened).is_some_and(|g| g == gen) {
                // After +QMTSTAT the modem may have closed the network already: an
                // ERROR here only means there is nothing left to close.
                if let Err(e) = self.close_network() {
                    log::debug!("qmt: client {}: AT+QMTCLOSE: {e}", self.index);
                }
            }
        }
        self.ctx.client_closed(self.index);
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "qmt_tests.rs"]
mod tests;

/// Checks the `<result>` of `+QMTCLOSE: idx,result` or `+QMTDISC: idx,result`: 0 is
/// success, any other code fails `operation` with `name`.
fn link_result(line: &[u8], operation: &str, name: &str) -> Result<()> {
    match field_int(line, 1) {
        Some(0) => Ok(()),
        Some(code) => Err(Error::Mqtt {
            operation: operation.into(),
            code: code as i32,
            name: name.into(),
        }),
        None => Err(Error::Protocol(format!(
            "cannot parse {:?}",
            String::from_utf8_lossy(line)
        ))),
    }
}
