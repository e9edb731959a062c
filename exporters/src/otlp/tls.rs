//! TLS for `https://` collectors, with rustls only: the system's roots by
//! default, or a private CA; optionally a client certificate.
//!
//! The same files serve gRPC (tonic's TLS, with the `ring` provider) and
//! HTTP (a rustls client configuration handed to reqwest).

use std::path::PathBuf;
use std::sync::Arc;

use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::OtlpError;

/// A file named by a builder method or a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedFile {
    pub(crate) setting: &'static str,
    pub(crate) path: PathBuf,
}

impl NamedFile {
    fn read(&self, what: &str) -> Result<Vec<u8>, OtlpError> {
        std::fs::read(&self.path)
            .map_err(|error| self.error(format!("cannot read the {what}: {error}")))
    }

    fn error(&self, reason: String) -> OtlpError {
        OtlpError::Tls {
            setting: self.setting,
            path: self.path.display().to_string(),
            reason,
        }
    }
}

/// The TLS files of one signal, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// PEM certificates of the CAs to trust instead of the system's roots.
    pub(crate) ca: Option<NamedFile>,
    /// PEM certificate chain presented to the collector.
    pub(crate) client_certificate: Option<NamedFile>,
    /// PEM private key of the client certificate.
    pub(crate) client_key: Option<NamedFile>,
}

/// The TLS material of one signal, read and checked.
#[derive(Clone)]
pub(crate) struct Tls {
    ca_pem: Option<Vec<u8>>,
    roots: Arc<RootCertStore>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    /// The file of the client key, or of the CA, for errors.
    blame: Option<NamedFile>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("private_ca", &self.ca_pem.is_some())
            .field("roots", &self.roots.len())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

impl TlsFiles {
    /// Reads and checks the files; system roots when no CA is named.
    pub(crate) fn load(&self) -> Result<Tls, OtlpError> {
        let mut roots = RootCertStore::empty();
        let ca_pem = match &self.ca {
            Some(file) => {
                let pem = file.read("CA certificate")?;
                let certs = parse_certificates(file, &pem)?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(file.error(
                        "it holds no usable CA certificate; give a PEM file with -----BEGIN CERTIFICATE----- blocks".into(),
                    ));
                }
                Some(pem)
            }
            None => {
                roots = crate::https::system_roots();
                None
            }
        };
        let (identity, client_auth) = match (&self.client_certificate, &self.client_key) {
            (None, None) => (None, None),
            (Some(cert), Some(key)) => {
                let cert_pem = cert.read("client certificate")?;
                let chain = parse_certificates(cert, &cert_pem)?;
                let key_pem = key.read("client key")?;
                let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| {
                    key.error(format!(
                        "it holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {error}"
                    ))
                })?;
                (Some((cert_pem, key_pem)), Some((chain, Arc::new(private))))
            }
            (Some(file), None) | (None, Some(file)) => {
                return Err(file.error(
                    "a client certificate needs both the certificate and its key; set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY (or Otlp::with_client_certificate)".into(),
                ));
            }
        };
        Ok(Tls {
            blame: self.client_key.clone().or_else(|| self.ca.clone()),
            ca_pem,
            roots: Arc::new(roots),
            identity,
            client_auth,
        })
    }
}

fn parse_certificates(
    file: &NamedFile,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, OtlpError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| file.error(format!("it is not a PEM certificate file: {error}")))?;
    if certs.is_empty() {
        return Err(file.error(
            "it holds no certificate; give a PEM file with -----BEGIN CERTIFICATE----- blocks"
                .into(),
        ));
    }
    Ok(certs)
}

impl Tls {
    /// tonic's TLS settings for gRPC.
    pub(crate) fn tonic(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_pem {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }

    /// A rustls client configuration for HTTP, with the `ring` provider.
    pub(crate) fn rustls(&self) -> Result<rustls::ClientConfig, OtlpError> {
        let fail = |error: rustls::Error| {
            let reason = match error {
                rustls::Error::InconsistentKeys(_) => {
                    "the client key does not match the client certificate".to_owned()
                }
                other => format!("rustls refused it: {other}"),
            };
            match &self.blame {
                Some(file) => file.error(reason),
                None => OtlpError::Tls {
                    setting: "TLS",
                    path: "system roots".into(),
                    reason,
                },
            }
        };
        let builder = crate::https::client_config(self.roots.clone()).map_err(fail)?;
        match &self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(fail),
            None => Ok(builder.with_no_client_auth()),
        }
    }
}

/// A rustls configuration that trusts nothing, for clients of `http://`
/// endpoints, which never use it.
pub(crate) fn without_roots() -> rustls::ClientConfig {
    crate::https::client_config(Arc::new(RootCertStore::empty()))
        .map(|builder| builder.with_no_client_auth())
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("ring supports TLS 1.3")
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &std::path::Path, name: &str, text: &str, setting: &'static str) -> NamedFile {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a test file");
        NamedFile { setting, path }
    }

    #[test]
    fn unusable_files_are_errors_naming_their_setting() {
        let dir = std::env::temp_dir().join(format!("autotel-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let garbage = file(
            &dir,
            "garbage.pem",
            "not a certificate",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        );
        let error = TlsFiles {
            ca: Some(garbage),
            ..TlsFiles::default()
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE='"),
            "{error}"
        );
        assert!(error.contains("holds no certificate"), "{error}");

        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let cert = file(
            &dir,
            "client.pem",
            &certified.cert.pem(),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        );
        let error = TlsFiles {
            client_certificate: Some(cert.clone()),
            ..TlsFiles::default()
        }
        .load()
        .unwrap_err()
        .to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"), "{error}");

        let other = rcgen::KeyPair::generate().expect("a key");
        let key = file(
            &dir,
            "other.key",
            &other.serialize_pem(),
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        );
        let tls = TlsFiles {
            client_certificate: Some(cert),
            client_key: Some(key),
            ..TlsFiles::default()
        }
        .load()
        .expect("both files parse");
        let error = tls.rustls().unwrap_err().to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_CLIENT_KEY='"),
            "{error}"
        );
        assert!(
            error.contains("does not match the client certificate"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
