//! The file and SSL commands of the SM profile: `AT+CFSINIT` / `AT+CFSWFILE` /
//! `AT+CFSDFILE` / `AT+CFSTERM` (ATM ch.9), `AT+CSSLCFG` (ATM §11.2.1: `"SSLVERSION"`,
//! `"CONVERT"`, ...) and `AT+SMSSL` (ATM §17.2.2).

use super::*;
use crate::sim::parser::DataKind as CoreData;
use crate::sim::ssl::{tls_setup, TlsFiles};

/// `AT+CFSWFILE`: "less than 10240 bytes", input time 100-10000 ms, name up to 230
/// characters (ATM §9.2.2).
const FILE_MAX: i64 = 10240;

impl Modem {
    pub(super) fn cfs(&mut self, name: &str, f: Form<'_>, r: &mut Resp) -> Next {
        match (name, f) {
            ("CFSINIT", Form::Exec) => {
                // A second CFSINIT without CFSTERM: ERROR (a guess).
                if st(&self.fam).fs_open {
                    r.error();
                } else {
                    st_mut(&mut self.fam).fs_open = true;
                    r.ok();
                }
            }
            ("CFSTERM", Form::Exec) => {
                st_mut(&mut self.fam).fs_open = false;
                r.ok();
            }
            ("CFSWFILE", Form::Test) => {
                r.answer("+CFSWFILE: (0-3),230,(0-1),(1-10240),(100-10000)")
            }
            ("CFSWFILE", Form::Write(a)) => {
                let args = split_args(a);
                let name = args.get(1).map(|a| a.text.clone()).unwrap_or_default();
                let ok = int(&args, 0, 0, 3) == Some(3)
                    && int(&args, 2, 0, 1).is_some()
                    && int(&args, 4, 100, 10000).is_some()
                    && args.len() == 5
                    && !name.is_empty()
                    && name.len() <= 230;
                let size = int(&args, 3, 1, FILE_MAX - 1);
                match size {
                    // Only the customer directory (3) is imitated; CFSINIT first.
                    Some(size) if ok && st(&self.fam).fs_open => {
                        r.line("DOWNLOAD");
                        return Next::Data(CoreData::Cert(name), size as usize);
                    }
                    _ => r.error(),
                }
            }
            ("CFSDFILE", Form::Write(a)) => {
                let args = split_args(a);
                let name = args.get(1).map(|a| a.text.clone()).unwrap_or_default();
                if st(&self.fam).fs_open && self.certs.remove(&name).is_some() {
                    r.ok()
                } else {
                    r.error()
                }
            }
            _ => r.error(),
        }
        Next::Line
    }

    pub(super) fn sm_csslcfg(&mut self, f: Form<'_>, r: &mut Resp) {
        match f {
            Form::Test => {
                for l in [
                    "\"SSLVERSION\",(0-5),(0-5)",
                    "\"IGNORERTCTIME\",(0-5),(0-1)",
                    "\"PROTOCOL\",(0-5),(1-2)",
                    "\"CTXINDEX\",(0-5)",
                    "\"SNI\",(0-5),253",
                    "\"CONVERT\",(1-3),50,50,50",
                ] {
                    r.line(&format!("+CSSLCFG: {l}"));
                }
                r.ok()
            }
            Form::Write(a) => {
                let args = split_args(a);
                let key = args.first().map(|a| a.text.to_ascii_uppercase());
                let ok = match key.as_deref() {
                    Some("SSLVERSION") => match (int(&args, 1, 0, 5), int(&args, 2, 0, 5)) {
                        (Some(c), Some(v)) => {
                            st_mut(&mut self.fam).sslversion.insert(c as u8, v as u8);
                            Some(())
                        }
                        _ => None,
                    },
                    Some("IGNORERTCTIME") => {
                        int(&args, 2, 0, 1).and(int(&args, 1, 0, 5)).map(|_| ())
                    }
                    Some("PROTOCOL") => int(&args, 2, 1, 2).and(int(&args, 1, 0, 5)).map(|_| ()),
                    Some("CTXINDEX") => int(&args, 1, 0, 5).map(|_| ()),
                    Some("SNI") => int(&args, 1, 0, 5).map(|_| ()),
                    Some("CONVERT") => self.convert(&args),
                    _ => None,
                };
                if ok.is_some() {
                    r.ok()
                } else {
                    r.error()
                }
            }
            _ => r.error(),
        }
    }

    /// `"CONVERT",2,"<ca>"` takes a stored file as a root CA; `"CONVERT",1,"<cert>","<key>"`
    /// a client certificate and its key (AN80 §5.2). The files must exist.
    fn convert(&mut self, args: &[Arg]) -> Option<()> {
        let name = |i: usize| {
            args.get(i)
                .map(|a| a.text.clone())
                .filter(|n| !n.is_empty())
        };
        match int(args, 1, 1, 3)? {
            2 => {
                let ca = name(2)?;
                self.certs.contains_key(&ca).then_some(())?;
                let s = st_mut(&mut self.fam);
                if !s.cas.contains(&ca) {
                    s.cas.push(ca);
                }
                Some(())
            }
            1 => {
                let (cert, key) = (name(2)?, name(3)?);
                (self.certs.contains_key(&cert) && self.certs.contains_key(&key)).then_some(())?;
                st_mut(&mut self.fam).certs.insert(cert, key);
                Some(())
            }
            // 3: a PSK table (not imitated).
            _ => None,
        }
    }

    pub(super) fn smssl(&mut self, f: Form<'_>, r: &mut Resp) {
        match f {
            Form::Test => r.answer("+SMSSL: (0-6),20,20"),
            Form::Read => {
                let (i, ca, cert) = st(&self.fam).smssl.clone();
                r.answer(&format!("+SMSSL: {i},\"{ca}\",\"{cert}\""))
            }
            Form::Write(a) => {
                let args = split_args(a);
                let Some(i) = int(&args, 0, 0, 6) else {
                    return r.error();
                };
                let ca = args.get(1).map(|a| a.text.clone()).unwrap_or_default();
                let cert = args.get(2).map(|a| a.text.clone()).unwrap_or_default();
                if args.len() > 3 || ca.len() > 20 || cert.len() > 20 {
                    return r.error();
                }
                st_mut(&mut self.fam).smssl = (i as u8, ca, cert);
                r.ok()
            }
            Form::Exec => r.error(),
        }
    }

    /// The TLS set-up of `AT+SMCONN` from `AT+SMSSL` (a CA converted with
    /// `"CONVERT",2` is required; a certificate converted with its key makes it mutual).
    /// `Err`: the code the link fails with (the host sees `ERROR`).
    pub(super) fn sm_tls(&self, host: &str) -> Result<(rustls::ClientConfig, u16), u8> {
        let s = st(&self.fam);
        let (i, ca, cert) = &s.smssl;
        let ctx = i.saturating_sub(1);
        if !s.cas.contains(ca) {
            return Err(crate::sim::tls::NOT_SET_CERTIFICATE);
        }
        let key = match cert.as_str() {
            "" => None,
            c => Some(
                s.certs
                    .get(c)
                    .ok_or(crate::sim::tls::NOT_SET_CERTIFICATE)?
                    .as_str(),
            ),
        };
        // SSLVERSION 0-3 as the shared TLS set-up takes them (3 = TLS 1.2, the default
        // here: a guess); 4 and 5 (DTLS) fail the handshake.
        let version = s.sslversion.get(&ctx).copied().unwrap_or(3);
        if version > 3 {
            return Err(crate::sim::tls::HANDSHAKE_FAIL);
        }
        let files = TlsFiles {
            sslversion: version,
            authmode: if key.is_some() { 2 } else { 1 },
            cacert: ca,
            clientcert: if key.is_some() { cert } else { "" },
            clientkey: key.unwrap_or(""),
            negotiatetime: 30,
        };
        tls_setup(&self.certs, &files, |n| n.to_owned(), host, true)
    }
}
