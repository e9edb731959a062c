//! A stand-in for the CloudWatch API: a hyper server on loopback that
//! decodes each `rpc-v2-cbor` request (gzip first when the SDK compressed
//! it) with ciborium, and answers as the test says.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use ciborium::Value;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 with an empty CBOR map, as CloudWatch answers PutMetricData.
    Accept,
    /// 400 with the CBOR error CloudWatch gives a value it refuses.
    Refuse,
    /// Never.
    Silence,
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: BTreeMap<String, String>,
    /// The body, gunzipped when it was compressed, decoded from CBOR.
    pub body: Value,
}

/// A hyper server on loopback standing for the CloudWatch API.
#[derive(Debug)]
pub struct Api {
    /// Its base URL, for `AWS_ENDPOINT_URL_CLOUDWATCH`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Api {
    /// Starts the server; it answers every request with `answer`.
    pub fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let log = Arc::clone(&log);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            receive(Arc::clone(&log), answer, request)
                        });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        });
        Self { url, received }
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn receive(
    log: Arc<Mutex<Vec<Received>>>,
    answer: Answer,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    let bytes = request.into_body().collect().await.unwrap().to_bytes();
    let bytes = if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .expect("a gzip body");
        plain
    } else {
        bytes.to_vec()
    };
    let body: Value = ciborium::de::from_reader(&bytes[..]).expect("a CBOR body");
    log.lock().unwrap().push(Received {
        path,
        headers,
        body,
    });
    let cbor = |value: Value| {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&value, &mut out).unwrap();
        Full::new(Bytes::from(out))
    };
    let response = Response::builder()
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("content-type", "application/cbor");
    Ok(match answer {
        Answer::Accept => response.status(200).body(cbor(Value::Map(Vec::new()))),
        Answer::Refuse => response.status(400).body(cbor(Value::Map(vec![
            (text("__type"), text("InvalidParameterValue")),
            (
                text("message"),
                text("The value for parameter MetricData.member.1.Value is invalid."),
            ),
        ]))),
        Answer::Silence => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
    .unwrap())
}

/// A CBOR text value.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The member `key` of the CBOR map `map`.
pub fn get<'v>(map: &'v Value, key: &str) -> &'v Value {
    map.as_map()
        .unwrap_or_else(|| panic!("{map:?} is not a map"))
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {map:?}"))
}

/// Whether the CBOR map `map` has the member `key`.
pub fn has(map: &Value, key: &str) -> bool {
    map.as_map()
        .is_some_and(|m| m.iter().any(|(k, _)| k.as_text() == Some(key)))
}

/// A CBOR number as `f64`.
pub fn number(value: &Value) -> f64 {
    match value {
        Value::Float(x) => *x,
        Value::Integer(n) => i128::from(*n) as f64,
        other => panic!("{other:?} is not a number"),
    }
}

/// The `MetricData` array of a request.
pub fn data(request: &Received) -> &Vec<Value> {
    get(&request.body, "MetricData")
        .as_array()
        .expect("an array")
}

/// The datum named `name` with the dimension `key=value` (or none).
pub fn datum<'r>(
    requests: &'r [Received],
    name: &str,
    dimension: Option<(&str, &str)>,
) -> &'r Value {
    requests
        .iter()
        .flat_map(data)
        .find(|d| {
            let dims: Vec<(String, String)> = if has(d, "Dimensions") {
                get(d, "Dimensions")
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|dim| {
                        let name = get(dim, "Name").as_text().unwrap().to_owned();
                        (name, get(dim, "Value").as_text().unwrap().to_owned())
                    })
                    .collect()
            } else {
                Vec::new()
            };
            get(d, "MetricName").as_text() == Some(name)
                && match dimension {
                    None => dims.is_empty(),
                    Some((k, v)) => dims.contains(&(k.to_owned(), v.to_owned())),
                }
        })
        .unwrap_or_else(|| panic!("no datum {name} {dimension:?}"))
}
