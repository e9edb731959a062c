//! The resource every signal carries.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;

use super::OtlpError;
use super::transport::ReadVar;
use crate::ServiceInfo;
use crate::env;

/// The resource: telemetry SDK attributes, host and process attributes,
/// `OTEL_RESOURCE_ATTRIBUTES` (percent-decoded), then the service and the
/// attributes set in code; `service.name` from code, then
/// `OTEL_SERVICE_NAME`, then `OTEL_RESOURCE_ATTRIBUTES`.
pub(crate) fn resource(
    service: Option<&ServiceInfo>,
    extra: &[(String, String)],
    read: ReadVar<'_>,
) -> Result<Resource, OtlpError> {
    let from_env = match read("OTEL_RESOURCE_ATTRIBUTES")? {
        Some(value) => env::parse_key_values("OTEL_RESOURCE_ATTRIBUTES", &value, false)?,
        None => Vec::new(),
    };
    let service_name = match service {
        Some(service) => service.name().to_owned(),
        None => match read("OTEL_SERVICE_NAME")? {
            Some(name) => name.trim().to_owned(),
            None => from_env
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(default_service_name),
        },
    };
    let mut attributes = host_and_process_attributes();
    attributes.extend(from_env.into_iter().map(|(k, v)| KeyValue::new(k, v)));
    if let Some(service) = service {
        attributes.push(KeyValue::new(
            "service.version",
            service.version().to_owned(),
        ));
        attributes.push(KeyValue::new(
            "deployment.environment.name",
            service.environment().to_owned(),
        ));
    }
    attributes.extend(
        extra
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Ok(Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(attributes)
        .with_service_name(service_name)
        .build())
}

/// `unknown_service:<executable>`, as the specification asks.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name()?.to_str().map(str::to_owned))
        .map_or_else(
            || "unknown_service".to_owned(),
            |name| format!("unknown_service:{name}"),
        )
}

/// `host.*`, `os.type` and `process.*` resource attributes.
fn host_and_process_attributes() -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("host.arch", std::env::consts::ARCH),
        KeyValue::new("os.type", std::env::consts::OS),
        KeyValue::new("process.pid", i64::from(std::process::id())),
        KeyValue::new("process.runtime.name", "rust"),
    ];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    if let Some(host) = host {
        attributes.push(KeyValue::new("host.name", host));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(name) = exe.file_name().and_then(|n| n.to_str()) {
            attributes.push(KeyValue::new("process.executable.name", name.to_owned()));
        }
        attributes.push(KeyValue::new(
            "process.executable.path",
            exe.display().to_string(),
        ));
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn resource_attributes_are_percent_decoded_and_code_wins() {
        let vars = [(
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=env,region=eu%2Dwest%201,service.name=from%20env",
        )];
        let map: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let extra = [("team".to_owned(), "code".to_owned())];
        let resource = resource(None, &extra, &|name| Ok(map.get(name).cloned())).unwrap();
        let get = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(key))
                .map(|v| v.to_string())
        };
        assert_eq!(get("team").as_deref(), Some("code"));
        assert_eq!(get("region").as_deref(), Some("eu-west 1"));
        assert_eq!(get("service.name").as_deref(), Some("from env"));
        assert!(get("telemetry.sdk.name").is_some());
    }
}
