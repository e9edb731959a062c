//! VictoriaMetrics as a peer: it accepts Datadog series at
//! `/datadog/api/v1/series` and answers PromQL at `/api/v1/query`.

use std::net::SocketAddr;

use crate::http::{encode, get, get_json};
use crate::net::{free_port, loopback};
use crate::peers::{Peer, peer_bin};

/// A running VictoriaMetrics single-node server.
#[derive(Debug)]
pub struct VictoriaMetrics {
    /// The server process.
    pub peer: Peer,
    /// Where it serves its HTTP APIs.
    pub address: SocketAddr,
}

impl VictoriaMetrics {
    /// Starts `AUTOTEL_VICTORIA_METRICS_BIN` on a free loopback port, with
    /// its data in the peer's own directory, and waits until it is healthy;
    /// `None` when skipped.
    pub fn start() -> Option<Self> {
        let bin = peer_bin("AUTOTEL_VICTORIA_METRICS_BIN")?;
        let mut last = String::new();
        for _ in 0..3 {
            let address = loopback(free_port());
            let mut peer = Peer::start(
                "victoria-metrics",
                &bin,
                &[
                    format!("-httpListenAddr={address}"),
                    "-storageDataPath=data".into(),
                    // Without it, points newer than 30 s stay invisible.
                    "-search.latencyOffset=0s".into(),
                ],
            );
            match peer.try_wait_for("VictoriaMetrics to be healthy", || {
                get(address, "/health").ok().filter(|r| r.status == 200)
            }) {
                Ok(_) => return Some(Self { peer, address }),
                // Another process took the port between the check and the bind.
                Err(text) if text.contains("address already in use") => last = text,
                Err(text) => panic!("{text}"),
            }
        }
        panic!("a port was taken three times in a row\n{last}")
    }

    /// The base URL of its Datadog API, for `DD_URL`.
    pub fn datadog_url(&self) -> String {
        format!("http://{}/datadog", self.address)
    }

    /// The samples of the instant query `promql`: labels and value.
    pub fn instant(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        instant(self.address, promql)
    }

    /// Waits until `promql` gives `count` samples, and returns them.
    pub fn wait_for_samples(
        &mut self,
        promql: &str,
        count: usize,
    ) -> Vec<(serde_json::Value, f64)> {
        let address = self.address;
        self.peer
            .wait_for(&format!("{count} samples of `{promql}`"), || {
                // Makes what arrived searchable now rather than within seconds.
                let _ = get(address, "/internal/force_flush");
                let samples = instant(address, promql);
                (samples.len() == count).then_some(samples)
            })
    }
}

/// The samples of the instant query `promql` at `address`; none when the
/// query fails.
fn instant(address: SocketAddr, promql: &str) -> Vec<(serde_json::Value, f64)> {
    let path = format!("/api/v1/query?query={}", encode(promql));
    let Some(answer) = get_json(address, &path) else {
        return Vec::new();
    };
    let Some(results) = answer["data"]["result"].as_array() else {
        return Vec::new();
    };
    results
        .iter()
        .filter_map(|r| {
            let value = r["value"][1].as_str()?.parse().ok()?;
            Some((r["metric"].clone(), value))
        })
        .collect()
}
