//! The CoAP client (`AT+CC*`).

use super::*;

/// The answer to a CoAP send (`+CCRECV: <status>,<code>[,<payload>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoapResponse {
    pub code: u8,
    pub name: String,
    pub payload: Vec<u8>,
}

/// Parses `+CCRECV: <status>[,<resp_code>[,<resp_payload>]]`.
pub fn parse_ccrecv(line: &[u8]) -> Option<(i32, Option<u8>, Vec<u8>)> {
    let (status, rest) = status_and_rest(line)?;
    let rest = trim_ascii(rest);
    if rest.is_empty() {
        return Some((status, None, Vec::new()));
    }
    let (code_field, payload_field) = match rest.iter().position(|&b| b == b',') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let code_text = String::from_utf8_lossy(code_field);
    let code_text = code_text.trim().trim_matches('"');
    let digits = code_text
        .strip_prefix("0x")
        .or_else(|| code_text.strip_prefix("0X"))?;
    let code = u8::from_str_radix(digits, 16).ok()?;
    let payload = match payload_field.map(trim_ascii) {
        None => Vec::new(),
        Some(p) => match p.strip_prefix(b"\"") {
            Some(inner) => match inner.iter().rposition(|&b| b == b'"') {
                Some(last) => inner[..last].to_vec(),
                None => inner.to_vec(),
            },
            None => p.to_vec(),
        },
    };
    Some((status, Some(code), payload))
}

#[derive(Default)]
pub(super) struct CoapState {
    /// The boot generation in which `AT+CCINIT` succeeded.
    pub(super) inited: Option<u64>,
    pub(super) authed: bool,
}

/// The `AT+CC*` CoAP client.
pub struct AliyunCoap {
    pub(super) engine: Engine,
    pub(super) rev: Revision,
    pub(super) product_key: String,
    pub(super) device_name: String,
    pub(super) device_secret: String,
    pub(super) state: Mutex<CoapState>,
    pub(super) closed: AtomicBool,
}

pub(super) const COAP_DEFAULT_WAIT: Duration = Duration::from_secs(10);

impl AliyunCoap {
    /// Checks the arguments; nothing is sent until the first `auth` or `send`.
    pub fn open(
        engine: Engine,
        rev: Revision,
        product_key: &str,
        device_name: &str,
        device_secret: &str,
    ) -> Result<AliyunCoap> {
        check_triple(product_key, device_name, device_secret)?;
        engine.add_secret(device_secret.as_bytes());
        Ok(AliyunCoap {
            engine,
            rev,
            product_key: product_key.to_string(),
            device_name: device_name.to_string(),
            device_secret: device_secret.to_string(),
            state: Mutex::new(CoapState::default()),
            closed: AtomicBool::new(false),
        })
    }

    pub fn revision(&self) -> Revision {
        self.rev
    }

    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed("CoAP client"));
        }
        Ok(())
    }

    pub(super) fn coap_error(&self, operation: &str, code: i32) -> Error {
        Error::Mqtt {
            operation: operation.into(),
            code,
            name: coap_error_name(self.rev, code),
        }
    }

    pub(super) fn final_error(&self, operation: &str, command: &str, f: &FinalResult) -> Error {
        match f {
            FinalResult::CmeError(ErrorCode::Numeric(n)) => self.coap_error(operation, *n),
            other => Error::from_final(command, other),
        }
    }

    pub(super) fn ensure_init(&self, st: &mut CoapState) -> Result<()> {
        let gen = self.engine.boot_generation();
        if st.inited == Some(gen) {
            return Ok(());
        }
        st.authed = false;
        let cmd = Command::new(
            build(
                "AT+CCINIT",
                &[
                    Arg::Str(&self.product_key),
                    Arg::Str(&self.device_name),
                    Arg::Secret(&self.device_secret),
                ],
            )?,
            CMD,
        );
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("init", &text, &r.final_result));
        }
        st.inited = Some(gen);
        Ok(())
    }

    pub(super) fn status_of(&self, r: &Response, prefix: &[u8]) -> Option<i32> {
        let from_lines = r.lines.iter().find_map(|f| match f {
            Frame::Line(l) if l.starts_with(prefix) => status_and_rest(l).map(|(s, _)| s),
            _ => None,
        });
        r.urc
            .as_deref()
            .and_then(|l| status_and_rest(l).map(|(s, _)| s))
            .or(from_lines)
    }

    /// Runs `cmd`, whose result line (`prefix`) revision 1 prints (if at all) before OK and
    /// revision 2 after it; returns the response and the command's text.
    fn execute_revised(&self, cmd: Command, prefix: &[u8]) -> Result<(Response, String)> {
        let cmd = match self.rev {
            Revision::V1 => cmd.with_response(prefix.to_vec()),
            Revision::V2 => cmd.with_expect(Expect::prefix(prefix.to_vec())),
        };
        let text = cmd.line.text().to_string();
        Ok((self.engine.execute_raw(cmd)?, text))
    }

    pub(super) fn do_auth(&self, st: &mut CoapState, timeout: Duration) -> Result<()> {
        self.ensure_init(st)?;
        let ms = timeout.as_millis().clamp(1, 60_000) as i64;
        let cmd = Command::new(build("AT+CCAUTH", &[Arg::Int(ms)])?, timeout + CMD);
        let (r, text) = self.execute_revised(cmd, b"+CCAUTH:")?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("auth", &text, &r.final_result));
        }
        match self.status_of(&r, b"+CCAUTH:") {
            Some(0) | None if self.rev == Revision::V1 => {}
            Some(0) => {}
            Some(code) => return Err(self.coap_error("auth", code)),
            None => {
                return Err(Error::Protocol("AT+CCAUTH: OK without +CCAUTH".into()));
            }
        }
        st.authed = true;
        Ok(())
    }

    /// `AT+CCINIT` (if needed) and `AT+CCAUTH=<ms>`.
    pub fn auth(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_open()?;
        let t = timeout.unwrap_or(COAP_DEFAULT_WAIT);
        check_coap_timeout(t)?;
        let mut st = lock(&self.state);
        self.do_auth(&mut st, t)
    }

    /// Sends `payload` to `topic` and returns the server's answer.
    pub fn send(
        &self,
        topic: &str,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<CoapResponse> {
        self.check_open()?;
        mqtt::check_len("topic", topic.len(), (1, COAP_TOPIC_MAX))?;
        mqtt::check_quotable("topic", topic)?;
        mqtt::check_len("payload", payload.len(), (1, COAP_PAYLOAD_MAX))?;
        let text = payload_param("payload", payload, true)?;
        let t = timeout.unwrap_or(COAP_DEFAULT_WAIT);
        check_coap_timeout(t)?;
        let ms = t.as_millis().clamp(1, 60_000) as i64;
        let line = build(
            "AT+CCSEND",
            &[Arg::Str(topic), Arg::Escaped(text), Arg::Int(ms)],
        )?;
        let mut st = lock(&self.state);
        if st.inited != Some(self.engine.boot_generation()) || !st.authed {
            self.do_auth(&mut st, t)?;
        }
        let (r, cmd_text) = self.execute_revised(Command::new(line, t + CMD), b"+CCRECV:")?;
        if !r.final_result.is_ok() {
            let e = self.final_error("send", &cmd_text, &r.final_result);
            if matches!(e, Error::Mqtt { code: -5, .. }) {
                st.authed = false;
            }
            return Err(e);
        }
        let line = r.urc.clone().or_else(|| {
            r.lines.iter().find_map(|f| match f {
                Frame::Line(l) if l.starts_with(b"+CCRECV:") => Some(l.clone()),
                _ => None,
            })
        });
        let Some(line) = line else {
            return Err(Error::Protocol("AT+CCSEND: OK without +CCRECV".into()));
        };
        self.response_from(&mut st, &line)?
            .ok_or_else(|| Error::Protocol("AT+CCSEND: +CCRECV without a response code".into()))
    }

    pub(super) fn response_from(
        &self,
        st: &mut CoapState,
        line: &[u8],
    ) -> Result<Option<CoapResponse>> {
        let Some((status, code, payload)) = parse_ccrecv(line) else {
            return Err(Error::Protocol(format!(
                "cannot parse {:?}",
                String::from_utf8_lossy(line)
            )));
        };
        if status != 0 {
            if matches!(status, 11 | 12) || (self.rev == Revision::V1 && status == -5) {
                st.authed = false;
            }
            return Err(self.coap_error("send", status));
        }
        Ok(code.map(|code| {
            if code == 0x81 {
                // Token invalid or expired: authenticate again before the next send.
                st.authed = false;
            }
            CoapResponse {
                code,
                name: coap_code_name(code).to_string(),
                payload,
            }
        }))
    }

    /// `AT+CCYIELD`: reads what the server sent since (a response to a send made with
    /// the modem's manual receive, or an auth result). Returns the CoAP response, if any.
    pub fn receive(&self, timeout: Option<Duration>) -> Result<Option<CoapResponse>> {
        self.check_open()?;
        let t = timeout.unwrap_or(COAP_DEFAULT_WAIT);
        check_coap_timeout(t)?;
        let mut st = lock(&self.state);
        let cmd = Command::new(build("AT+CCYIELD", &[])?, t)
            .with_response(b"+CCRECV:".to_vec())
            .with_response(b"+CCAUTH:".to_vec());
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("receive", &text, &r.final_result));
        }
        for f in &r.lines {
            if let Frame::Line(l) = f {
                if l.starts_with(b"+CCRECV:") {
                    return self.response_from(&mut st, l);
                }
                if l.starts_with(b"+CCAUTH:") {
                    match status_and_rest(l).map(|(s, _)| s) {
                        Some(0) => st.authed = true,
                        Some(code) => return Err(self.coap_error("auth", code)),
                        None => {}
                    }
                }
            }
        }
        Ok(None)
    }

    /// `AT+CCDEINIT`. Idempotent.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut st = lock(&self.state);
        let was = st.inited.take() == Some(self.engine.boot_generation());
        st.authed = false;
        if !was || self.engine.failure().is_some() {
            return Ok(());
        }
        let cmd = Command::new(build("AT+CCDEINIT", &[])?, CMD);
        let text = cmd.line.text().to_string();
        let r = self.engine.execute_raw(cmd)?;
        if !r.final_result.is_ok() {
            return Err(self.final_error("deinit", &text, &r.final_result));
        }
        Ok(())
    }
}

impl Drop for AliyunCoap {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            log::debug!("aliyun coap: closing on drop: {e}");
        }
    }
}

pub(super) fn check_coap_timeout(t: Duration) -> Result<()> {
    if t.is_zero() || t > Duration::from_secs(60) {
        return Err(Error::invalid(format!(
            "timeout: {t:?} is out of range (must be more than 0 and at most 60 seconds: AT+CCSEND / AT+CCAUTH take 1 to 60000 ms)"
        )));
    }
    Ok(())
}
