//! Where the CloudWatch agent's EMF listener is, and the sockets that reach
//! it: a TCP connection kept open and made again when it breaks, or a UDP
//! socket, one datagram per line.

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use crate::env::split_host_port;
use crate::env::{InvalidSetting, redact_url};

/// The port the CloudWatch agent's EMF listener takes TCP and UDP on.
pub const DEFAULT_AGENT_PORT: u16 = 25888;

/// The CloudWatch agent's EMF listener, as `AWS_EMF_AGENT_ENDPOINT` names
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentEndpoint {
    /// `tcp://host:port`: lines over one connection.
    Tcp {
        /// The host name or IP address.
        host: String,
        /// The TCP port.
        port: u16,
    },
    /// `udp://host:port`: one datagram per line.
    Udp {
        /// The host name or IP address.
        host: String,
        /// The UDP port.
        port: u16,
    },
}

impl AgentEndpoint {
    /// `tcp://host:port` or `udp://host:port` (the port defaults to
    /// [`DEFAULT_AGENT_PORT`], IPv6 addresses go in brackets); `setting`
    /// names the variable or method in the error.
    ///
    /// # Errors
    ///
    /// When `text` is neither.
    pub fn parse(setting: &'static str, text: &str) -> Result<Self, InvalidSetting> {
        let text = text.trim();
        let invalid = || {
            InvalidSetting::new(
                setting,
                redact_url(text),
                "is not a CloudWatch agent endpoint: give tcp://host:port or udp://host:port \
                 (the agent's EMF listener, port 25888 by default)",
            )
        };
        let (udp, rest) = if let Some(rest) = strip_scheme(text, "tcp://") {
            (false, rest)
        } else if let Some(rest) = strip_scheme(text, "udp://") {
            (true, rest)
        } else {
            return Err(invalid());
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '@', '?', '#']) {
            return Err(invalid());
        }
        let (host, port) = split_host_port(rest, DEFAULT_AGENT_PORT).ok_or_else(invalid)?;
        if host.contains([':', '[', ']']) && !rest.starts_with('[') {
            return Err(invalid());
        }
        let host = host.to_owned();
        Ok(if udp {
            Self::Udp { host, port }
        } else {
            Self::Tcp { host, port }
        })
    }

    fn host_port(&self) -> (&str, u16) {
        match self {
            Self::Tcp { host, port } | Self::Udp { host, port } => (host, *port),
        }
    }
}

fn strip_scheme<'t>(text: &'t str, scheme: &str) -> Option<&'t str> {
    let head = text.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &text[scheme.len()..])
}

impl fmt::Display for AgentEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self {
            Self::Tcp { .. } => "tcp",
            Self::Udp { .. } => "udp",
        };
        let (host, port) = self.host_port();
        if host.contains(':') {
            write!(f, "{scheme}://[{host}]:{port}")
        } else {
            write!(f, "{scheme}://{host}:{port}")
        }
    }
}

/// The lines of one export that did not leave, and why.
#[derive(Debug)]
pub(super) struct Unsent {
    /// How many lines were lost.
    pub(super) lines: u64,
    /// The first error.
    pub(super) error: io::Error,
}

/// A connection or socket to the agent, opened when first needed and again
/// after it failed.
#[derive(Debug)]
pub(super) struct Agent {
    endpoint: AgentEndpoint,
    timeout: Duration,
    tcp: Option<TcpStream>,
    udp: Option<UdpSocket>,
}

impl Agent {
    pub(super) fn new(endpoint: AgentEndpoint, timeout: Duration) -> Self {
        Self {
            endpoint,
            timeout,
            tcp: None,
            udp: None,
        }
    }

    pub(super) fn endpoint(&self) -> &AgentEndpoint {
        &self.endpoint
    }

    /// Sends `lines` (each ending in `\n`), each one retried once on a new
    /// connection or socket when sending it fails, and none started after
    /// `timeout` from now.
    pub(super) fn send(&mut self, lines: &[String]) -> Result<(), Unsent> {
        let deadline = Instant::now() + self.timeout;
        if self.tcp.as_ref().is_some_and(closed) {
            self.tcp = None;
        }
        for (sent, line) in lines.iter().enumerate() {
            let unsent = |error| Unsent {
                lines: (lines.len() - sent) as u64,
                error,
            };
            if Instant::now() >= deadline {
                return Err(unsent(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the agent took more than {:?} to read the lines",
                        self.timeout
                    ),
                )));
            }
            if self.send_line(line).is_err() {
                // A broken connection or a socket that saw an error: once
                // more on a new one. A line cut short on the broken
                // connection is not valid JSON, and the agent drops it.
                self.tcp = None;
                self.udp = None;
                if let Err(error) = self.send_line(line) {
                    self.tcp = None;
                    self.udp = None;
                    return Err(unsent(error));
                }
            }
        }
        Ok(())
    }

    fn send_line(&mut self, line: &str) -> io::Result<()> {
        match self.endpoint {
            AgentEndpoint::Tcp { .. } => self.tcp()?.write_all(line.as_bytes()),
            AgentEndpoint::Udp { .. } => {
                let sent = self.udp()?.send(line.as_bytes())?;
                if sent == line.len() {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the datagram left truncated",
                    ))
                }
            }
        }
    }

    /// The open connection, or a new one.
    fn tcp(&mut self) -> io::Result<&mut TcpStream> {
        if self.tcp.is_none() {
            let mut last = None;
            for address in self.addresses()? {
                match TcpStream::connect_timeout(&address, self.timeout) {
                    Ok(stream) => {
                        stream.set_write_timeout(Some(self.timeout))?;
                        self.tcp = Some(stream);
                        break;
                    }
                    Err(error) => last = Some(error),
                }
            }
            if self.tcp.is_none() {
                return Err(last.unwrap_or_else(no_address));
            }
        }
        self.tcp.as_mut().ok_or_else(no_address)
    }

    /// The socket, connected to the agent so that its errors come back.
    fn udp(&mut self) -> io::Result<&UdpSocket> {
        if self.udp.is_none() {
            let address = self.addresses()?.next().ok_or_else(no_address)?;
            let local = if address.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let socket = UdpSocket::bind(local)?;
            socket.set_write_timeout(Some(self.timeout))?;
            socket.connect(address)?;
            self.udp = Some(socket);
        }
        self.udp.as_ref().ok_or_else(no_address)
    }

    fn addresses(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        self.endpoint.host_port().to_socket_addrs()
    }
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "the host name has no address")
}

/// Whether the agent closed the connection: it never writes, so a
/// connection with something to read has reached its end.
fn closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() != io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).is_err() || closed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> AgentEndpoint {
        AgentEndpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn reads_the_forms_the_agent_documents() {
        let parse = |text| AgentEndpoint::parse("AWS_EMF_AGENT_ENDPOINT", text).unwrap();
        assert_eq!(parse("tcp://127.0.0.1:25888"), tcp("127.0.0.1", 25888));
        assert_eq!(parse(" TCP://agent "), tcp("agent", DEFAULT_AGENT_PORT));
        assert_eq!(parse("tcp://agent:9000/"), tcp("agent", 9000));
        assert_eq!(parse("tcp://[::1]:9000"), tcp("::1", 9000));
        assert_eq!(
            parse("udp://cloudwatch-agent.amazon-cloudwatch:25888"),
            AgentEndpoint::Udp {
                host: "cloudwatch-agent.amazon-cloudwatch".into(),
                port: 25888
            }
        );
        assert_eq!(parse("tcp://[::1]:9000").to_string(), "tcp://[::1]:9000");
        assert_eq!(parse("udp://agent").to_string(), "udp://agent:25888");
    }

    #[test]
    fn refuses_what_is_no_endpoint_without_showing_credentials() {
        for text in [
            "127.0.0.1:25888",
            "http://agent:25888",
            "tcp://",
            "tcp://agent:0",
            "tcp://agent:port",
            "tcp://agent:25888/path",
            "tcp://::1:25888",
        ] {
            let error = AgentEndpoint::parse("AWS_EMF_AGENT_ENDPOINT", text).unwrap_err();
            assert_eq!(error.setting(), "AWS_EMF_AGENT_ENDPOINT");
            assert!(error.to_string().contains(text), "{error}");
        }
        let error = AgentEndpoint::parse("E", "tcp://user:secret@agent:1").unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}
