//! The OTLP receiver of the bench: a hyper HTTP/1.1 server on loopback that
//! reads each request body, counts requests and bytes per signal, and
//! answers 200 with an empty protobuf message. It decodes nothing, so the
//! bench measures the sender, not the receiver; it runs in the parent
//! process, so its CPU time is not the program's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Requests and body bytes received per signal.
#[derive(Debug, Default)]
pub struct Counts {
    requests: [AtomicU64; 3],
    bytes: [AtomicU64; 3],
}

/// Requests and bytes of one signal received so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub requests: u64,
    pub bytes: u64,
}

/// The signals, in the order of [`Counts`]'s arrays.
pub const SIGNALS: [&str; 3] = ["traces", "logs", "metrics"];

impl Counts {
    /// What arrived so far, per signal (in the order of [`SIGNALS`]).
    pub fn snapshot(&self) -> [Received; 3] {
        std::array::from_fn(|i| Received {
            requests: self.requests[i].load(Ordering::Relaxed),
            bytes: self.bytes[i].load(Ordering::Relaxed),
        })
    }
}

/// A running sink; it stops with the process.
#[derive(Debug)]
pub struct Sink {
    pub address: SocketAddr,
    pub counts: Arc<Counts>,
}

/// Starts the sink on a free loopback port, on a thread of its own.
pub fn start() -> Sink {
    let counts = Arc::new(Counts::default());
    let (sender, receiver) = std::sync::mpsc::channel();
    let shared = counts.clone();
    std::thread::Builder::new()
        .name("otlp-sink".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the sink's runtime starts");
            runtime.block_on(serve(shared, sender));
        })
        .expect("the sink's thread starts");
    let address = receiver.recv().expect("the sink reports its address");
    Sink { address, counts }
}

async fn serve(counts: Arc<Counts>, ready: std::sync::mpsc::Sender<SocketAddr>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the sink binds a loopback port");
    let _ = ready.send(listener.local_addr().expect("a bound address"));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let counts = counts.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let counts = counts.clone();
                async move { Ok::<_, Infallible>(receive(&counts, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn receive(counts: &Counts, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let signal = SIGNALS
        .iter()
        .position(|signal| request.uri().path() == format!("/v1/{signal}"));
    let body = request.into_body().collect().await;
    let status = match (signal, body) {
        (Some(i), Ok(body)) => {
            counts.requests[i].fetch_add(1, Ordering::Relaxed);
            let len = body.to_bytes().len() as u64;
            counts.bytes[i].fetch_add(len, Ordering::Relaxed);
            200
        }
        (None, _) => 404,
        (_, Err(_)) => 400,
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/x-protobuf")
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}
