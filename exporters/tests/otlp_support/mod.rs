//! What the OTLP fault tests share: a collector that never answers, and the
//! `autotel_*` counters the pipelines' threads record globally.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};

#[path = "../support/recorder.rs"]
mod recorder;

#[allow(unused_imports)]
pub use recorder::{global_counter, global_counter_with, snapshotter};

/// The sum of the global counters `name`, whatever their labels.
pub fn global_total(name: &str) -> u64 {
    global_counter_with(name, &[])
}

/// A receiver that accepts connections and never reads or answers.
pub fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address");
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}
