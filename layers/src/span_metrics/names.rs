//! The names of the metrics the span metrics layer records, with the
//! configured prefix.

use std::sync::Arc;

use metrics::SharedString;

use crate::catalog::{self, MetricDef};

/// The catalog metrics this layer records.
pub(super) const RECORDED: &[MetricDef] = &[
    catalog::SPAN_CALLS_TOTAL,
    catalog::SPAN_DURATION_SECONDS,
    catalog::SPAN_ERRORS_TOTAL,
    catalog::PIPELINE_EXECUTIONS_TOTAL,
    catalog::PIPELINE_DURATION_SECONDS,
    catalog::ACTIVE_PIPELINES,
    catalog::STEP_DURATION_SECONDS,
    catalog::STEP_ERRORS_TOTAL,
    catalog::ITEMS_PROCESSED_TOTAL,
    catalog::API_CALLS_TOTAL,
    catalog::PIPELINE_COST_USD_TOTAL,
    catalog::PIPELINE_QUEUE_DEPTH,
];

/// The label name a dimension field becomes.
pub(super) fn label_name(field: &str) -> String {
    field.replace('.', "_")
}

/// Metric names with the configured prefix, shared without copying: one per
/// entry of [`RECORDED`], in its order.
pub(super) struct Names {
    prefix: Option<String>,
    names: Box<[SharedString]>,
}

impl Names {
    pub(super) fn new(prefix: Option<&str>) -> Self {
        let names = RECORDED
            .iter()
            .map(|def| match prefix {
                None => SharedString::const_str(def.name()),
                Some(prefix) => {
                    SharedString::from_shared(Arc::<str>::from(format!("{prefix}_{}", def.name())))
                }
            })
            .collect();
        Self {
            prefix: prefix.map(str::to_owned),
            names,
        }
    }

    /// The name of `def`, one of [`RECORDED`], with the prefix. Looked up
    /// when handles are registered and when a recording overflows, never
    /// on the path of a known series.
    pub(super) fn of(&self, def: MetricDef) -> &SharedString {
        let index = RECORDED
            .iter()
            .position(|recorded| recorded.name() == def.name())
            .unwrap_or_default();
        &self.names[index]
    }

    pub(super) fn name(&self, base: &str) -> String {
        match &self.prefix {
            None => base.to_owned(),
            Some(prefix) => format!("{prefix}_{base}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorded_metric_has_its_prefixed_name() {
        let names = Names::new(Some("app"));
        for def in RECORDED {
            assert_eq!(**names.of(*def), format!("app_{}", def.name()));
        }
        let plain = Names::new(None);
        assert_eq!(**plain.of(catalog::ACTIVE_PIPELINES), *"active_pipelines");
    }
}
