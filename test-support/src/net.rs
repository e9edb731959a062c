//! Loopback ports and connections: free and closed ports, forwarders that
//! put a peer behind a chosen port or keep a copy of what clients sent, and a
//! receiver that never answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The loopback address with `port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A free TCP port on 127.0.0.1 for a peer to listen on.
///
/// Ports come from below the kernel's ephemeral range, so the client sockets
/// of this and other processes cannot take them between this check and the
/// peer's own bind, and never twice in one process, so tests running side by
/// side cannot be handed the same port.
///
/// # Panics
///
/// When no loopback port at all is free.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let (low, high) = listen_port_range();
    let span = usize::from(high - low);
    // Processes start at different points of the range.
    let offset = std::process::id() as usize * 97;
    for _ in 0..span {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low + ((offset + step) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A loopback address where nothing listens: a [`free_port`], which no
/// other test of this process is handed.
///
/// # Panics
///
/// As [`free_port`].
pub fn closed_port() -> SocketAddr {
    loopback(free_port())
}

/// Ports below the ephemeral range, `[low, high)`.
fn listen_port_range() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_start > 12000 {
        (10000, ephemeral_start)
    } else {
        (ephemeral_start.saturating_add(30000).max(40000), 65000)
    }
}

/// Listens on `host_port` of the first loopback address (127.0.0.1,
/// 127.0.0.2, ...) where it is free, and forwards every connection to
/// `target`; the address listened on.
///
/// A port number whose meaning matters (4317, 4318) may be taken by another
/// program on 127.0.0.1; the whole of 127.0.0.0/8 is loopback.
///
/// # Panics
///
/// When the port is taken on every loopback address tried.
pub fn forward_on_port(host_port: u16, target: SocketAddr) -> SocketAddr {
    let listener = (1..=250u8)
        .find_map(|last| TcpListener::bind(SocketAddr::from(([127, 0, 0, last], host_port))).ok())
        .unwrap_or_else(|| panic!("port {host_port} is taken on every loopback address tried"));
    let address = listener.local_addr().expect("an address");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(target) else {
                continue;
            };
            let pairs = [
                (client.try_clone(), upstream.try_clone()),
                (upstream.try_clone(), client.try_clone()),
            ];
            for (from, to) in pairs {
                if let (Ok(mut from), Ok(mut to)) = (from, to) {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        }
    });
    address
}

/// Forwards every connection on a fresh loopback port to `target`, keeping a
/// copy of what clients sent; the address and the copy.
///
/// # Panics
///
/// When no loopback port is free.
pub fn capture_forward(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address");
    let sent = Arc::new(Mutex::new(Vec::new()));
    let copy = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(target) else {
                continue;
            };
            let (Ok(mut from_client), Ok(mut to_upstream)) =
                (client.try_clone(), upstream.try_clone())
            else {
                continue;
            };
            let copy = copy.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                while let Ok(n) = from_client.read(&mut buffer) {
                    if n == 0 || to_upstream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                    copy.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&buffer[..n]);
                }
                let _ = to_upstream.shutdown(std::net::Shutdown::Write);
            });
            let (Ok(mut from_upstream), Ok(mut to_client)) =
                (upstream.try_clone(), client.try_clone())
            else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_upstream, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (address, sent)
}

/// A receiver on a fresh loopback port that accepts connections and never
/// reads from them or answers; its address.
///
/// # Panics
///
/// When no loopback port is free.
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
