//! Exemplars on the OTLP histogram data points.
//!
//! The OpenTelemetry metrics SDK 0.33 keeps no exemplars, and its data points
//! cannot be changed from outside. So the [`OtelRecorder`](super::OtelRecorder)
//! of a pipeline keeps them itself, one per bucket per series
//! ([`crate::exemplar_reservoir`]), and they are added to the histogram data
//! points of each metrics request: the OTLP/HTTP client decodes the
//! `ExportMetricsServiceRequest`, fills the `exemplars` of every histogram
//! data point whose series has some, and encodes it again (gzip included; a
//! request with no exemplar to add leaves as it came); the gRPC metrics
//! exporter fills the request it builds before sending it.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, exemplar, metric};
use prost::Message as _;

use crate::exemplar_reservoir::{Kept, Reservoir};

/// A series: the OTLP metric name and its attributes, sorted by key.
type SeriesKey = (String, Vec<(String, String)>);

/// The exemplar reservoirs of a pipeline's histograms.
#[derive(Debug, Default)]
pub(crate) struct OtlpExemplars {
    series: RwLock<HashMap<SeriesKey, Arc<Reservoir>>>,
}

impl OtlpExemplars {
    /// The reservoir of the histogram `name` with `attributes` and the
    /// bucket bounds `bounds`.
    pub(crate) fn reservoir(
        &self,
        name: String,
        attributes: &[KeyValue],
        bounds: &[f64],
    ) -> Arc<Reservoir> {
        let mut pairs: Vec<(String, String)> = attributes
            .iter()
            .map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned()))
            .collect();
        pairs.sort();
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        series
            .entry((name, pairs))
            .or_insert_with(|| Arc::new(Reservoir::new(Arc::from(bounds))))
            .clone()
    }

    /// The metrics request `body` with the exemplars of its histogram data
    /// points, gzip-compressed again when `gzip`; `None` when there is none
    /// to add or the body is not a metrics request.
    pub(crate) fn fill_body(&self, body: &[u8], gzip: bool) -> Option<Vec<u8>> {
        let decoded;
        let raw = if gzip {
            let mut plain = Vec::with_capacity(body.len() * 4);
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut plain)
                .ok()?;
            decoded = plain;
            &decoded[..]
        } else {
            body
        };
        let mut request = ExportMetricsServiceRequest::decode(raw).ok()?;
        if !self.fill(&mut request) {
            return None;
        }
        let encoded = request.encode_to_vec();
        if !gzip {
            return Some(encoded);
        }
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(encoded.len() / 4),
            flate2::Compression::default(),
        );
        encoder.write_all(&encoded).ok()?;
        encoder.finish().ok()
    }

    /// Adds the exemplars kept since the last export to the histogram data
    /// points of `request`; whether any was added.
    pub(crate) fn fill(&self, request: &mut ExportMetricsServiceRequest) -> bool {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let mut added = false;
        let metrics = request
            .resource_metrics
            .iter_mut()
            .flat_map(|resource| resource.scope_metrics.iter_mut())
            .flat_map(|scope| scope.metrics.iter_mut());
        for metric in metrics {
            let Some(metric::Data::Histogram(histogram)) = &mut metric.data else {
                continue;
            };
            for point in &mut histogram.data_points {
                let mut pairs: Vec<(String, String)> =
                    point.attributes.iter().map(attribute_text).collect();
                pairs.sort();
                let Some(reservoir) = series.get(&(metric.name.clone(), pairs)) else {
                    continue;
                };
                for kept in reservoir.take().into_iter().flatten() {
                    point.exemplars.push(proto_exemplar(&kept));
                    added = true;
                }
            }
        }
        added
    }
}

/// A proto attribute as (key, text of its value), as the recorder wrote it.
fn attribute_text(kv: &ProtoKeyValue) -> (String, String) {
    let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    };
    (kv.key.clone(), value)
}

fn proto_exemplar(kept: &Kept) -> Exemplar {
    Exemplar {
        filtered_attributes: Vec::<ProtoKeyValue>::new(),
        time_unix_nano: (kept.time * 1e9) as u64,
        span_id: kept.exemplar.span_id().to_bytes().to_vec(),
        trace_id: kept.exemplar.trace_id().to_bytes().to_vec(),
        value: Some(exemplar::Value::AsDouble(kept.value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autotel_layers::exemplar::Exemplar as Ids;
    use autotel_layers::{SpanId, TraceId};
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::metrics::v1::{
        Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics,
    };

    fn request(attributes: Vec<ProtoKeyValue>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "span_duration_seconds".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes,
                                ..HistogramDataPoint::default()
                            }],
                            ..Histogram::default()
                        })),
                        ..Metric::default()
                    }],
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        }
    }

    #[test]
    fn gzip_bodies_get_the_exemplars_of_their_series() {
        let exemplars = OtlpExemplars::default();
        let reservoir = exemplars.reservoir(
            "span_duration_seconds".into(),
            &[
                KeyValue::new("status", "ok"),
                KeyValue::new("span_name", "a"),
            ],
            &[0.1, 1.0],
        );
        let ids = Ids::new(TraceId::from_u128(7), SpanId::from_u64(9));
        reservoir.offer(0.5, ids);
        let attribute = |key: &str, value: &str| ProtoKeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..ProtoKeyValue::default()
        };
        let body = request(vec![attribute("span_name", "a"), attribute("status", "ok")]);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&body.encode_to_vec()).unwrap();
        let filled = exemplars
            .fill_body(&gzip.finish().unwrap(), true)
            .expect("an exemplar to add");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&filled[..])
            .read_to_end(&mut plain)
            .unwrap();
        let request = ExportMetricsServiceRequest::decode(&plain[..]).unwrap();
        let Some(metric::Data::Histogram(histogram)) =
            &request.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("a histogram");
        };
        let exemplar = &histogram.data_points[0].exemplars[0];
        assert_eq!(exemplar.trace_id, ids.trace_id().to_bytes().to_vec());
        assert_eq!(exemplar.span_id, ids.span_id().to_bytes().to_vec());
        assert_eq!(exemplar.value, Some(exemplar::Value::AsDouble(0.5)));
        // Taken once: the next export has nothing to add.
        let again = request_bytes(vec![attribute("span_name", "a"), attribute("status", "ok")]);
        assert_eq!(exemplars.fill_body(&again, false), None);
        // Another series gets none.
        let other = request_bytes(vec![attribute("span_name", "b"), attribute("status", "ok")]);
        reservoir.offer(0.5, ids);
        assert_eq!(exemplars.fill_body(&other, false), None);
    }

    fn request_bytes(attributes: Vec<ProtoKeyValue>) -> Vec<u8> {
        request(attributes).encode_to_vec()
    }
}
