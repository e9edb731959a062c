//! The StatsD and DogStatsD exporters from their environment variables.

use super::{Address, DEFAULT_PORT, StatsD};
use crate::env::{self, InvalidSetting};
use crate::global_tags::GlobalTags;

/// Plain StatsD from `STATSD_HOST`, `STATSD_PORT` and `STATSD_PREFIX`.
pub(super) fn statsd() -> Result<Option<StatsD>, InvalidSetting> {
    let Some(host) = env::var("STATSD_HOST")? else {
        return Ok(None);
    };
    let port = port("STATSD_PORT")?.unwrap_or(DEFAULT_PORT);
    let mut statsd = StatsD::new().with_host(host.trim(), port);
    if let Some(prefix) = env::var("STATSD_PREFIX")? {
        statsd = statsd.with_prefix(prefix.trim());
    }
    Ok(Some(statsd))
}

/// DogStatsD from Datadog's own variables.
pub(super) fn dogstatsd() -> Result<Option<StatsD>, InvalidSetting> {
    let address = match env::var("DD_DOGSTATSD_URL")? {
        Some(url) => Address::parse("DD_DOGSTATSD_URL", &url)?,
        None => match env::var("DD_AGENT_HOST")? {
            Some(host) => Address::Udp {
                host: host.trim().to_owned(),
                port: port("DD_DOGSTATSD_PORT")?.unwrap_or(DEFAULT_PORT),
            },
            None => return Ok(None),
        },
    };
    let mut dogstatsd = StatsD::dogstatsd();
    dogstatsd.address = address;
    dogstatsd.tags = GlobalTags::from_vars(env::var)?;
    Ok(Some(dogstatsd))
}

fn port(variable: &'static str) -> Result<Option<u16>, InvalidSetting> {
    let Some(text) = env::var(variable)? else {
        return Ok(None);
    };
    match text.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(Some(port)),
        _ => Err(InvalidSetting::new(
            variable,
            text,
            "is not a port number (1 to 65535)",
        )),
    }
}
