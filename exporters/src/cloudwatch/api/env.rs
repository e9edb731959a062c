//! The PutMetricData exporter from the environment.

use super::CloudWatch;
use crate::env::{self, InvalidSetting};

/// `PutMetricData` when `CLOUDWATCH_NAMESPACE` is set; the SDK reads the
/// standard AWS variables itself.
pub(super) fn cloudwatch() -> Result<Option<CloudWatch>, InvalidSetting> {
    let Some(namespace) = env::var("CLOUDWATCH_NAMESPACE")? else {
        return Ok(None);
    };
    let mut cloudwatch = CloudWatch::new();
    cloudwatch
        .naming
        .set_namespace("CLOUDWATCH_NAMESPACE", &namespace)?;
    Ok(Some(cloudwatch))
}
