//! The Alibaba firmware's CoAP commands (`AT+CC*`) and their fault injection.

use super::*;
use crate::sim::conn::OutPublish;

/// `AT+CC*` but their test forms (`aliyun_command`).
pub(super) fn coap_command(m: &mut Modem, sh: &Arc<Shared>, c: Cmd<'_>, r: &mut Resp) {
    let Some(st) = st_mut(&mut m.fam).as_mut() else {
        return r.error();
    };
    let rev = st.rev;
    let form = &c.form;
    match (c.name, form) {
        ("CCINIT", Form::Write(a)) => match triple_args(a) {
            Some((pk, dn, ds)) => {
                let old = st.coap.replace(Coap {
                    pk,
                    dn,
                    ds,
                    authed: false,
                    pending: VecDeque::new(),
                    forward: false,
                });
                end_session(m, old);
                r.ok()
            }
            None => r.error(),
        },
        ("CCINIT", Form::Read) => match &st.coap {
            Some(c) => r.answer(&format!("+CCINIT: \"{}\",\"{}\",\"{}\"", c.pk, c.dn, c.ds)),
            None => r.error(),
        },
        ("CCDEINIT", Form::Exec) => match st.coap.take() {
            Some(c) => {
                end_session(m, Some(c));
                r.ok()
            }
            None => r.error(),
        },
        ("CCAUTH", Form::Exec | Form::Write(_)) => {
            let Some(ms) = wait_arg(form, 0..=60_000, 10_000) else {
                return r.error();
            };
            let forced = st.faults.auth_error.take();
            let Some(c) = st.coap.as_mut() else {
                return coap_error(r, rev, -1, "+CCAUTH: 6".into());
            };
            let code = forced.unwrap_or(0);
            c.authed = code == 0;
            // The forward link to the broker, once per session.
            let forward = (code == 0 && !c.forward).then(|| {
                let mut opts = MqttOptions::new(
                    format!("{}.{}-coap-{}", c.pk, c.dn, now_ms()),
                    sh.broker_host.clone(),
                    sh.broker_port,
                );
                opts.set_keep_alive(Duration::from_secs(60));
                opts
            });
            if ms != 0 && rev == Rev::V1 && code != 0 && code != -1 {
                return r.line(&format!("+CME ERROR: {code}"));
            }
            coap_result(c, rev, ms, format!("+CCAUTH: {code}"), r);
            if let Some(opts) = forward {
                let link = spawn(sh, m, FORWARD, opts);
                if let Some(c) = st_mut(&mut m.fam).as_mut().and_then(|s| s.coap.as_mut()) {
                    c.forward = link.is_some();
                }
                m.links[FORWARD] = link;
            }
        }
        ("CCSEND", Form::Write(a)) => {
            let Some(args) = split_args_strict(a, true) else {
                return r.error();
            };
            let ms = match (rev, args.len()) {
                (Rev::V1, 3) | (Rev::V2, 3) => int_arg(&args, 2, 0, 60_000),
                (Rev::V2, 2) => Some(10_000),
                _ => None,
            };
            let (Some(topic), Some(msg), Some(ms)) =
                (str_arg(&args, 0, 64), quoted_arg(&args, 1), ms)
            else {
                return r.error();
            };
            let forced_err = st.faults.send_error.take();
            let forced_code = st.faults.response;
            let Some(c) = st.coap.as_mut() else {
                return coap_error(r, rev, -1, "+CCRECV: 6".into());
            };
            // Error before anything is sent.
            let err = forced_err.or(if msg.len() > 1024 {
                Some(if rev == Rev::V1 { -7 } else { 14 })
            } else if !c.authed {
                Some(if rev == Rev::V1 { -5 } else { 12 })
            } else {
                None
            });
            if let Some(e) = err {
                return coap_error(r, rev, e, format!("+CCRECV: {e}"));
            }
            let code = forced_code.unwrap_or(0x45);
            let topic = if topic.starts_with('/') {
                topic
            } else {
                format!("/{}/{}/{}", c.pk, c.dn, topic)
            };
            let forward = code == 0x45 && c.forward;
            if code == 0x81 {
                c.authed = false;
            }
            let line = match rev {
                Rev::V1 => format!("+CCRECV: 0,\"0x{code:02X}\""),
                Rev::V2 => format!("+CCRECV: 0,\"0x{code:02X}\",\"\""),
            };
            coap_result(c, rev, ms, line, r);
            // Published to the broker, so tests can watch what was sent (nothing is
            // reported back: `SimFamily::link_event` drops the forward link's events).
            if let Some(f) = m.links[FORWARD].as_ref().filter(|_| forward) {
                let publish = OutPublish {
                    answered: true,
                    ..OutPublish::new(topic, 1, false, msg)
                };
                f.queue_publish(publish, NO_TIMEOUT, None);
            }
        }
        ("CCYIELD", Form::Exec) => {
            let Some(c) = st.coap.as_mut() else {
                return match rev {
                    Rev::V1 => r.line("+CME ERROR: -1"),
                    Rev::V2 => r.error(),
                };
            };
            while let Some(l) = c.pending.pop_front() {
                r.line(&l);
            }
            r.ok()
        }
        _ => r.error(),
    }
}

/// The CoAP session `old` ended (`AT+CCINIT` again, `AT+CCDEINIT`): its forward link goes.
fn end_session(m: &mut Modem, old: Option<Coap>) {
    if old.is_some_and(|c| c.forward) {
        m.links[FORWARD] = None;
    }
}

/// A CoAP command fails: `+CME ERROR: <cme>` on the first revision, `OK` then the URC
/// `urc` on the second.
pub(super) fn coap_error(r: &mut Resp, rev: Rev, cme: i32, urc: String) {
    match rev {
        Rev::V1 => r.line(&format!("+CME ERROR: {cme}")),
        Rev::V2 => {
            r.ok();
            r.urc_after(urc);
        }
    }
}

/// A CoAP command's result `line`: kept for `AT+CCYIELD` when the wait `ms` is 0, else in
/// the response on the first revision, or as a URC after `OK` on the second.
pub(super) fn coap_result(c: &mut Coap, rev: Rev, ms: i64, line: String, r: &mut Resp) {
    match (rev, ms) {
        (_, 0) => {
            c.pending.push_back(line);
            r.ok()
        }
        (Rev::V1, _) => r.answer(&line),
        (Rev::V2, _) => {
            r.ok();
            r.urc_after(line);
        }
    }
}

/// Applies `f` to the Alibaba state of `vm`, after checking that it is open and has an
/// Alibaba-cloud profile.
pub(super) fn with_aliyun(vm: &VirtualModem, f: impl FnOnce(&mut State)) -> Result<(), SimError> {
    vm.check_open()?;
    if rev_of(vm.shared.profile).is_none() {
        return Err(SimError::InvalidArgument(format!(
            "{} is not an Alibaba-cloud profile",
            vm.shared.profile.name
        )));
    }
    if let Some(st) = st_mut(&mut vm.shared.state().fam).as_mut() {
        f(st);
    }
    Ok(())
}

impl VirtualModem {
    /// Forces the `<resp_code>` of the following `AT+CCSEND`s (`None`: 0x45 again).
    pub fn force_coap_response(&self, code: Option<u8>) -> Result<(), SimError> {
        with_aliyun(self, |st| st.faults.response = code)
    }

    /// Makes the next `AT+CCAUTH` fail with `code` (revision 1: IOTX code, e.g. -4;
    /// revision 2: 1-14).
    pub fn force_coap_auth_error(&self, code: i32) -> Result<(), SimError> {
        with_aliyun(self, |st| st.faults.auth_error = Some(code))
    }

    /// Whether the MQTT login is signed with a timestamp (default, as the firmware does);
    /// without, the password is stable and a broker can check it from a password file.
    pub fn set_sign_timestamp(&self, on: bool) -> Result<(), SimError> {
        with_aliyun(self, |st| st.sign_timestamp = on)
    }

    /// Makes the next `AT+CCSEND` fail with `code`.
    pub fn force_coap_send_error(&self, code: i32) -> Result<(), SimError> {
        with_aliyun(self, |st| st.faults.send_error = Some(code))
    }
}
