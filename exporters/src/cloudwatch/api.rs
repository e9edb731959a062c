//! The PutMetricData exporter: builder, AWS SDK client, export.

mod datums;
mod env;

pub use datums::MAX_VALUES_PER_REQUEST;

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::Region;
use aws_sdk_cloudwatch::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::error::SdkError;
use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataError;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use tokio::runtime::Runtime;

use super::names::Naming;
use crate::ServiceInfo;
use crate::env::{InvalidSetting, parse_endpoint, redact_url};
use crate::push::{ExportError, PushExporter, Snapshot};

/// How long one `PutMetricData` request may take, retries included, by
/// default.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(10);

/// Builder of the CloudWatch `PutMetricData` exporter.
///
/// Each interval, every series becomes one `MetricDatum` (histograms a
/// statistic set: exact sample count, sum, minimum and maximum), sent in
/// requests of at most [`MAX_VALUES_PER_REQUEST`] data and under 1 MB,
/// gzipped past 10 KB, signed with the credentials of the standard AWS
/// chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE` and the
/// shared files (SSO and `credential_process` included), web identity
/// (EKS), the ECS task role, the EC2 instance role. The region comes from
/// `AWS_REGION` (or the profile, or the instance), the endpoint from
/// `AWS_ENDPOINT_URL_CLOUDWATCH` or `AWS_ENDPOINT_URL` when set.
///
/// The AWS SDK for Rust carries the requests (the current one, which speaks
/// CloudWatch's `rpc-v2-cbor` protocol), on a single-threaded Tokio runtime
/// of the exporter's own thread: nothing of it runs on the program's
/// threads, and a program with its own Tokio runtime is not disturbed.
///
/// ```no_run
/// use autotel_exporters::cloudwatch::CloudWatch;
/// use autotel_exporters::push::Push;
///
/// let cloudwatch = CloudWatch::new()
///     .with_namespace("Shop/Checkout")?
///     .with_region("eu-west-1")
///     .build();
/// let (recorder, _guard) = Push::new().with_exporter(cloudwatch).build()?;
/// metrics::set_global_recorder(recorder)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CloudWatch {
    naming: Naming,
    region: Option<String>,
    endpoint: Option<String>,
    sdk_config: Option<SdkConfig>,
    high_resolution: bool,
    timeout: Duration,
}

impl std::fmt::Debug for CloudWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatch")
            .field("namespace", &self.namespace())
            .field("region", &self.region)
            .field("endpoint", &self.endpoint.as_deref().map(redact_url))
            .field("sdk_config", &self.sdk_config.is_some())
            .field("high_resolution", &self.high_resolution)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for CloudWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl CloudWatch {
    /// A `PutMetricData` exporter: its namespace the service name, its
    /// region, credentials and endpoint from the standard AWS chain.
    pub fn new() -> Self {
        Self {
            naming: Naming::default(),
            region: None,
            endpoint: None,
            sdk_config: None,
            high_resolution: false,
            timeout: DEFAULT_API_TIMEOUT,
        }
    }

    /// A `PutMetricData` exporter when `CLOUDWATCH_NAMESPACE` is set (its
    /// namespace), `None` otherwise. Region, credentials and endpoint come
    /// from the standard AWS variables (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_PROFILE`, `AWS_ENDPOINT_URL_CLOUDWATCH`, ...), read by the SDK
    /// when the exporter first sends.
    ///
    /// # Errors
    ///
    /// When `CLOUDWATCH_NAMESPACE` is not a CloudWatch namespace.
    pub fn from_env() -> Result<Option<Self>, InvalidSetting> {
        env::cloudwatch()
    }

    /// Puts the metrics in the CloudWatch namespace `namespace`. Defaults
    /// to the service name, with the characters a namespace may not hold
    /// written as `_`.
    ///
    /// # Errors
    ///
    /// When `namespace` is not a CloudWatch namespace: 1 to 255 ASCII
    /// letters, digits and `. _ # : / -`, not starting with `:` or `AWS/`.
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self, InvalidSetting> {
        self.naming
            .set_namespace("CloudWatch::with_namespace", namespace)?;
        Ok(self)
    }

    /// Names the service: the namespace when none is set. Defaults to the
    /// name given to [`with_service`](Self::with_service), else
    /// `unknown_service`.
    #[must_use]
    pub fn with_service_name(mut self, name: &str) -> Self {
        self.naming.set_service(name);
        self
    }

    /// Takes the service name of `service`, unless one is already set.
    #[must_use]
    pub fn with_service(mut self, service: &ServiceInfo) -> Self {
        self.naming.offer_service(service.name());
        self
    }

    /// Sends to the CloudWatch API of the AWS region `region`
    /// (`eu-west-1`). Defaults to the standard chain: `AWS_REGION`, the
    /// profile, the instance's region.
    #[must_use]
    pub fn with_region(mut self, region: &str) -> Self {
        self.region = Some(region.trim().to_owned()).filter(|r| !r.is_empty());
        self
    }

    /// Sends to `url` (a VPC endpoint, a test server) rather than the
    /// region's public endpoint. Defaults to `AWS_ENDPOINT_URL_CLOUDWATCH`,
    /// then `AWS_ENDPOINT_URL`, then the region's endpoint.
    ///
    /// # Errors
    ///
    /// When `url` is not an `http://` or `https://` URL with a host.
    pub fn with_endpoint_url(mut self, url: &str) -> Result<Self, InvalidSetting> {
        let endpoint = parse_endpoint("CloudWatch::with_endpoint_url", url)?;
        self.endpoint = Some(endpoint.url());
        Ok(self)
    }

    /// Uses `config` (credentials, region, endpoint, retries; see the
    /// re-exported [`aws_config`](crate::cloudwatch::aws_config)) rather
    /// than loading the standard chain. [`with_region`](Self::with_region)
    /// and [`with_endpoint_url`](Self::with_endpoint_url) still apply on top
    /// of it; without an HTTP client of its own, the exporter's (rustls) is
    /// used. Defaults to the standard chain.
    #[must_use]
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self
    }

    /// Stores the metrics at one-second resolution (`StorageResolution` 1,
    /// billed as high-resolution metrics) rather than one-minute (60).
    /// Defaults to `false`.
    #[must_use]
    pub fn with_high_resolution(mut self, high: bool) -> Self {
        self.high_resolution = high;
        self
    }

    /// How long one request may take, retries included; past it the data
    /// of the request are lost and counted. Defaults to
    /// [`DEFAULT_API_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// When `timeout` is zero.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, InvalidSetting> {
        self.timeout = super::timeout("CloudWatch::with_timeout", timeout)?;
        Ok(self)
    }

    /// The namespace the metrics go to.
    pub fn namespace(&self) -> String {
        self.naming.namespace()
    }

    /// The exporter, to add to a [`Push`](crate::push::Push). It loads the
    /// AWS configuration and starts its runtime on its own thread when it
    /// first sends, so building it never blocks nor needs the network.
    pub fn build(self) -> CloudWatchExporter {
        CloudWatchExporter {
            namespace: self.namespace(),
            resolution: if self.high_resolution { 1 } else { 60 },
            region: self.region,
            endpoint: self.endpoint,
            sdk_config: self.sdk_config,
            timeout: self.timeout,
            client: None,
        }
    }
}

/// The `PutMetricData` exporter, to add to a [`Push`](crate::push::Push).
pub struct CloudWatchExporter {
    namespace: String,
    resolution: i32,
    region: Option<String>,
    endpoint: Option<String>,
    sdk_config: Option<SdkConfig>,
    timeout: Duration,
    client: Option<Connected>,
}

/// The runtime and the client, once the configuration is loaded.
struct Connected {
    runtime: Runtime,
    client: Client,
    /// Where the requests go, for messages: the endpoint without
    /// credentials, or the region.
    target: String,
}

impl std::fmt::Debug for CloudWatchExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatchExporter")
            .field("namespace", &self.namespace)
            .field("target", &self.client.as_ref().map(|c| c.target.as_str()))
            .finish_non_exhaustive()
    }
}

impl CloudWatchExporter {
    /// The client, made when first needed: the runtime, the configuration
    /// (given, or loaded from the standard chain), and a region. `values`
    /// are lost when it cannot be made.
    fn connect(&mut self, values: u64) -> Result<&Connected, ExportError> {
        if self.client.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| {
                    ExportError::new(
                        "io",
                        values,
                        format!(
                            "CloudWatch PutMetricData could not start its Tokio runtime: \
                             {error}; check that the program may create threads and sockets"
                        ),
                    )
                })?;
            let sdk_config = match &self.sdk_config {
                Some(config) => config.clone(),
                None => {
                    let mut loader =
                        aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
                    if let Some(region) = &self.region {
                        loader = loader.region(Region::new(region.clone()));
                    }
                    if let Some(endpoint) = &self.endpoint {
                        loader = loader.endpoint_url(endpoint.clone());
                    }
                    runtime.block_on(loader.load())
                }
            };
            let mut config = aws_sdk_cloudwatch::config::Builder::from(&sdk_config);
            if sdk_config.behavior_version().is_none() {
                config = config.behavior_version(BehaviorVersion::latest());
            }
            if sdk_config.http_client().is_none() {
                config = config.http_client(http_client());
            }
            if let Some(region) = &self.region {
                config = config.region(Region::new(region.clone()));
            }
            if let Some(endpoint) = &self.endpoint {
                config = config.endpoint_url(endpoint.clone());
            }
            let config = config
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(self.timeout)
                        .operation_timeout(self.timeout)
                        .build(),
                )
                .build();
            let Some(region) = config.region().map(|r| r.as_ref().to_owned()) else {
                return Err(ExportError::new(
                    "config",
                    values,
                    "CloudWatch PutMetricData has no AWS region to send to; set AWS_REGION, a \
                     region in the AWS profile, or CloudWatch::with_region",
                ));
            };
            // The endpoint as the SDK chooses it, for messages: set here,
            // in the given configuration, or in the environment.
            let from_env = || {
                let loaded = self.sdk_config.is_none();
                let var = |name| crate::env::var(name).ok().flatten().filter(|_| loaded);
                var("AWS_ENDPOINT_URL_CLOUDWATCH").or_else(|| var("AWS_ENDPOINT_URL"))
            };
            let endpoint = self
                .endpoint
                .clone()
                .or_else(|| sdk_config.endpoint_url().map(str::to_owned))
                .or_else(from_env);
            let target = match endpoint {
                Some(endpoint) => format!("{} ({region})", redact_url(endpoint.trim())),
                None => format!("the CloudWatch API in {region}"),
            };
            self.client = Some(Connected {
                runtime,
                client: Client::from_conf(config),
                target,
            });
        }
        self.client.as_ref().ok_or_else(|| {
            ExportError::new("config", values, "CloudWatch PutMetricData has no client")
        })
    }
}

/// The HTTPS client of the SDK: hyper and rustls with ring, the TLS stack
/// the rest of autotel uses.
fn http_client() -> aws_sdk_cloudwatch::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

impl PushExporter for CloudWatchExporter {
    fn name(&self) -> &'static str {
        "cloudwatch"
    }

    fn export(&mut self, snapshot: &Snapshot) -> Result<(), ExportError> {
        let (batches, drops) = datums::batches(snapshot, self.resolution);
        drops.count();
        if batches.is_empty() {
            return Ok(());
        }
        let namespace = self.namespace.clone();
        let values = batches.iter().map(|batch| batch.data.len() as u64).sum();
        let connected = self.connect(values)?;
        let mut lost = 0u64;
        let mut first = None;
        for batch in batches {
            let values = batch.data.len() as u64;
            let request = connected
                .client
                .put_metric_data()
                .namespace(&namespace)
                .set_metric_data(Some(batch.data))
                .send();
            if let Err(error) = connected.runtime.block_on(request) {
                lost += values;
                first.get_or_insert(error);
            }
        }
        match first {
            None => Ok(()),
            Some(error) => Err(failed(&connected.target, &error, lost)),
        }
    }
}

/// The error of an export whose first failed request failed with `error`.
fn failed<R>(target: &str, error: &SdkError<PutMetricDataError, R>, lost: u64) -> ExportError
where
    R: std::fmt::Debug + 'static,
{
    let (reason, hint) = match error {
        SdkError::TimeoutError(_) => ("timeout", TIMEOUT_HINT),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => ("timeout", TIMEOUT_HINT),
        SdkError::DispatchFailure(failure) if failure.is_io() => (
            "unavailable",
            "check the endpoint, the network and any proxy or VPC endpoint on the way",
        ),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => (
            "config",
            "check the AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, \
             or the role of the task, pod or instance",
        ),
        SdkError::ServiceError(_) => (
            "rejected",
            "check that the credentials allow cloudwatch:PutMetricData in this region, and the \
             error CloudWatch gave",
        ),
        _ => ("io", "check the endpoint"),
    };
    ExportError::new(
        reason,
        lost,
        format!(
            "CloudWatch PutMetricData to {target} failed ({reason}): {}; {lost} values lost; \
             {hint}",
            causes(error)
        ),
    )
}

/// `error` and its sources, on one line: `what: why: why`.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let shown = error.to_string();
        if !text.ends_with(&shown) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&shown);
        }
        next = error.source();
    }
    // The credential chain lists its attempts one per line.
    let mut line = String::new();
    for part in text
        .split('\n')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}

const TIMEOUT_HINT: &str = "CloudWatch did not answer in time; check the network, or give a \
                            longer CloudWatch::with_timeout";
