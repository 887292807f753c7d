//! The subset of the OTLP metrics protocol that telemetron sends, as prost
//! messages (protobuf) that also serialise as canonical OTLP/JSON.
//!
//! Field numbers follow `opentelemetry/proto/collector/metrics/v1/
//! metrics_service.proto`, `metrics/v1/metrics.proto`, `common/v1/
//! common.proto` and `resource/v1/resource.proto` (opentelemetry-proto
//! v1.x). Only the messages and fields we use are declared; prost skips
//! unknown fields when decoding, so a full message decodes into these.
//!
//! OTLP/JSON rules honoured by the serde attributes: lowerCamelCase keys,
//! 64-bit integers as decimal strings, enums as numbers, default values
//! omitted (so the rendering is canonical).

use serde::{Deserialize, Serialize};

/// `ExportMetricsServiceRequest`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetricsServiceRequest {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(default)]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ExportMetricsServiceResponse`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetricsServiceResponse {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_success: Option<ExportMetricsPartialSuccess>,
}

/// `ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetricsPartialSuccess {
    /// Field 1 (int64).
    #[prost(int64, tag = "1")]
    #[serde(default, with = "i64_string")]
    pub rejected_data_points: i64,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub error_message: String,
}

/// `ResourceMetrics`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceMetrics {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(default)]
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeMetrics`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeMetrics {
    /// Field 1.
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<InstrumentationScope>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentationScope {
    /// Field 1.
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// `Metric` (only the `sum` data case is declared).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// Field 1.
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub name: String,
    /// Field 2.
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Field 3.
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// Field 7 (`data.sum`).
    #[prost(message, optional, tag = "7")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<Sum>,
}

/// `Sum`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sum {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    #[serde(default)]
    pub data_points: Vec<NumberDataPoint>,
    /// Field 2: 1 = DELTA, 2 = CUMULATIVE.
    #[prost(int32, tag = "2")]
    #[serde(default)]
    pub aggregation_temporality: i32,
    /// Field 3.
    #[prost(bool, tag = "3")]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_monotonic: bool,
}

/// `AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA`.
pub const TEMPORALITY_DELTA: i32 = 1;
/// `AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE`.
pub const TEMPORALITY_CUMULATIVE: i32 = 2;

/// `NumberDataPoint` with an integer value (`as_int`, field 6) or, for
/// `pack.cost.usage`, a double (`as_double`, field 4).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberDataPoint {
    /// Field 7.
    #[prost(message, repeated, tag = "7")]
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
    /// Field 2 (fixed64).
    #[prost(fixed64, tag = "2")]
    #[serde(default, with = "u64_string", skip_serializing_if = "is_zero")]
    pub start_time_unix_nano: u64,
    /// Field 3 (fixed64).
    #[prost(fixed64, tag = "3")]
    #[serde(default, with = "u64_string")]
    pub time_unix_nano: u64,
    /// Field 6 (sfixed64, member of the `value` oneof). Declared as
    /// optional so that a zero is still sent: the oneof case is set even
    /// when the value is 0.
    #[prost(sfixed64, optional, tag = "6")]
    #[serde(default, with = "opt_i64_string", skip_serializing_if = "Option::is_none")]
    pub as_int: Option<i64>,
    /// Field 4 (double, member of the `value` oneof).
    #[prost(double, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_double: Option<f64>,
}

/// `KeyValue` with a string value.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValue {
    /// Field 1.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Field 2.
    #[prost(message, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<AnyValue>,
}

/// `AnyValue` (only `string_value`, field 1, is used).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyValue {
    /// Field 1 (member of the `value` oneof).
    #[prost(string, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
}

impl KeyValue {
    /// A string attribute.
    pub fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue { string_value: Some(value.to_string()) }),
        }
    }

    /// The value if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_ref()?.string_value.as_deref()
    }
}

/// True for 0 (serde skip helper).
fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// u64 as a JSON string; accepts a string or a number when reading.
mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            U(u64),
        }
        match N::deserialize(d)? {
            N::S(s) => s.parse().map_err(serde::de::Error::custom),
            N::U(u) => Ok(u),
        }
    }
}

/// i64 as a JSON string; accepts a string or a number when reading.
mod i64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            I(i64),
        }
        match N::deserialize(d)? {
            N::S(s) => s.parse().map_err(serde::de::Error::custom),
            N::I(i) => Ok(i),
        }
    }
}

/// Option<i64> as a JSON string.
mod opt_i64_string {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        super::i64_string::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn point(v: i64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: vec![KeyValue::string("pack", "pi")],
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            as_int: Some(v),
            as_double: None,
        }
    }

    #[test]
    fn zero_values_are_still_encoded() {
        let bytes = point(0).encode_to_vec();
        let back = NumberDataPoint::decode(&bytes[..]).unwrap();
        assert_eq!(back.as_int, Some(0));
    }

    #[test]
    fn json_uses_strings_for_64_bit_integers() {
        let j = serde_json::to_string(&point(5)).unwrap();
        assert_eq!(
            j,
            r#"{"attributes":[{"key":"pack","value":{"stringValue":"pi"}}],"startTimeUnixNano":"1","timeUnixNano":"2","asInt":"5"}"#
        );
        let back: NumberDataPoint = serde_json::from_str(&j).unwrap();
        assert_eq!(back, point(5));
    }

    #[test]
    fn protobuf_wire_bytes_match_the_proto_field_numbers() {
        // KeyValue{key:"k", value:{string_value:"v"}}:
        // 0a 01 'k' | 12 03 (0a 01 'v')
        let kv = KeyValue::string("k", "v");
        assert_eq!(kv.encode_to_vec(), vec![0x0a, 1, b'k', 0x12, 3, 0x0a, 1, b'v']);
        // NumberDataPoint: start (field 2, fixed64) = 0x11, time (3) = 0x19,
        // as_int (6, sfixed64) = 0x31.
        let p = NumberDataPoint {
            attributes: vec![],
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            as_int: Some(3),
            as_double: None,
        };
        let b = p.encode_to_vec();
        assert_eq!(b[0], 0x11);
        assert_eq!(b[9], 0x19);
        assert_eq!(b[18], 0x31);
        assert_eq!(b.len(), 27);
    }
}
