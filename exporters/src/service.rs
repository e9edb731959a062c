//! Who is reporting: the service's name, version and deployment environment.

/// The identity of the service that exports telemetry.
///
/// Prometheus publishes it as the labels of `autotel_build_info`; OTLP as the
/// `service.name`, `service.version` and `deployment.environment.name`
/// resource attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    name: String,
    version: String,
    environment: String,
}

impl ServiceInfo {
    /// A service called `name`, version `0.0.0`, environment `development`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: "0.0.0".to_owned(),
            environment: "development".to_owned(),
        }
    }

    /// Sets the service version. Defaults to `0.0.0`.
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the deployment environment (`production`, `staging`, ...).
    /// Defaults to `development`.
    #[must_use]
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The deployment environment.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The labels of `autotel_build_info`, in catalog order, for recording
    /// it through the `metrics` facade.
    pub fn build_info_labels(&self) -> [(&'static str, String); 4] {
        [
            ("service_name", self.name.clone()),
            ("service_version", self.version.clone()),
            ("deployment_environment", self.environment.clone()),
            ("autotel_version", env!("CARGO_PKG_VERSION").to_owned()),
        ]
    }
}

impl Default for ServiceInfo {
    /// The service named `unknown_service`, as OpenTelemetry names a service
    /// that did not say.
    fn default() -> Self {
        Self::new("unknown_service")
    }
}
