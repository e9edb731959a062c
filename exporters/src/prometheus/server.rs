//! The `/metrics` HTTP endpoint: hyper on a tokio runtime of its own thread.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use autotel_layers::catalog;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY,
    WWW_AUTHENTICATE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics::{Counter, Key, Label, Recorder as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};

use super::auth::Auth;
use super::negotiate::{accepts_gzip, prefers_openmetrics};
use super::{MAX_REQUEST_HEAD, PrometheusError, PrometheusHandle, PrometheusRecorder};

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How long the accept loop pauses after the system refused to accept
/// (out of file descriptors), so that it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The content type of the Prometheus text format 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The content type of the OpenMetrics text format 1.0.0.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of the endpoint's own messages.
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Where and how the endpoint listens.
#[derive(Debug)]
pub(super) struct Endpoint {
    pub(super) address: SocketAddr,
    pub(super) auth: Option<Auth>,
    pub(super) max_connections: usize,
    pub(super) header_read_timeout: Duration,
    pub(super) max_connection_age: Duration,
}

/// The counters of what the endpoint refused.
#[derive(Debug)]
pub(super) struct ScrapeDrops {
    pub(super) connection_limit: Counter,
    pub(super) head_too_large: Counter,
}

impl ScrapeDrops {
    /// The counters, in the exporter's own recorder so that the endpoint
    /// always shows them, whichever recorder is global.
    pub(super) fn register(recorder: &PrometheusRecorder) -> Self {
        let counter = |reason: &'static str| {
            let labels = vec![Label::new("signal", "scrape"), Label::new("reason", reason)];
            let key = Key::from_parts(catalog::AUTOTEL_DROPPED_TOTAL.name(), labels);
            recorder.register_counter(&key, &super::recorder::metadata())
        };
        Self {
            connection_limit: counter("connection_limit"),
            head_too_large: counter("request_head_too_large"),
        }
    }
}

/// The running `/metrics` endpoint and histogram upkeep; dropping it stops
/// both, closing the listener and every open connection.
#[derive(Debug)]
pub struct PrometheusGuard {
    address: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PrometheusGuard {
    /// Binds the endpoint's address (when there is one) and starts its
    /// thread, which also runs the histogram upkeep.
    pub(super) fn start(
        endpoint: Option<(Endpoint, ScrapeDrops)>,
        handle: PrometheusHandle,
    ) -> Result<Self, PrometheusError> {
        let listener = match &endpoint {
            Some((endpoint, _)) => Some(bind(endpoint.address)?),
            None => None,
        };
        let address = listener.as_ref().and_then(|l| l.local_addr().ok());
        let (stop, stopped) = oneshot::channel();
        let (ready, started) = std::sync::mpsc::sync_channel(1);
        // The runtime is built, run and dropped on its own thread only: a
        // runtime cannot be dropped inside another one, where the program may
        // well be when it starts or stops the exporter.
        let thread = std::thread::Builder::new()
            .name("autotel-prometheus".into())
            .spawn(move || {
                let (runtime, listener) = match runtime(listener) {
                    Ok(started) => {
                        let _ = ready.send(Ok(()));
                        started
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    tokio::spawn(run_upkeep(handle.clone()));
                    if let (Some(listener), Some((endpoint, drops))) = (listener, endpoint) {
                        let shared = Arc::new(Shared {
                            handle,
                            auth: endpoint.auth,
                            header_read_timeout: endpoint.header_read_timeout,
                            max_connection_age: endpoint.max_connection_age,
                            drops,
                        });
                        tokio::spawn(accept_loop(listener, shared, endpoint.max_connections));
                    }
                    let _ = stopped.await;
                });
                // Dropping the runtime here cancels every connection task and
                // closes its socket.
                drop(runtime);
            })
            .map_err(PrometheusError::Thread)?;
        let server = Self {
            address,
            stop: Some(stop),
            thread: Some(thread),
        };
        match started.recv() {
            Ok(Ok(())) => Ok(server),
            Ok(Err(e)) => Err(PrometheusError::Thread(e)),
            Err(_) => Err(PrometheusError::Thread(std::io::Error::other(
                "the endpoint thread stopped while starting",
            ))),
        }
    }

    /// The address the endpoint listens on (with the port chosen by the
    /// system when port 0 was asked for); `None` without a listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.address
    }
}

impl Drop for PrometheusGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Returns as soon as the render in progress, if any, is done.
            let _ = thread.join();
        }
    }
}

/// Binds `address` now, so that an address in use is an error of `build`.
fn bind(address: SocketAddr) -> Result<std::net::TcpListener, PrometheusError> {
    let error = |source| PrometheusError::Bind { address, source };
    let listener = std::net::TcpListener::bind(address).map_err(error)?;
    listener.set_nonblocking(true).map_err(error)?;
    Ok(listener)
}

/// The endpoint's runtime, and the listener registered with it.
fn runtime(
    listener: Option<std::net::TcpListener>,
) -> std::io::Result<(tokio::runtime::Runtime, Option<TcpListener>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let listener = {
        let _context = runtime.enter();
        listener.map(TcpListener::from_std).transpose()?
    };
    Ok((runtime, listener))
}

async fn run_upkeep(handle: PrometheusHandle) {
    let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        handle.run_upkeep();
    }
}

/// What every connection of one endpoint shares.
#[derive(Debug)]
struct Shared {
    handle: PrometheusHandle,
    auth: Option<Auth>,
    header_read_timeout: Duration,
    max_connection_age: Duration,
    drops: ScrapeDrops,
}

/// Accepts connections until the runtime stops; past
/// `max_connections` open ones, a new connection is closed at once.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, max_connections: usize) {
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // EMFILE, ENFILE, ECONNABORTED...: wait for resources.
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            shared.drops.connection_limit.increment(1);
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            serve_connection(stream, &shared).await;
            drop(permit);
        });
    }
}

/// Serves one connection with hyper until the client closes it, a timeout
/// or limit closes it, or it reaches its maximum age.
async fn serve_connection(stream: TcpStream, shared: &Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service_shared = shared.clone();
    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
        let answer = service_shared.answer(&request);
        async move { Ok::<_, Infallible>(answer) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = match tokio::time::timeout(shared.max_connection_age, connection.as_mut()).await {
        Ok(result) => result,
        Err(_) => {
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(shared.header_read_timeout, connection)
                .await
                .unwrap_or(Ok(()))
        }
    };
    if result.is_err_and(|e| e.is_parse_too_large()) {
        shared.drops.head_too_large.increment(1);
    }
}

impl Shared {
    /// The answer to one request.
    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if let Some(auth) = &self.auth
            && !auth.accepts(request.headers().get(AUTHORIZATION))
        {
            let mut response = message(
                StatusCode::UNAUTHORIZED,
                "authentication required: send the credentials configured for this endpoint\n",
            );
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(auth.challenge()));
            return response;
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = message(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: /metrics answers GET and HEAD\n",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        if request.uri().path() != "/metrics" {
            return message(
                StatusCode::NOT_FOUND,
                "not found: metrics are at /metrics\n",
            );
        }
        let openmetrics = request
            .headers()
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(prefers_openmetrics);
        let (text, content_type) = if openmetrics {
            (self.handle.render_openmetrics(), OPENMETRICS_CONTENT_TYPE)
        } else {
            (self.handle.render(), METRICS_CONTENT_TYPE)
        };
        let gzip = request
            .headers()
            .get_all(ACCEPT_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(accepts_gzip);
        let mut response = Response::new(Full::new(Bytes::new()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
        let body = match gzip.then(|| compress(text.as_bytes())).flatten() {
            Some(compressed) => {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                compressed
            }
            None => text.into_bytes(),
        };
        *response.body_mut() = Full::new(Bytes::from(body));
        response
    }
}

/// A short plain-text answer with `status`.
fn message(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
    response
}

/// `data` compressed with gzip; `None` if compression failed (then the
/// scrape goes out uncompressed).
fn compress(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::default());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpListener};

    use crate::prometheus::{Prometheus, PrometheusError};

    #[test]
    fn address_in_use_is_an_error_naming_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let err = Prometheus::new()
            .with_listen_address(address)
            .build()
            .unwrap_err();
        assert!(matches!(err, PrometheusError::Bind { .. }));
        assert!(err.to_string().contains(&address.to_string()), "{err}");
    }

    #[test]
    fn starts_fails_and_stops_inside_an_async_runtime() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let err = Prometheus::new()
                .with_listen_address(address)
                .build()
                .unwrap_err();
            assert!(matches!(err, PrometheusError::Bind { .. }), "{err}");
            let (_recorder, server) = Prometheus::new()
                .with_listen_address(SocketAddr::from(([127, 0, 0, 1], 0)))
                .build()
                .unwrap();
            drop(server);
        });
    }
}
