//! The SIMCom SSL commands shared by the CMQTT and Alibaba profiles: `AT+CSSLCFG`
//! (SSL contexts) and the certificate files (`AT+CCERTDOWN`, `AT+CCERTLIST`,
//! `AT+CCERTDELE`).
//!
//! `AT+CSSLCFG`, `AT+CCERTDOWN`/`LIST`/`DELE` and `AT+CMQTTSSLCFG` configure a real TLS
//! link to the broker (see `tls` for authmodes, versions and error codes).

use std::collections::BTreeMap;

use super::args::{int, split_args, Arg, Form, Resp};
use super::parser::{DataKind, Next};
use super::tls;

/// The module's file system: certificate files by name (they survive a restart).
pub(crate) type Files = BTreeMap<String, Vec<u8>>;

const CERT_MAX: usize = 10240;

#[derive(Clone)]
pub(crate) struct SslCtx {
    sslversion: u8,
    authmode: u8,
    ignorelocaltime: u8,
    negotiatetime: u16,
    cacert: String,
    clientcert: String,
    clientkey: String,
}

impl Default for SslCtx {
    fn default() -> Self {
        SslCtx {
            sslversion: 4,
            authmode: 0,
            ignorelocaltime: 1,
            negotiatetime: 300,
            cacert: String::new(),
            clientcert: String::new(),
            clientkey: String::new(),
        }
    }
}

/// What a TLS link needs of one SSL context, in either family's terms: the version, the
/// authentication mode (Quectel's `seclevel` 0/1/2 means SIMCom's `authmode` 0/1/2), the
/// names of the files and the handshake time limit.
pub(crate) struct TlsFiles<'a> {
    pub(crate) sslversion: u8,
    pub(crate) authmode: u8,
    pub(crate) cacert: &'a str,
    pub(crate) clientcert: &'a str,
    pub(crate) clientkey: &'a str,
    pub(crate) negotiatetime: u16,
}

/// Sets the file name `key` ("cacert", "clientcert" or "clientkey") among an SSL context's
/// `files` (in that order) to `value`, which must be set, not empty and at most `max` bytes
/// long; `None` when it is not.
pub(crate) fn set_file_name(
    files: [&mut String; 3],
    key: &str,
    value: Option<&Arg>,
    max: usize,
) -> Option<()> {
    let v = value.filter(|v| !v.text.is_empty() && v.text.len() <= max)?;
    let [cacert, clientcert, clientkey] = files;
    let slot = match key {
        "cacert" => cacert,
        "clientcert" => clientcert,
        _ => clientkey,
    };
    *slot = v.text.clone();
    Some(())
}

impl SslCtx {
    pub(crate) fn files(&self) -> TlsFiles<'_> {
        TlsFiles {
            sslversion: self.sslversion,
            authmode: self.authmode,
            cacert: &self.cacert,
            clientcert: &self.clientcert,
            clientkey: &self.clientkey,
            negotiatetime: self.negotiatetime,
        }
    }
}

/// The TLS configuration of a link from the SSL context `c` (see `tls`), its files
/// looked up in the module's file system `certs` under `key(name)`, the server checked
/// against `host` as the host wrote it (also when the link is redirected). With
/// `need_files`, a file the authmode needs that is not set or not uploaded fails with
/// [`tls::NOT_SET_CERTIFICATE`] before anything is built. `Err`: the code the link fails
/// with.
pub(crate) fn tls_setup(
    certs: &Files,
    c: &TlsFiles<'_>,
    key: impl Fn(&str) -> String,
    host: &str,
    need_files: bool,
) -> Result<(rustls::ClientConfig, u16), u8> {
    let file = |n: &str| -> Option<&[u8]> {
        if n.is_empty() {
            None
        } else {
            certs.get(&key(n)).map(Vec::as_slice)
        }
    };
    let setup = tls::Setup {
        sslversion: c.sslversion,
        authmode: c.authmode,
        cacert: file(c.cacert),
        clientcert: file(c.clientcert),
        clientkey: file(c.clientkey),
        server_name: host,
    };
    if need_files {
        let (need_ca, need_client) = tls::needs(c.authmode);
        if (need_ca && setup.cacert.is_none())
            || (need_client && (setup.clientcert.is_none() || setup.clientkey.is_none()))
        {
            return Err(tls::NOT_SET_CERTIFICATE);
        }
    }
    let cfg = tls::client_config(&setup)?;
    Ok((cfg, c.negotiatetime))
}

/// `AT+CSSLCFG` on the SSL contexts `ssl` (0 to `max`).
pub(crate) fn csslcfg(ssl: &mut [SslCtx], max: u8, f: Form<'_>, r: &mut Resp) {
    match f {
        Form::Test => {
            r.line(&format!("+CSSLCFG: \"sslversion\",(0-{max}),(0-4)"));
            r.line(&format!("+CSSLCFG: \"authmode\",(0-{max}),(0-3)"));
            r.line(&format!("+CSSLCFG: \"ignorelocaltime\",(0-{max}),(0-1)"));
            r.line(&format!("+CSSLCFG: \"negotiatetime\",(0-{max}),(10-300)"));
            r.line(&format!("+CSSLCFG: \"cacert\",(0-{max}),(5-108)"));
            r.line(&format!("+CSSLCFG: \"clientcert\",(0-{max}),(5-108)"));
            r.line(&format!("+CSSLCFG: \"clientkey\",(0-{max}),(5-108)"));
            r.ok()
        }
        Form::Write(a) => {
            let args = split_args(a);
            // `AT+CSSLCFG=<ctx>` reads one context.
            if args.len() == 1 {
                return match int(&args, 0, 0, i64::from(max)) {
                    Some(c) => {
                        csslcfg_line(ssl, c as usize, r);
                        r.ok()
                    }
                    None => r.error(),
                };
            }
            let key = args[0].text.to_ascii_lowercase();
            let Some(ctx) = int(&args, 1, 0, i64::from(max)) else {
                return r.error();
            };
            let c = &mut ssl[ctx as usize];
            let ok = match key.as_str() {
                "sslversion" => int(&args, 2, 0, 4).map(|v| c.sslversion = v as u8),
                "authmode" => int(&args, 2, 0, 3).map(|v| c.authmode = v as u8),
                // The manual's own example spells it "ignorlocaltime".
                "ignorelocaltime" | "ignorlocaltime" => {
                    int(&args, 2, 0, 1).map(|v| c.ignorelocaltime = v as u8)
                }
                "negotiatetime" => int(&args, 2, 10, 300).map(|v| c.negotiatetime = v as u16),
                "cacert" | "clientcert" | "clientkey" => {
                    let files = [&mut c.cacert, &mut c.clientcert, &mut c.clientkey];
                    set_file_name(files, &key, args.get(2), 108)
                }
                "enablesni" => int(&args, 2, 0, 1).map(|_| ()),
                _ => None,
            };
            if ok.is_some() {
                r.ok()
            } else {
                r.error()
            }
        }
        Form::Read => {
            for i in 0..ssl.len() {
                csslcfg_line(ssl, i, r);
            }
            r.ok()
        }
        Form::Exec => r.error(),
    }
}

fn csslcfg_line(ssl: &[SslCtx], i: usize, r: &mut Resp) {
    if let Some(c) = ssl.get(i) {
        r.line(&format!(
            "+CSSLCFG: {i},{},{},{},{},\"{}\",\"{}\",\"{}\"",
            c.sslversion,
            c.authmode,
            c.ignorelocaltime,
            c.negotiatetime,
            c.cacert,
            c.clientcert,
            c.clientkey
        ));
    }
}

/// `AT+CCERTDOWN="name",len`: the prompt for the file's bytes.
pub(crate) fn certdown(a: &str, r: &mut Resp) -> Next {
    let args = split_args(a);
    let name = args.first().map(|a| a.text.clone()).unwrap_or_default();
    let len = int(&args, 1, 1, CERT_MAX as i64);
    let lname = name.to_ascii_lowercase();
    match len {
        Some(len)
            if args.len() == 2
                && !name.is_empty()
                && name.len() <= 108
                && (lname.ends_with(".pem") || lname.ends_with(".der")) =>
        {
            r.prompt();
            Next::Data(DataKind::Cert(name), len as usize)
        }
        _ => {
            r.error();
            Next::Line
        }
    }
}
