//! TLS for SSL clients (`AT+CMQTTACCQ=<idx>,"<id>",1`): turns an SSL context
//! (`AT+CSSLCFG`) and the files uploaded with `AT+CCERTDOWN` into a rustls
//! client configuration, and recognises TLS failures for the manual's error
//! codes.
//!
//! rustls runs with the `ring` provider, given explicitly (no process-wide
//! default provider is installed or needed).
//!
//! Decisions where the real modem cannot be imitated exactly:
//! * `sslversion` 0-2 (SSL 3.0, TLS 1.0, TLS 1.1) are not spoken by rustls:
//!   a connect with them fails with 32 (handshake fail), as it would against
//!   any current broker. 3 is TLS 1.2 only, 4 ("all") TLS 1.2 and 1.3.
//! * `ignorelocaltime` is stored and reported but the certificates' validity
//!   is always checked against the host clock: the option exists because a
//!   modem's clock may be unset, and the virtual modem's clock is right.
//! * A file that is uploaded but holds no PEM certificate (or no private key,
//!   for `clientkey`), or a key that does not match its certificate, counts as
//!   "not set certificate" (33), like a missing file.
//! * The server's certificate is checked against the host of the CONNECT
//!   address even when the link is redirected to the modem's broker (see the
//!   `sim` module docs), so a certificate made for `broker.example.org`
//!   verifies as it would on a real network; the SNI the broker sees is the
//!   redirect target's host name (none for an IP address).

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// `+CMQTTCONNECT` error: handshake fail.
pub(crate) const HANDSHAKE_FAIL: u8 = 32;
/// `+CMQTTCONNECT` error: not set certificate.
pub(crate) const NOT_SET_CERTIFICATE: u8 = 33;

/// One SSL context with its files' contents, ready to connect.
pub(crate) struct Setup<'a> {
    pub sslversion: u8,
    pub authmode: u8,
    pub cacert: Option<&'a [u8]>,
    pub clientcert: Option<&'a [u8]>,
    pub clientkey: Option<&'a [u8]>,
    /// The host of the CONNECT address: the name the server's certificate
    /// must carry (authmode 1 and 2).
    pub server_name: &'a str,
}

/// Whether an authmode needs each file: (cacert, clientcert + clientkey).
///
/// 0 = no authentication, 1 = verify the server, 2 = verify the server and
/// present a client certificate, 3 = present a client certificate without
/// verifying the server (the SSL manual's authmode list).
pub(crate) fn needs(authmode: u8) -> (bool, bool) {
    match authmode {
        0 => (false, false),
        1 => (true, false),
        2 => (true, true),
        _ => (false, true),
    }
}

/// The rustls client configuration for `s`, or the `+CMQTTCONNECT` error
/// code that the connect fails with.
pub(crate) fn client_config(s: &Setup<'_>) -> Result<ClientConfig, u8> {
    let provider = Arc::new(ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match s.sslversion {
        3 => &[&rustls::version::TLS12],
        4 => rustls::DEFAULT_VERSIONS,
        _ => return Err(HANDSHAKE_FAIL),
    };
    let (need_ca, need_client) = needs(s.authmode);
    let check = if need_ca {
        let ca = s.cacert.ok_or(NOT_SET_CERTIFICATE)?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca) {
            let cert = cert.map_err(|_| NOT_SET_CERTIFICATE)?;
            roots.add(cert).map_err(|_| NOT_SET_CERTIFICATE)?;
        }
        if roots.is_empty() {
            return Err(NOT_SET_CERTIFICATE);
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|_| NOT_SET_CERTIFICATE)?;
        // A host that cannot be a certificate name cannot be verified.
        let name = ServerName::try_from(s.server_name.to_owned()).map_err(|_| HANDSHAKE_FAIL)?;
        Some((verifier, name))
    } else {
        None
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|_| HANDSHAKE_FAIL)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ModemVerifier { check, provider }));
    if need_client {
        let pem = s.clientcert.ok_or(NOT_SET_CERTIFICATE)?;
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| NOT_SET_CERTIFICATE)?;
        if chain.is_empty() {
            return Err(NOT_SET_CERTIFICATE);
        }
        let key = s.clientkey.ok_or(NOT_SET_CERTIFICATE)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| NOT_SET_CERTIFICATE)?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|_| NOT_SET_CERTIFICATE)
    } else {
        Ok(builder.with_no_client_auth())
    }
}

/// Checks the server as the SSL context says: not at all (authmode 0 and 3)
/// or against the CA file and the CONNECT host's name (1 and 2). Handshake
/// signatures are always checked, so the peer must hold the key of the
/// certificate it shows.
#[derive(Debug)]
struct ModemVerifier {
    check: Option<(Arc<WebPkiServerVerifier>, ServerName<'static>)>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ModemVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _name_connected_to: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            None => Ok(ServerCertVerified::assertion()),
            Some((verifier, name)) => {
                verifier.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether a failure was raised by the TLS layer (a certificate rejected by
/// either side, an alert, a peer that does not speak TLS). rustls errors
/// travel inside `io::Error`s, whose `source()` skips the wrapped error, so
/// both ways down the chain are followed.
pub(crate) fn is_tls_failure(e: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    // The chains are short; the bound only guards against a cycle.
    for _ in 0..16 {
        let Some(err) = cur else { return false };
        if err.is::<rustls::Error>() {
            return true;
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(authmode: u8, sslversion: u8) -> Setup<'static> {
        Setup {
            sslversion,
            authmode,
            cacert: None,
            clientcert: None,
            clientkey: None,
            server_name: "broker.example.org",
        }
    }

    #[test]
    fn authmode_0_needs_no_files() {
        assert!(client_config(&setup(0, 4)).is_ok());
        assert!(client_config(&setup(0, 3)).is_ok());
    }

    #[test]
    fn old_protocol_versions_fail_the_handshake() {
        for v in 0..=2 {
            assert_eq!(client_config(&setup(0, v)).err(), Some(HANDSHAKE_FAIL));
        }
    }

    #[test]
    fn files_without_pem_content_count_as_not_set() {
        let junk: &[u8] = b"not a certificate";
        let mut s = setup(1, 4);
        s.cacert = Some(junk);
        assert_eq!(client_config(&s).err(), Some(NOT_SET_CERTIFICATE));
        let mut s = setup(3, 4);
        s.clientcert = Some(junk);
        s.clientkey = Some(junk);
        assert_eq!(client_config(&s).err(), Some(NOT_SET_CERTIFICATE));
    }

    #[test]
    fn rustls_error_found_inside_io_errors() {
        let inner = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        assert!(is_tls_failure(&inner));
        let plain = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert!(!is_tls_failure(&plain));
    }
}
