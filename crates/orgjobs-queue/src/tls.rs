//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` (rustls).
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default, as in libpq) | when the server offers TLS | no |
//! | `require` | always | no; with `sslrootcert`, as `verify-ca` (libpq does the same) |
//! | `verify-ca` | always | signed by a CA in `sslrootcert` |
//! | `verify-full` | always | signed by a CA in `sslrootcert` and issued for the host connected to |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the
//! operating system's trust store (`/etc/ssl/certs`). Without it,
//! `verify-ca` and `verify-full` read `~/.postgresql/root.crt`, as libpq
//! does, and refuse to connect when it is missing. Both settings may also
//! come from `PGSSLMODE` and `PGSSLROOTCERT`.
//!
//! Invariant: an unverified mode (`prefer`, `require` without a root) still
//! checks the handshake's signatures; it only skips the certificate chain and
//! name, so it stops a passive eavesdropper, not an active one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, unverified; plain TCP otherwise.
    #[default]
    Prefer,
    /// TLS always; the certificate is checked only when a root is given.
    Require,
    /// TLS always; the certificate must chain to a root in `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Parses a libpq spelling (`disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`; `allow` is taken as `prefer`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "allow" | "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(format!(
                "sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
            )),
        }
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What the driver does at connection time (certificate checks are the
    /// connector's).
    pub(crate) fn driver_mode(self) -> PgSslMode {
        match self {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        }
    }
}

/// Where the trusted CA certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's trust store.
    System,
}

impl RootCert {
    fn parse(s: &str) -> RootCert {
        if s == "system" {
            RootCert::System
        } else {
            RootCert::File(PathBuf::from(s))
        }
    }
}

impl fmt::Display for RootCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootCert::File(p) => write!(f, "{}", p.display()),
            RootCert::System => f.write_str("system"),
        }
    }
}

/// The TLS settings of a connection string, and the connector they make.
#[derive(Clone)]
pub struct Tls {
    mode: SslMode,
    root: Option<RootCert>,
    connector: Option<MakeRustlsConnect>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("sslmode", &self.mode.as_str())
            .field("sslrootcert", &self.root)
            .finish()
    }
}

impl Default for Tls {
    /// `sslmode=disable`: no TLS.
    fn default() -> Self {
        Tls {
            mode: SslMode::Disable,
            root: None,
            connector: None,
        }
    }
}

impl Tls {
    /// Builds the connector for `mode` and `root` (`None`: libpq's default
    /// file for the verifying modes).
    pub fn new(mode: SslMode, root: Option<RootCert>) -> Result<Tls, String> {
        let root = match (mode, root) {
            (_, Some(r)) => Some(r),
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                let default = std::env::var_os("HOME")
                    .map(|h| Path::new(&h).join(".postgresql/root.crt"))
                    .filter(|p| p.exists());
                match default {
                    Some(p) => Some(RootCert::File(p)),
                    None => {
                        return Err(format!(
                            "sslmode={} needs the CA that signed the server's certificate: set sslrootcert to a PEM file (or to `system` for the operating system's trust store)",
                            mode.as_str()
                        ));
                    }
                }
            }
            (_, None) => None,
        };
        let connector = match mode {
            SslMode::Disable => None,
            _ => Some(MakeRustlsConnect::new(client_config(mode, root.as_ref())?)),
        };
        Ok(Tls {
            mode,
            root,
            connector,
        })
    }

    /// The `sslmode`.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// The `sslrootcert`, when one is used.
    pub fn root(&self) -> Option<&RootCert> {
        self.root.as_ref()
    }

    /// The connector to hand to the driver (`None`: plain TCP).
    pub(crate) fn connector(&self) -> Option<&MakeRustlsConnect> {
        self.connector.as_ref()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(mode: SslMode, root: Option<&RootCert>) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let chain = match (mode, root) {
        (SslMode::Prefer | SslMode::Require, None) => None,
        (_, root) => Some(
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(load_roots(root)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS set-up: {e}"))?,
        ),
    };
    let verifier = Verifier {
        chain,
        names: mode == SslMode::VerifyFull,
        algorithms: provider.signature_verification_algorithms,
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

fn load_roots(root: Option<&RootCert>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match root {
        Some(RootCert::File(path)) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("sslrootcert {} is not PEM: {e}", path.display()))?;
                store.add(cert).map_err(|e| {
                    format!(
                        "sslrootcert {}: a certificate is not usable as a CA: {e}",
                        path.display()
                    )
                })?;
            }
            if store.is_empty() {
                return Err(format!(
                    "sslrootcert {} holds no certificate",
                    path.display()
                ));
            }
        }
        Some(RootCert::System) | None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "sslrootcert=system: no CA certificate found in the operating system's trust store"
                        .to_owned(),
                );
            }
        }
    }
    Ok(store)
}

/// The certificate check of every mode. Without a chain verifier
/// (`prefer`, `require` without a root) the certificate is accepted as it
/// is: encryption without authentication, as libpq does. With one, the
/// chain must reach a root in `sslrootcert`; `verify-full` (`names`) also
/// requires the certificate to be issued for the host connected to. The
/// handshake's signatures are verified in every mode.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    names: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (URL query
/// parameters or keyword/value pairs), which the driver does not know,
/// falling back to `PGSSLMODE` and `PGSSLROOTCERT`. Returns the string
/// without them and the TLS settings.
pub(crate) fn split_tls_params(url: &str) -> Result<(String, SslMode, Option<RootCert>), String> {
    let (rest, mode, root) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_url(url)?
    } else {
        split_keywords(url)?
    };
    let mode = match mode {
        Some(m) => SslMode::parse(&m)?,
        None => match std::env::var("PGSSLMODE") {
            Ok(m) if !m.is_empty() => SslMode::parse(&m).map_err(|e| format!("PGSSLMODE: {e}"))?,
            _ => SslMode::default(),
        },
    };
    let root = match root {
        Some(r) => Some(RootCert::parse(&r)),
        None => std::env::var("PGSSLROOTCERT")
            .ok()
            .filter(|r| !r.is_empty())
            .map(|r| RootCert::parse(&r)),
    };
    Ok((rest, mode, root))
}

type Split = (String, Option<String>, Option<String>);

fn split_url(url: &str) -> Result<Split, String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None, None));
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => mode = Some(percent_decode(v)?),
            "sslrootcert" => root = Some(percent_decode(v)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, mode, root))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

/// Keyword/value form: `key=value` pairs separated by spaces; a value may
/// be single-quoted, with `\'` and `\\` escapes.
fn split_keywords(s: &str) -> Result<Split, String> {
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!(
                "missing `=` after {key:?} in the connection string"
            ));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated quoted value".to_owned()),
                    },
                    Some((_, '\'')) => break,
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated quoted value".to_owned()),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(s.len(), |&(i, _)| i);
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => kept.push(&s[start..end]),
        }
    }
    Ok((
        kept.iter().map(|p| p.trim()).collect::<Vec<_>>().join(" "),
        mode,
        root,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_tls_parameters_out_of_urls() {
        let (rest, mode, root) = split_url(
            "postgres://u:p@db.example:5432/app?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("parses");
        assert_eq!(
            rest,
            "postgres://u:p@db.example:5432/app?application_name=x"
        );
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        let (rest, mode, _) = split_url("postgres://h/db?sslmode=require").expect("parses");
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(mode.as_deref(), Some("require"));
        assert!(split_url("postgres://h/db?sslrootcert=%zz").is_err());
    }

    #[test]
    fn takes_tls_parameters_out_of_keyword_strings() {
        let (rest, mode, root) = split_keywords(
            "host=db user=app sslmode = verify-ca sslrootcert='/a b/ca.pem' password='x y\\'z'",
        )
        .expect("parses");
        assert_eq!(rest, "host=db user=app password='x y\\'z'");
        assert_eq!(mode.as_deref(), Some("verify-ca"));
        assert_eq!(root.as_deref(), Some("/a b/ca.pem"));
        assert!(split_keywords("host").is_err());
    }

    #[test]
    fn parses_every_libpq_mode_and_refuses_others() {
        for m in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            assert_eq!(SslMode::parse(m).expect(m).as_str(), m);
        }
        assert!(SslMode::parse("verify_full").is_err());
    }

    #[test]
    fn verifying_modes_need_a_root() {
        let err = Tls::new(
            SslMode::VerifyFull,
            Some(RootCert::File("/nonexistent.pem".into())),
        )
        .expect_err("missing file");
        assert!(err.contains("/nonexistent.pem"), "{err}");
        assert!(Tls::new(SslMode::Require, None).is_ok());
    }
}
