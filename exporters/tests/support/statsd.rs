//! Etsy statsd as a peer: started with a backend that appends every flush
//! to a JSON-lines file.
#![allow(dead_code)]

use std::path::PathBuf;

use crate::support::{Peer, free_port, peer_bin, peer_dir, temp_dir};

/// A running Etsy statsd.
pub struct EtsyStatsd {
    pub peer: Peer,
    /// The UDP port it reads metrics on.
    pub port: u16,
    flushes: PathBuf,
}

impl EtsyStatsd {
    /// Starts statsd from `AUTOTEL_STATSD_DIR` with `AUTOTEL_NODE_BIN`,
    /// flushing every 200 ms; `None` when skipped.
    pub fn start() -> Option<Self> {
        let dir = peer_dir("AUTOTEL_STATSD_DIR")?;
        let node = peer_bin("AUTOTEL_NODE_BIN")?;
        let backend =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/statsd_backend.js");
        let work = temp_dir("statsd-config");
        let flushes = work.join("flushes.jsonl");
        let port = free_port();
        let config = serde_json::json!({
            "address": "127.0.0.1",
            "port": port,
            "mgmt_address": "127.0.0.1",
            "mgmt_port": free_port(),
            "flushInterval": 200,
            "backends": [backend],
            "jsonLines": { "path": flushes },
        });
        let config_path = work.join("config.js");
        std::fs::write(&config_path, config.to_string()).expect("write the statsd config");
        let stats = dir.join("node_modules/statsd/stats.js");
        let mut peer = Peer::start(
            "statsd",
            &node,
            &[
                stats.display().to_string(),
                config_path.display().to_string(),
            ],
        );
        peer.wait_for("statsd to flush once", || flushes.exists().then_some(()));
        Some(Self {
            peer,
            port,
            flushes,
        })
    }

    /// The file the flushes are appended to.
    pub fn flushes_file(&self) -> PathBuf {
        self.flushes.clone()
    }
}

/// Every flush in `file` so far, oldest first.
pub fn read_flushes(file: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}
