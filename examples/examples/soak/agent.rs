//! A local OTLP receiver for the soak run: ddapm-test-agent, started from
//! `AUTOTEL_TEST_AGENT_BIN` on free loopback ports and stopped on drop.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the agent may take to listen.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running ddapm-test-agent, killed when dropped.
pub struct Agent {
    child: Child,
    http: SocketAddr,
}

impl Agent {
    /// The OTLP/HTTP endpoint of the agent.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Forgets what the agent received so far, so that its own memory does
    /// not grow over a long run.
    pub fn clear(&self) {
        let _ = crate::client::get(&mut None, self.http, "/test/session/clear");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Starts the agent named by `AUTOTEL_TEST_AGENT_BIN`; `None`, with a line
/// on standard error saying why, when it is not set or does not come up.
pub fn start() -> Option<Agent> {
    let bin = std::env::var_os("AUTOTEL_TEST_AGENT_BIN")?;
    let ports = (free_port(), free_port(), free_port());
    let (Ok(apm), Ok(http), Ok(grpc)) = ports else {
        eprintln!("soak: no free loopback port for ddapm-test-agent; OTLP is off");
        return None;
    };
    let child = Command::new(&bin)
        .args(["--host", "127.0.0.1", "-p", &apm.to_string()])
        .args(["--otlp-http-port", &http.to_string()])
        .args(["--otlp-grpc-port", &grpc.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!(
                "soak: cannot start {} (AUTOTEL_TEST_AGENT_BIN): {error}; OTLP is off",
                bin.to_string_lossy()
            );
            return None;
        }
    };
    let agent = Agent {
        child,
        http: SocketAddr::from((Ipv4Addr::LOCALHOST, http)),
    };
    let start = Instant::now();
    while start.elapsed() < READY_WITHIN {
        if TcpStream::connect_timeout(&agent.http, Duration::from_secs(1)).is_ok() {
            return Some(agent);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "soak: ddapm-test-agent did not listen on {} within {} s; OTLP is off",
        agent.http,
        READY_WITHIN.as_secs()
    );
    None
}
