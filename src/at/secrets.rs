//! Which parameters of which commands carry a secret, in every family, so that a line typed
//! by a user (`modem.command(...)`, `modemqtt at`) is masked in transcripts, recordings,
//! the wire log and exception texts as the library's own commands are.

/// Command prefixes (upper case, up to and including `=`, plus a leading sub-command where
/// the secret depends on it) and the 0-based indexes of their secret parameters.
const SECRET_PARAMS: &[(&str, &str, &[usize])] = &[
    // SIMCom A7600 003 §2.2.7: <client_index>,<server_addr>,<keepalive_time>,
    // <clean_session>[,<user_name>[,<pass_word>]]
    ("AT+CMQTTCONNECT=", "", &[5]),
    // Quectel MQTT note: AT+QMTCONN=<client_idx>,<clientID>[,<username>,<password>]
    ("AT+QMTCONN=", "", &[3]),
    // AT+QMTCFG="aliauth",<client_idx>,<product_key>,<device_name>,<device_secret>
    ("AT+QMTCFG=", "\"ALIAUTH\"", &[4]),
    // SIMCom Alibaba 000 §3.1 / 002: AT+CMAUTH=<productkey>,<devicename>,<devicesecret>
    // [,<productsecret>]; AT+CCINIT the same triple for CoAP.
    ("AT+CMAUTH=", "", &[2, 3]),
    ("AT+CCINIT=", "", &[2, 3]),
];

/// Commands whose data (sent after the `>` prompt) is a certificate or key body.
const SECRET_DATA: &[&str] = &["AT+CCERTDOWN=", "AT+QFUPL="];

/// Splits the parameter text of a command line at the commas outside double quotes;
/// returns the byte ranges of the parameters (quotes included).
fn params(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((start, text.len()));
    out
}

fn upper_prefix(line: &str, n: usize) -> Option<String> {
    line.get(..n).map(str::to_ascii_uppercase)
}

/// The secret values in `line` (unquoted), and the line with each of them shown as
/// `"***"` (or `***` where it was not quoted).
pub fn mask_line(line: &str) -> (String, Vec<String>) {
    let trimmed = line.trim_start();
    let lead = line.len() - trimmed.len();
    for (prefix, sub, idxs) in SECRET_PARAMS {
        if upper_prefix(trimmed, prefix.len()).as_deref() != Some(prefix) {
            continue;
        }
        let body_at = lead + prefix.len();
        let body = &line[body_at..];
        let ranges = params(body);
        if !sub.is_empty() {
            let first = ranges
                .first()
                .and_then(|&(a, b)| body.get(a..b))
                .map(|s| s.trim().to_ascii_uppercase());
            if first.as_deref() != Some(sub) {
                continue;
            }
        }
        let mut masked = line[..body_at].to_string();
        let mut secrets = Vec::new();
        for (i, &(a, b)) in ranges.iter().enumerate() {
            if i > 0 {
                masked.push(',');
            }
            let value = &body[a..b];
            if idxs.contains(&i) && !value.trim().is_empty() {
                let v = value.trim();
                let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
                let inner = if quoted { &v[1..v.len() - 1] } else { v };
                secrets.push(inner.to_string());
                masked.push_str(if quoted { "\"***\"" } else { "***" });
            } else {
                masked.push_str(value);
            }
        }
        return (masked, secrets);
    }
    (line.to_string(), Vec::new())
}

/// Whether the data sent after this command's prompt is a secret (a certificate or key).
pub fn data_is_secret(line: &str) -> bool {
    let t = line.trim_start();
    SECRET_DATA
        .iter()
        .any(|p| upper_prefix(t, p.len()).as_deref() == Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_secret_parameter_of_each_family() {
        let cases = [
            (
                "AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1,\"bob\",\"pw,\\\"x\"",
                "AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1,\"bob\",\"***\"",
                "pw,\\\"x",
            ),
            (
                "at+qmtconn=0,\"c\",\"bob\",\"s3cret\"",
                "at+qmtconn=0,\"c\",\"bob\",\"***\"",
                "s3cret",
            ),
            (
                "AT+QMTCFG=\"aliauth\",0,\"pk\",\"dn\",\"ds123\"",
                "AT+QMTCFG=\"aliauth\",0,\"pk\",\"dn\",\"***\"",
                "ds123",
            ),
            (
                "AT+CMAUTH=\"pk\",\"dn\",\"ds123\"",
                "AT+CMAUTH=\"pk\",\"dn\",\"***\"",
                "ds123",
            ),
            (
                "AT+CCINIT=\"pk\",\"dn\",\"ds123\"",
                "AT+CCINIT=\"pk\",\"dn\",\"***\"",
                "ds123",
            ),
        ];
        for (line, masked, secret) in cases {
            let (m, s) = mask_line(line);
            assert_eq!(m, masked);
            assert_eq!(s, vec![secret.to_string()]);
        }
    }

    #[test]
    fn leaves_other_lines_alone() {
        for line in [
            "AT+CMQTTCONNECT=0,\"tcp://h:1883\",60,1",
            "AT+QMTCONN=0,\"c\"",
            "AT+QMTCFG=\"will\",0,1,1,0,\"t\",\"m\"",
            "AT+CSQ",
            "AT",
        ] {
            assert_eq!(mask_line(line), (line.to_string(), Vec::new()));
        }
        assert!(data_is_secret("AT+CCERTDOWN=\"ca.pem\",1200"));
        assert!(data_is_secret("at+qfupl=\"UFS:ca.pem\",1200,100"));
        assert!(!data_is_secret("AT+CMQTTPAYLOAD=0,10"));
    }
}
