//! The two workloads: a pipeline of steps doing real CPU work, and an axum
//! hello-world service under a loopback load generator; and the clocks
//! they are measured with.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Steps of one pipeline run.
pub const STEPS: usize = 10;

const STEP_NAMES: [&str; STEPS] = [
    "extract", "parse", "validate", "enrich", "dedupe", "score", "group", "render", "store",
    "notify",
];

/// Arithmetic that the compiler cannot fold away: `iterations` rounds of a
/// multiply-rotate mix.
pub fn spin(iterations: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for i in 0..iterations {
        x = (x ^ i).wrapping_mul(0x5851_F42D_4C95_7F2D).rotate_left(29);
    }
    black_box(x)
}

/// Iterations of [`spin`] that take about one microsecond here (the
/// fastest of several tries, so that a busy machine slows it least).
pub fn calibrate() -> f64 {
    const N: u64 = 2_000_000;
    spin(N);
    let best = (0..7)
        .map(|_| {
            let start = Instant::now();
            spin(N);
            start.elapsed()
        })
        .min()
        .expect("seven tries");
    N as f64 / (best.as_nanos() as f64 / 1000.0)
}

/// CPU time of the whole process (every thread, live or gone), from the OS.
#[allow(unsafe_code)]
pub fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` into the pointer it is given,
    // which points to a zeroed value of that type that lives on this frame.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// One pipeline run: a `pipeline.name` span around [`STEPS`] steps, each a
/// `step.name` span doing `iterations` of [`spin`] and emitting two events.
pub fn pipeline(run: u64, iterations: u64) {
    let pipeline = tracing::info_span!("pipeline", pipeline.name = "bench", run);
    let _pipeline = pipeline.enter();
    for (index, name) in STEP_NAMES.iter().enumerate() {
        let step = tracing::info_span!("step", step.name = *name);
        let _step = step.enter();
        tracing::info!(step = index, "step started");
        let checksum = spin(iterations);
        tracing::info!(items_processed = 10_u64, checksum, "step done");
    }
}

/// Runs `runs` pipelines after a warm-up, then `flush`, and returns wall
/// and process CPU time per step, as JSON.
pub fn measure_pipeline(work_us: u64, iterations: u64, runs: u64, flush: &dyn Fn()) -> Value {
    for run in 0..runs.div_ceil(10).max(2) {
        pipeline(run, iterations);
    }
    flush();
    let (wall, cpu) = (Instant::now(), process_cpu());
    for run in 0..runs {
        pipeline(run, iterations);
    }
    flush();
    let (wall, cpu) = (wall.elapsed(), process_cpu() - cpu);
    let steps = runs * STEPS as u64;
    json!({
        "work_us": work_us,
        "steps": steps,
        "wall_ns_per_step": wall.as_nanos() as f64 / steps as f64,
        "cpu_ns_per_step": cpu.as_nanos() as f64 / steps as f64,
    })
}

/// What the load generator may send: at most `requests`, for at most `time`.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub requests: usize,
    pub time: Duration,
    pub connections: usize,
}

/// Serves `router` on loopback and drives it with `load.connections`
/// keep-alive connections; requests/s, p50 and p99 latency, as JSON.
pub fn measure_http(router: axum::Router, load: Load) -> Value {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the service's runtime starts");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the service binds a loopback port");
        let address = listener.local_addr().expect("a bound address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        let url: hyper::Uri = format!("http://{address}/hello/world")
            .parse()
            .expect("a valid URI");
        // Warm-up: connections open, callsites registered.
        drive(&url, 50, Duration::from_secs(2), load.connections).await;
        let start = Instant::now();
        let cpu = process_cpu();
        let mut latencies = drive(&url, load.requests, load.time, load.connections).await;
        let (elapsed, cpu) = (start.elapsed(), process_cpu() - cpu);
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_nanos() as f64 / 1000.0)
        };
        json!({
            "requests": latencies.len(),
            "requests_per_s": latencies.len() as f64 / elapsed.as_secs_f64(),
            "p50_us": at(0.50),
            "p99_us": at(0.99),
            "cpu_us_per_request": cpu.as_nanos() as f64 / 1000.0 / latencies.len().max(1) as f64,
        })
    })
}

/// Sends GET requests on `connections` connections until `requests` were
/// answered or `time` went by; the latency of each answered request.
async fn drive(
    url: &hyper::Uri,
    requests: usize,
    time: Duration,
    connections: usize,
) -> Vec<Duration> {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let deadline = Instant::now() + time;
    let per_connection = requests.div_ceil(connections);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_connection);
                while latencies.len() < per_connection && Instant::now() < deadline {
                    let start = Instant::now();
                    let Ok(response) = client.get(url.clone()).await else {
                        break;
                    };
                    let ok = response.status().is_success();
                    if response.into_body().collect().await.is_err() || !ok {
                        break;
                    }
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(requests);
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}
