//! What the exporters that speak HTTP share (OTLP/HTTP, the Datadog API):
//! rustls with the `ring` provider, reqwest's blocking client built away
//! from the caller's thread, and errors told with their causes.

use std::sync::Arc;

use rustls::client::WantsClientCert;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};

/// The certificate authorities the operating system trusts (none when it
/// has no store, as in a bare container without `ca-certificates`).
pub(crate) fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// A rustls client configuration with the `ring` provider (reqwest brings
/// none of its own, so aws-lc stays out) and the safe protocol versions,
/// trusting `roots`; the client certificate is the caller's choice.
pub(crate) fn client_config(
    roots: Arc<RootCertStore>,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, rustls::Error> {
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots),
    )
}

/// Builds a blocking reqwest client on a thread of its own: reqwest's
/// blocking client must not be built on a thread that drives an async
/// runtime, which the caller's may be.
///
/// `Err` says why, in a sentence fragment.
pub(crate) fn build_client(
    builder: reqwest::blocking::ClientBuilder,
    thread: &str,
) -> Result<reqwest::blocking::Client, String> {
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || builder.build())
        .map_err(|error| format!("no thread to build it: {error}"))?
        .join()
        .map_err(|_| "the thread building it panicked".to_owned())?
        .map_err(|error| error_chain(&error))
}

/// An error and its sources, joined by `: `, each said once.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        let part = source.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = source.source();
    }
    text
}
