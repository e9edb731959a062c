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
];

/// The label name a dimension field becomes.
pub(super) fn label_name(field: &str) -> String {
    field.replace('.', "_")
}

/// Metric names with the configured prefix, shared without copying.
pub(super) struct Names {
    pub(super) prefix: Option<String>,
    pub(super) calls: SharedString,
    pub(super) duration: SharedString,
    pub(super) errors: SharedString,
    pub(super) executions: SharedString,
    pub(super) pipeline_duration: SharedString,
    pub(super) active: SharedString,
    pub(super) step_duration: SharedString,
    pub(super) step_errors: SharedString,
    pub(super) items: SharedString,
    pub(super) api_calls: SharedString,
    pub(super) cost: SharedString,
}

impl Names {
    pub(super) fn new(prefix: Option<&str>) -> Self {
        let name = |def: MetricDef| match prefix {
            None => SharedString::const_str(def.name()),
            Some(prefix) => {
                SharedString::from_shared(Arc::<str>::from(format!("{prefix}_{}", def.name())))
            }
        };
        Self {
            prefix: prefix.map(str::to_owned),
            calls: name(catalog::SPAN_CALLS_TOTAL),
            duration: name(catalog::SPAN_DURATION_SECONDS),
            errors: name(catalog::SPAN_ERRORS_TOTAL),
            executions: name(catalog::PIPELINE_EXECUTIONS_TOTAL),
            pipeline_duration: name(catalog::PIPELINE_DURATION_SECONDS),
            active: name(catalog::ACTIVE_PIPELINES),
            step_duration: name(catalog::STEP_DURATION_SECONDS),
            step_errors: name(catalog::STEP_ERRORS_TOTAL),
            items: name(catalog::ITEMS_PROCESSED_TOTAL),
            api_calls: name(catalog::API_CALLS_TOTAL),
            cost: name(catalog::PIPELINE_COST_USD_TOTAL),
        }
    }

    pub(super) fn name(&self, base: &str) -> String {
        match &self.prefix {
            None => base.to_owned(),
            Some(prefix) => format!("{prefix}_{base}"),
        }
    }
}
