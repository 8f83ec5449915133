//! TLS: credentials imported with `AT+USECMNG`, a security profile set with `AT+USECPRF`
//! (ubxlib `u_security_credential.c`, `u_cell_sec_tls.c`; field TinyGSM#136 for the
//! `+USECMNG` answer).

use md5::{Digest, Md5};

use super::*;
use crate::mqtt::Tls;

/// The security profiles `AT+USECPRF` takes (0-4).
const PROFILES: u8 = 5;

/// Checks the TLS options before anything is sent.
pub(super) fn check(tls: &Tls) -> Result<()> {
    if tls.context.is_some_and(|c| c >= PROFILES) {
        return Err(Error::invalid(
            "tls context: must be 0 to 4 on umqtt (the AT+USECPRF security profile)",
        ));
    }
    Ok(())
}

/// The MD5 of `data` in lower-case hex, as `+USECMNG` prints it.
pub fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `AT+USECMNG=0,<type>,"<name>",<size>`, `>`, the bytes, then
/// `+USECMNG: 0,<type>,"<name>","<md5>"`: the MD5 is checked.
fn import(c: &UmqttClient, kind: i64, name: &str, content: &[u8], secret: bool) -> Result<()> {
    let mut cmd = Command::new(
        build(
            "AT+USECMNG",
            &[
                Arg::Int(0),
                Arg::Int(kind),
                Arg::Str(name),
                Arg::Int(content.len() as i64),
            ],
        )?,
        Duration::from_secs(30),
    )
    .with_data(content.to_vec())
    .with_response(b"+USECMNG:".to_vec());
    cmd.data_secret = secret;
    let text = cmd.line.text().to_string();
    let r = c.engine().execute(cmd)?;
    let value = r.value("+USECMNG:").unwrap_or_default();
    let got = value
        .rsplit(',')
        .next()
        .map(|m| m.trim().trim_matches('"').to_ascii_lowercase());
    let want = md5_hex(content);
    match got {
        Some(m) if m == want => Ok(()),
        Some(m) if !m.is_empty() => Err(Error::Protocol(format!(
            "{text}: the modem's MD5 {m} is not the data's {want}: the credential arrived damaged"
        ))),
        _ => Err(Error::Protocol(format!(
            "{text}: no MD5 to verify in {value:?}"
        ))),
    }
}

/// Imports the credentials and sets up security profile `tls.context` (default 0) for a
/// connection to `host`; returns the profile.
pub(super) fn configure(c: &UmqttClient, tls: &Tls, host: &str) -> Result<u8> {
    let prf = tls.context.unwrap_or(0);
    let usecprf = |op: i64, value: Arg| -> Result<()> {
        let cmd = Command::new(
            build("AT+USECPRF", &[Arg::Int(prf as i64), Arg::Int(op), value])?,
            CMD,
        );
        c.engine().execute(cmd).map(|_| ())
    };
    // 0: certificate validation level (0 none, 1 against the root certificate).
    usecprf(0, Arg::Int(tls.verify_server as i64))?;
    // 1: minimum TLS version (0 any, 1 TLS 1.0, 2 TLS 1.1, 3 TLS 1.2).
    let version = match tls.ssl_version {
        v @ 1..=3 => v,
        _ => 0,
    };
    usecprf(1, Arg::Int(version as i64))?;
    // 3 trusted root, 5 client certificate, 6 client key: names of imported credentials.
    for (kind, op, key, content, secret) in [
        (0, 3, "cacert", &tls.ca_cert, false),
        (1, 5, "clientcert", &tls.client_cert, false),
        (2, 6, "clientkey", &tls.client_key, true),
    ] {
        if let Some(pem) = content {
            // Derived names: nothing of the user's file names reaches the command line.
            let name = format!("mqtt{prf}_{key}.pem");
            import(c, kind, &name, pem, secret)?;
            usecprf(op, Arg::Str(&name))?;
        }
    }
    // 10: server name indication.
    if mqtt::check_quotable("host", host).is_ok() {
        usecprf(10, Arg::Str(host))?;
    }
    Ok(prf)
}
