//! Metrics to Datadog: DogStatsD to an agent, and the metrics API without
//! one.
//!
//! ```text
//! cargo run -p autotel-examples --example datadog
//! ```
//!
//! Without `DD_AGENT_HOST` or `DD_DOGSTATSD_URL`, the example listens on a
//! UDP port of its own in place of the Datadog agent and prints every
//! DogStatsD line it receives. With them set, it sends to that agent; with
//! `DD_API_KEY` set (and `DD_SITE`, or `DD_URL` for another receiver), it
//! also sends to the Datadog API. In a service, the presets do the same from
//! the environment alone: `autotel_presets::production("checkout").init()`.

use std::net::UdpSocket;
use std::time::Duration;

use autotel_exporters::ServiceInfo;
use autotel_exporters::datadog::Datadog;
use autotel_exporters::push::Push;
use autotel_exporters::statsd::StatsD;
use tracing::instrument;
use tracing_subscriber::prelude::*;

#[instrument]
fn handle_order(id: u32) -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(1));
    metrics::counter!("orders_total", "kind" => if id.is_multiple_of(2) { "express" } else { "standard" })
        .increment(1);
    if id % 5 == 4 {
        return Err(format!("order {id} rejected"));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = ServiceInfo::new("checkout")
        .with_version("1.4.2")
        .with_environment("staging");

    // The agent named by the environment, or a stand-in on a free port.
    let (dogstatsd, stand_in) = match StatsD::dogstatsd_from_env()? {
        Some(agent) => (agent, None),
        None => {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.set_read_timeout(Some(Duration::from_millis(500)))?;
            let port = socket.local_addr()?.port();
            (
                StatsD::dogstatsd().with_host("127.0.0.1", port),
                Some(socket),
            )
        }
    };
    let mut push = Push::new().with_exporter(dogstatsd.with_service(&service).build()?);
    if let Some(api) = Datadog::from_env()? {
        push = push.with_exporter(api.with_service(&service).build()?);
    }
    let (recorder, guard) = push.build()?;
    metrics::set_global_recorder(recorder)?;
    tracing_subscriber::registry()
        .with(autotel_layers::SpanMetricsLayer::new())
        .init();

    for id in 0..10 {
        let _ = handle_order(id);
    }
    // Dropping the guard sends the last interval; `flush` sends it now.
    guard.flush(Duration::from_secs(10));

    if let Some(socket) = stand_in {
        let mut buffer = [0; 65_536];
        while let Ok(n) = socket.recv(&mut buffer) {
            print!("{}", String::from_utf8_lossy(&buffer[..n]));
        }
    }
    Ok(())
}
