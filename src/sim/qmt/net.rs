//! The Quectel network side: PDP contexts (`AT+QICSGP`, `AT+QIACT`, `AT+QIDEACT`), the
//! SSL contexts (`AT+QSSLCFG`) and the network's own deactivation of a context
//! (`VirtualModem::pdp_deactivate`).

use super::*;

/// The address of an active context.
pub(super) fn context_ip(cid: u8) -> String {
    format!("10.49.14.{}", 67 + u16::from(cid))
}

/// `AT+QICSGP`, `AT+QIACT`, `AT+QIDEACT` (Quectel TCP/IP AT Commands Manual, §2.1.x:
/// `+QICSGP: <context_type>,"<APN>","<username>","<password>",<authentication>`, `+QIACT:
/// <contextID>,<context_state>,<context_type>[,"<IP_address>"]` for active contexts only, as
/// the field trace `ec25_quectelforum3562_qmtopen_fail.at` shows with a bare `OK`),
/// `AT+QCCID` and `AT+QNWINFO` (BG96 / EC2x AT manuals).
pub(super) fn network(m: &mut Modem, name: &str, form: &Form<'_>, r: &mut Resp) {
    match (name, form) {
        ("QICSGP", Form::Test) => {
            r.line("+QICSGP: (1-16),(1-3),\"APN\",\"USERNAME\",\"PASSWORD\",(0-3)");
            r.ok()
        }
        ("QICSGP", Form::Write(a)) => {
            let args = split_args(a);
            let Some(cid) = int(&args, 0, 1, 16).map(|c| c as u8) else {
                return r.error();
            };
            if args.len() == 1 {
                let (ty, apn) = m
                    .cgdcont
                    .get(&cid)
                    .map(|(t, a)| (t.as_str(), a.as_str()))
                    .unwrap_or(("IP", ""));
                let ty = match ty {
                    "IPV6" => 2,
                    "IPV4V6" => 3,
                    _ => 1,
                };
                let (user, pass, auth) = m.qicsgp_auth.get(&cid).cloned().unwrap_or_default();
                r.line(&format!(
                    "+QICSGP: {ty},\"{apn}\",\"{user}\",\"{pass}\",{auth}"
                ));
                return r.ok();
            }
            let (Some(ty), Some(auth)) = (int(&args, 1, 1, 3), opt_int(&args, 5, 0, 3, 0)) else {
                return r.error();
            };
            // <context_type>,<APN>[,<username>,<password>[,<authentication>]]
            if args.len() > 6 || args.len() == 4 {
                return r.error();
            }
            let text = |i: usize| args.get(i).map(unquote).unwrap_or_default();
            let (apn, user, pass) = (text(2), text(3), text(4));
            if apn.len() > 100 || user.len() > 127 || pass.len() > 127 {
                return r.error();
            }
            let ty = ["IP", "IPV6", "IPV4V6"][ty as usize - 1].to_owned();
            m.cgdcont.insert(cid, (ty, apn));
            m.qicsgp_auth.insert(cid, (user, pass, auth as u8));
            r.ok()
        }
        ("QIACT", Form::Test) => {
            r.line("+QIACT: (1-16)");
            r.ok()
        }
        ("QIACT", Form::Read) => {
            let active: Vec<u8> = m.active.iter().copied().collect();
            for cid in active {
                let ty = match m.cgdcont.get(&cid).map(|(t, _)| t.as_str()) {
                    Some("IPV6") => 2,
                    Some("IPV4V6") => 3,
                    _ => 1,
                };
                r.line(&format!("+QIACT: {cid},1,{ty},\"{}\"", context_ip(cid)));
            }
            r.ok()
        }
        // Activating an active context answers OK here (a guess); one the module cannot
        // bring up (not registered, not defined) answers ERROR.
        ("QIACT", Form::Write(a)) => match int(&split_args(a), 0, 1, 16) {
            Some(cid) if m.context_up(cid as u8) => r.ok(),
            _ => r.error(),
        },
        ("QIDEACT", Form::Write(a)) => match int(&split_args(a), 0, 1, 16) {
            Some(cid) => {
                r.ok();
                m.contexts_down(&[cid as u8], false, r);
            }
            None => r.error(),
        },
        ("QIDEACT", Form::Test) => {
            r.line("+QIDEACT: (1-16)");
            r.ok()
        }
        ("QCCID", Form::Exec) => {
            r.line(&format!("+QCCID: {}", m.profile.iccid));
            r.ok()
        }
        ("QCCID" | "QNWINFO", Form::Test) => r.ok(),
        // +QNWINFO: <Act>,<oper>,<band>,<channel>; "No Service" without a network.
        ("QNWINFO", Form::Exec) => {
            if m.registered() {
                let (act, band, channel) = if m.profile.act == 8 {
                    ("CAT-M1", "LTE BAND 3", 1575)
                } else {
                    ("FDD LTE", "LTE BAND 3", 1650)
                };
                r.line(&format!(
                    "+QNWINFO: \"{act}\",\"46000\",\"{band}\",{channel}"
                ));
            } else {
                r.line("+QNWINFO: No Service");
            }
            r.ok()
        }
        _ => r.error(),
    }
}
pub(super) fn sslcfg(m: &mut Modem, a: &str, r: &mut Resp) {
    let args = split_args(a);
    let key = args
        .first()
        .map(|a| a.text.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(ctx) = int(&args, 1, 0, i64::from(m.profile.ssl_ctx_max)) else {
        return r.error();
    };
    let c = &mut st_mut(&mut m.fam).ssl[ctx as usize];
    if args.len() == 2 {
        let v = match key.as_str() {
            "sslversion" => c.sslversion.to_string(),
            "seclevel" => c.seclevel.to_string(),
            "ciphersuite" => c.ciphersuite.clone(),
            "ignorelocaltime" => c.ignorelocaltime.to_string(),
            "negotiatetime" => c.negotiatetime.to_string(),
            "cacert" => format!("\"{}\"", c.cacert),
            "clientcert" => format!("\"{}\"", c.clientcert),
            "clientkey" => format!("\"{}\"", c.clientkey),
            _ => return r.error(),
        };
        r.line(&format!("+QSSLCFG: \"{key}\",{ctx},{v}"));
        return r.ok();
    }
    let ok = match key.as_str() {
        "sslversion" => int(&args, 2, 0, 4).map(|v| c.sslversion = v as u8),
        "seclevel" => int(&args, 2, 0, 2).map(|v| c.seclevel = v as u8),
        "ciphersuite" => args.get(2).map(|v| c.ciphersuite = v.text.clone()),
        "ignorelocaltime" => int(&args, 2, 0, 1).map(|v| c.ignorelocaltime = v as u8),
        "negotiatetime" => int(&args, 2, 10, 300).map(|v| c.negotiatetime = v as u16),
        "cacert" | "clientcert" | "clientkey" => {
            let files = [&mut c.cacert, &mut c.clientcert, &mut c.clientkey];
            set_file_name(files, &key, args.get(2), usize::MAX)
        }
        _ => None,
    };
    if ok.is_some() {
        r.ok()
    } else {
        r.error()
    }
}
impl VirtualModem {
    /// QMT profiles: the network deactivates PDP context `cid`: every client
    /// open on it loses its link (no DISCONNECT), then the modem reports
    /// `+QIURC: "pdpdeact",<cid>`. The context stays down (`AT+QIACT?`, `AT+CGACT?`)
    /// until the host activates it or `AT+QMTOPEN` does.
    pub fn pdp_deactivate(&self, cid: u8) -> Result<(), SimError> {
        self.check_open()?;
        if self.shared.profile.family != crate::sim::profile::Family::Qmt {
            return Err(SimError::InvalidArgument(format!(
                "pdp_deactivate: only QMT profiles report +QIURC, not {}",
                self.shared.profile.name
            )));
        }
        if !(1..=16).contains(&cid) {
            return Err(SimError::InvalidArgument(format!(
                "cid: must be 1 to 16, got {cid}"
            )));
        }
        let links = {
            let mut st = self.shared.state();
            st.active.remove(&cid);
            let mut links = Vec::new();
            for idx in 0..self.shared.profile.clients {
                if st_mut(&mut st.fam).is_open_on(idx, cid) {
                    links.extend(st.take_link(idx));
                    st_mut(&mut st.fam).close_network(idx);
                }
            }
            links
        };
        for l in links {
            l.shutdown(Duration::from_secs(5));
        }
        let st = self.shared.state();
        self.shared
            .write_net(format!("\r\n+QIURC: \"pdpdeact\",{cid}\r\n").into_bytes());
        drop(st);
        Ok(())
    }
}
