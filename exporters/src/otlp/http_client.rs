//! The HTTP client of OTLP/HTTP: reqwest (blocking, HTTP/1.1) with rustls,
//! that sets the configured headers on every request and keeps the cause of
//! a failed request for the failure report (opentelemetry-otlp only says
//! "network error").

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use reqwest::header::{HeaderName, HeaderValue};

use super::OtlpError;
use super::exemplars::OtlpExemplars;
use super::report::Reporter;
use super::transport::SignalConfig;
use crate::https::error_chain;

/// A reqwest client that reports why a request failed.
#[derive(Debug)]
pub(crate) struct DiagnosingClient {
    inner: reqwest::blocking::Client,
    headers: Vec<(HeaderName, HeaderValue)>,
    reporter: Arc<Reporter>,
    /// The exemplars added to metrics requests.
    exemplars: Option<Arc<OtlpExemplars>>,
}

impl DiagnosingClient {
    /// A client for `config`, reporting to `reporter`.
    pub(crate) fn new(config: &SignalConfig, reporter: &Arc<Reporter>) -> Result<Self, OtlpError> {
        let signal = config.signal.name();
        let mut headers = Vec::with_capacity(config.headers.len());
        for (key, value) in &config.headers {
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                OtlpError::config(
                    config.headers_setting,
                    format!("{key}=[REDACTED]"),
                    "has a header value that HTTP does not allow (visible ASCII)",
                )
            })?;
            value.set_sensitive(true);
            let key = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                OtlpError::config(
                    config.headers_setting,
                    format!("{key}=[REDACTED]"),
                    "has a header name that HTTP does not allow",
                )
            })?;
            headers.push((key, value));
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .no_proxy();
        // Always a configuration of our own: reqwest has no crypto provider
        // of its own (that would bring aws-lc), even for http:// URLs.
        let rustls = match &config.tls {
            Some(tls) => tls.rustls()?,
            None => super::tls::without_roots(),
        };
        builder = builder.tls_backend_preconfigured(rustls);
        let inner = crate::https::build_client(builder, "autotel-otlp-client")
            .map_err(|reason| OtlpError::HttpClient { signal, reason })?;
        Ok(Self {
            inner,
            headers,
            reporter: reporter.clone(),
            exemplars: None,
        })
    }

    /// Adds the exemplars of `exemplars` to the metrics requests it sends.
    pub(crate) fn with_exemplars(mut self, exemplars: Option<Arc<OtlpExemplars>>) -> Self {
        self.exemplars = exemplars;
        self
    }
}

impl HttpClient for DiagnosingClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        mut request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            for (key, value) in &self.headers {
                request.headers_mut().insert(key.clone(), value.clone());
            }
            if let Some(exemplars) = &self.exemplars {
                let gzip = request
                    .headers()
                    .get(http::header::CONTENT_ENCODING)
                    .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
                if let Some(body) = exemplars.fill_body(request.body(), gzip) {
                    request.headers_mut().remove(http::header::CONTENT_LENGTH);
                    *request.body_mut() = Bytes::from(body);
                }
            }
            let result = HttpClient::send_bytes(&self.inner, request).await;
            match &result {
                Err(error) => self.reporter.transport_failed(error_chain(error.as_ref())),
                Ok(response) if !response.status().is_success() => {
                    self.reporter.transport_failed(format!(
                        "the collector answered HTTP {}",
                        response.status()
                    ));
                }
                Ok(_) => {}
            }
            result
        })
    }
}
