//! Where a StatsD or DogStatsD agent listens: a UDP host and port, or a Unix
//! datagram socket.

use std::fmt;
use std::path::PathBuf;

use crate::env::InvalidSetting;
use crate::env::split_host_port;

/// The port StatsD agents and the Datadog agent listen on by default.
pub const DEFAULT_PORT: u16 = 8125;

/// Where the agent listens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Address {
    /// A UDP host (name or IP address) and port.
    Udp {
        /// The host name or IP address.
        host: String,
        /// The UDP port.
        port: u16,
    },
    /// The path of a Unix datagram socket (DogStatsD's `unix://` URLs).
    Unix(PathBuf),
}

impl Address {
    /// `udp://host:port`, `unix:///path`, `unixgram:///path` or `host:port`,
    /// as `DD_DOGSTATSD_URL` takes it; `setting` names the variable or method
    /// in the error.
    ///
    /// # Errors
    ///
    /// When the text is none of these.
    pub fn parse(setting: &'static str, text: &str) -> Result<Self, InvalidSetting> {
        let invalid = || {
            InvalidSetting::new(
                setting,
                text,
                "is not a StatsD address: give udp://host:port, unix:///path/to/socket or \
                 host:port",
            )
        };
        let text = text.trim();
        for scheme in ["unix://", "unixgram://"] {
            if let Some(path) = text.strip_prefix(scheme) {
                if !path.starts_with('/') {
                    return Err(invalid());
                }
                return Ok(Self::Unix(PathBuf::from(path)));
            }
        }
        let rest = text.strip_prefix("udp://").unwrap_or(text);
        if rest.contains("://") || rest.contains('/') {
            return Err(invalid());
        }
        // An IPv6 address goes in brackets: `[::1]` or `[::1]:8125`.
        let (host, port) = split_host_port(rest, DEFAULT_PORT).ok_or_else(invalid)?;
        Ok(Self::Udp {
            host: host.to_owned(),
            port,
        })
    }

    /// The largest packet the transport takes at once: 1,432 bytes over UDP
    /// (a 1,500-byte Ethernet frame less IP and UDP headers, as StatsD
    /// recommends), 8,192 over a Unix socket (the Datadog agent's buffer).
    pub fn packet_size(&self) -> usize {
        match self {
            Self::Udp { .. } => 1432,
            Self::Unix(_) => 8192,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Udp { host, port } if host.contains(':') => write!(f, "udp://[{host}]:{port}"),
            Self::Udp { host, port } => write!(f, "udp://{host}:{port}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(host: &str, port: u16) -> Address {
        Address::Udp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn reads_every_form_datadog_documents() {
        let parse = |text| Address::parse("DD_DOGSTATSD_URL", text).unwrap();
        assert_eq!(parse("udp://agent:9125"), udp("agent", 9125));
        assert_eq!(parse("agent:9125"), udp("agent", 9125));
        assert_eq!(parse("agent"), udp("agent", DEFAULT_PORT));
        assert_eq!(parse("udp://[::1]:9125"), udp("::1", 9125));
        assert_eq!(parse("[::1]"), udp("::1", DEFAULT_PORT));
        assert_eq!(
            parse("unix:///var/run/datadog/dsd.socket"),
            Address::Unix("/var/run/datadog/dsd.socket".into())
        );
        assert_eq!(
            parse("unixgram:///tmp/dsd.sock"),
            Address::Unix("/tmp/dsd.sock".into())
        );
        assert_eq!(parse("udp://agent:9125").to_string(), "udp://agent:9125");
        assert_eq!(parse("[::1]:1").to_string(), "udp://[::1]:1");
    }

    #[test]
    fn refuses_what_is_no_address() {
        for text in [
            "http://agent:8125",
            "agent:port",
            "agent:0",
            "agent:70000",
            "unix://relative",
            ":8125",
            "agent/path",
        ] {
            let error = Address::parse("DD_DOGSTATSD_URL", text).unwrap_err();
            assert_eq!(error.setting(), "DD_DOGSTATSD_URL");
            assert!(error.to_string().contains(text), "{error}");
        }
    }
}
