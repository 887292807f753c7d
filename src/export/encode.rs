//! Building and encoding the `ExportMetricsServiceRequest`.
//!
//! One `ResourceMetrics`, one `ScopeMetrics` (scope `telemetron` with the
//! crate version), one `Metric` per metric name in contract order, each a
//! monotonic `Sum` of points sorted by attributes: integers, but for the
//! cost, a double in USD. The same input
//! always gives the same bytes, which is what lets a re-sent batch be
//! identical and the dry run show exactly what is sent.

use std::collections::BTreeMap;
use std::io::Write;

use prost::Message;
use sha2::{Digest, Sha256};

use super::proto::{
    ExportMetricsServiceRequest, InstrumentationScope, KeyValue, Metric, NumberDataPoint, Resource,
    ResourceMetrics, ScopeMetrics, Sum, TEMPORALITY_CUMULATIVE, TEMPORALITY_DELTA,
};
use crate::config::{Encoding, Temporality};
use crate::metrics::{METRICS, PICOS_PER_USD};
use crate::state::Point;

/// The crate version, sent as `service.version` and the scope version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What identifies this emitter in the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// `service.instance.id`: the random install id.
    pub install_id: String,
    /// The config's `declared:` attributes, already validated.
    pub declared: Vec<(String, String)>,
}

/// Builds the request for a batch of points.
pub fn build_request(
    points: &[Point],
    temporality: Temporality,
    time_unix_nano: u64,
    resource: &ResourceInfo,
) -> ExportMetricsServiceRequest {
    let mut by_metric: BTreeMap<usize, Vec<NumberDataPoint>> = BTreeMap::new();
    for p in points {
        let Some((name, attrs)) = p.key.parse() else { continue };
        let Some(idx) = METRICS.iter().position(|m| m.name == name) else { continue };
        // Costs are kept in pico-dollars and sent in USD.
        let (as_int, as_double) = if METRICS[idx].unit == "USD" {
            (None, Some(p.value as f64 / PICOS_PER_USD))
        } else {
            (Some(i64::try_from(p.value).unwrap_or(i64::MAX)), None)
        };
        by_metric.entry(idx).or_default().push(NumberDataPoint {
            attributes: attrs.iter().map(|(k, v)| KeyValue::string(k, v)).collect(),
            start_time_unix_nano: p.start_unix_nano,
            time_unix_nano,
            as_int,
            as_double,
        });
    }
    let aggregation_temporality = match temporality {
        Temporality::Delta => TEMPORALITY_DELTA,
        Temporality::Cumulative => TEMPORALITY_CUMULATIVE,
    };
    let metrics = by_metric
        .into_iter()
        .map(|(idx, mut data_points)| {
            data_points.sort_by(|a, b| attr_key(a).cmp(&attr_key(b)));
            let info = &METRICS[idx];
            Metric {
                name: info.name.to_string(),
                description: info.description.to_string(),
                unit: info.unit.to_string(),
                sum: Some(Sum { data_points, aggregation_temporality, is_monotonic: true }),
            }
        })
        .collect();
    let mut attributes = vec![
        KeyValue::string("service.name", "telemetron"),
        KeyValue::string("service.version", VERSION),
        KeyValue::string("service.instance.id", &resource.install_id),
    ];
    attributes.extend(resource.declared.iter().map(|(k, v)| KeyValue::string(k, v)));
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "telemetron".to_string(),
                    version: VERSION.to_string(),
                }),
                metrics,
            }],
        }],
    }
}

/// Sort key of a point: its attribute values in order.
fn attr_key(p: &NumberDataPoint) -> Vec<(&str, &str)> {
    p.attributes.iter().map(|kv| (kv.key.as_str(), kv.as_str().unwrap_or(""))).collect()
}

/// The OTLP/JSON rendering of a request (pretty-printed, canonical).
pub fn to_json(req: &ExportMetricsServiceRequest) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(req).expect("request serialises");
    v.push(b'\n');
    v
}

/// The request body in the configured encoding (before compression).
pub fn encode(req: &ExportMetricsServiceRequest, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => req.encode_to_vec(),
        Encoding::Json => to_json(req),
    }
}

/// The `Content-Type` of an encoding.
pub fn content_type(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    }
}

/// Gzip-compresses a body.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// Hex SHA-256 of a body (shown by the dry run for protobuf bodies).
pub fn sha256_hex(body: &[u8]) -> String {
    Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SeriesKey;

    fn res() -> ResourceInfo {
        ResourceInfo {
            install_id: "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f".into(),
            declared: vec![("tier".into(), "dev".into())],
        }
    }

    fn pts() -> Vec<Point> {
        vec![
            Point {
                key: SeriesKey("pack.emitter.heartbeat{pack=telemetron}".into()),
                start_unix_nano: 1,
                value: 1,
            },
            Point {
                key: SeriesKey("pack.error{pack=pi,error.type=tool}".into()),
                start_unix_nano: 1,
                value: 2,
            },
            Point {
                key: SeriesKey("pack.error{pack=openclaw,error.type=auth}".into()),
                start_unix_nano: 1,
                value: 3,
            },
        ]
    }

    #[test]
    fn metrics_come_in_contract_order_with_sorted_points() {
        let r = build_request(&pts(), Temporality::Delta, 9, &res());
        let sm = &r.resource_metrics[0].scope_metrics[0];
        let names: Vec<&str> = sm.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["pack.error", "pack.emitter.heartbeat"]);
        let errs = &sm.metrics[0].sum.as_ref().unwrap().data_points;
        assert_eq!(errs[0].attributes[0].as_str(), Some("openclaw"));
        assert_eq!(errs[0].as_int, Some(3));
        assert_eq!(errs[1].time_unix_nano, 9);
        assert_eq!(sm.metrics[0].sum.as_ref().unwrap().aggregation_temporality, 1);
    }

    #[test]
    fn json_is_canonical_otlp() {
        let r = build_request(&pts()[..1], Temporality::Cumulative, 9, &res());
        let j: serde_json::Value = serde_json::from_slice(&to_json(&r)).unwrap();
        let m = &j["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
        assert_eq!(m["sum"]["aggregationTemporality"], 2);
        assert_eq!(m["sum"]["isMonotonic"], true);
        assert_eq!(m["sum"]["dataPoints"][0]["asInt"], "1");
        assert_eq!(m["sum"]["dataPoints"][0]["timeUnixNano"], "9");
        assert_eq!(j["resourceMetrics"][0]["scopeMetrics"][0]["scope"]["name"], "telemetron");
    }

    #[test]
    fn protobuf_and_json_decode_to_the_same_message() {
        let r = build_request(&pts(), Temporality::Delta, 9, &res());
        let pb = ExportMetricsServiceRequest::decode(&encode(&r, Encoding::Protobuf)[..]).unwrap();
        let js: ExportMetricsServiceRequest =
            serde_json::from_slice(&encode(&r, Encoding::Json)).unwrap();
        assert_eq!(pb, r);
        assert_eq!(js, r);
    }

    #[test]
    fn the_same_batch_encodes_to_the_same_bytes() {
        let a = encode(&build_request(&pts(), Temporality::Delta, 9, &res()), Encoding::Protobuf);
        let mut rev = pts();
        rev.reverse();
        let b = encode(&build_request(&rev, Temporality::Delta, 9, &res()), Encoding::Protobuf);
        assert_eq!(a, b);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let z = gzip(b"hello");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&z[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello");
    }
}
