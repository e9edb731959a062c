//! The EMF exporter from the variables AWS's EMF libraries read.

use super::{AgentEndpoint, Emf};
use crate::env::{self, InvalidSetting};

/// EMF from `AWS_EMF_*`, or `None` when neither `AWS_EMF_NAMESPACE` nor
/// `AWS_EMF_AGENT_ENDPOINT` is set.
pub(super) fn emf() -> Result<Option<Emf>, InvalidSetting> {
    let namespace = env::var("AWS_EMF_NAMESPACE")?;
    let endpoint = env::var("AWS_EMF_AGENT_ENDPOINT")?;
    if namespace.is_none() && endpoint.is_none() {
        return Ok(None);
    }
    let mut emf = Emf::new();
    if let Some(namespace) = namespace {
        emf.naming.set_namespace("AWS_EMF_NAMESPACE", &namespace)?;
    }
    if let Some(endpoint) = endpoint {
        emf = emf.with_agent(AgentEndpoint::parse("AWS_EMF_AGENT_ENDPOINT", &endpoint)?);
    }
    if let Some(service) = env::var("AWS_EMF_SERVICE_NAME")? {
        emf = emf.with_service_name(service.trim());
    }
    if let Some(group) = env::var("AWS_EMF_LOG_GROUP_NAME")? {
        emf = emf.with_log_group(group.trim());
    }
    if let Some(stream) = env::var("AWS_EMF_LOG_STREAM_NAME")? {
        emf = emf.with_log_stream(stream.trim());
    }
    Ok(Some(emf))
}
