//! The OpenTelemetry exporter variables (`OTEL_EXPORTER_OTLP_*`,
//! `OTEL_RESOURCE_ATTRIBUTES`), as the specification defines them for an
//! OTLP/HTTP metrics exporter. They sit between telemetron's own variables
//! and the config file: flag > `TELEMETRON_*` > `OTEL_*` > config >
//! default.

use std::time::Duration;

use anyhow::bail;

use super::{Compression, Encoding, Temporality};

/// What the `OTEL_*` variables say (each `None` when unset).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OtelEnv {
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` as is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/metrics` appended.
    pub endpoint: Option<String>,
    /// True when the endpoint is `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`,
    /// whose path the specification says to use as is.
    pub endpoint_as_is: bool,
    /// `…_HEADERS`: `key=value` pairs, values percent-decoded.
    pub headers: Vec<(String, String)>,
    /// `…_TIMEOUT` (milliseconds).
    pub timeout: Option<Duration>,
    /// `…_COMPRESSION` (`gzip` or `none`).
    pub compression: Option<Compression>,
    /// `…_PROTOCOL` (`http/protobuf` or `http/json`).
    pub encoding: Option<Encoding>,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub temporality: Option<Temporality>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, only the keys the contract declares
    /// (`deployment_id`, `tier`, `environment`).
    pub declared: Vec<(String, String)>,
    /// Keys of `OTEL_RESOURCE_ATTRIBUTES` that were left out.
    pub ignored_attributes: Vec<String>,
    /// `…_CERTIFICATE`: a CA file to trust.
    pub certificate: Option<String>,
    /// `…_CLIENT_CERTIFICATE`.
    pub client_certificate: Option<String>,
    /// `…_CLIENT_KEY`.
    pub client_key: Option<String>,
}

/// The resource attributes `OTEL_RESOURCE_ATTRIBUTES` may set.
const DECLARED: [&str; 3] = ["deployment_id", "tier", "environment"];

impl OtelEnv {
    /// Reads the variables through `env`; a value that cannot mean anything
    /// (`grpc`, a timeout that is not a number) is an error naming it.
    pub fn read(env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<OtelEnv> {
        let get = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        // The metrics-specific form wins over the general one.
        let pick = |suffix: &str| -> Option<(String, String)> {
            let specific = format!("OTEL_EXPORTER_OTLP_METRICS_{suffix}");
            let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
            get(&specific).map(|v| (specific, v)).or_else(|| get(&general).map(|v| (general, v)))
        };
        let mut out = OtelEnv::default();
        out.endpoint = match get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            Some(e) => {
                out.endpoint_as_is = true;
                Some(e)
            }
            None => get("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/metrics", base.trim_end_matches('/'))),
        };
        if let Some((name, v)) = pick("HEADERS") {
            for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let Some((k, val)) = pair.split_once('=') else {
                    bail!("{name}: `{}` is not key=value", pair.split('=').next().unwrap_or(""));
                };
                out.headers.push((percent_decode(k.trim()), percent_decode(val.trim())));
            }
        }
        if let Some((name, v)) = pick("TIMEOUT") {
            let ms: u64 = v.parse().map_err(|_| {
                anyhow::anyhow!("{name}={v}: the timeout is a whole number of milliseconds")
            })?;
            if ms == 0 {
                bail!("{name}=0: the timeout must be more than 0 milliseconds");
            }
            out.timeout = Some(Duration::from_millis(ms));
        }
        if let Some((name, v)) = pick("COMPRESSION") {
            out.compression = Some(match v.to_ascii_lowercase().as_str() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => bail!("{name}={v}: telemetron compresses with gzip or none"),
            });
        }
        if let Some((name, v)) = pick("PROTOCOL") {
            out.encoding = Some(match v.to_ascii_lowercase().as_str() {
                "http/protobuf" => Encoding::Protobuf,
                "http/json" => Encoding::Json,
                "grpc" => bail!(
                    "{name}=grpc: telemetron speaks OTLP over HTTP only; set {name}=http/protobuf \
                     (or http/json) and an OTLP/HTTP endpoint (usually port 4318)"
                ),
                _ => bail!("{name}={v}: use http/protobuf or http/json"),
            });
        }
        let pref = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
        if let Some(v) = get(pref) {
            out.temporality = Some(match v.to_ascii_lowercase().as_str() {
                "cumulative" => Temporality::Cumulative,
                // Every metric is a sum of a counter: low memory means delta.
                "delta" | "lowmemory" => Temporality::Delta,
                _ => bail!("{pref}={v}: use cumulative, delta or lowmemory"),
            });
        }
        if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
            for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                let k = percent_decode(k.trim());
                if DECLARED.contains(&k.as_str()) {
                    out.declared.push((k, percent_decode(val.trim())));
                } else {
                    out.ignored_attributes.push(k);
                }
            }
        }
        out.certificate = pick("CERTIFICATE").map(|(_, v)| v);
        out.client_certificate = pick("CLIENT_CERTIFICATE").map(|(_, v)| v);
        out.client_key = pick("CLIENT_KEY").map(|(_, v)| v);
        Ok(out)
    }

    /// The value `OTEL_RESOURCE_ATTRIBUTES` gives a declared key.
    pub fn declared(&self, key: &str) -> Option<String> {
        self.declared.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

/// `%XX` escapes decoded (the W3C baggage form the variables use); bytes
/// that do not form UTF-8 are replaced.
fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&crate::export::network::percent_decode(s)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> anyhow::Result<OtelEnv> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        OtelEnv::read(&|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_base_endpoint_gets_the_metrics_path_and_the_specific_one_wins() {
        let e = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example:4318/")]).unwrap();
        assert_eq!(e.endpoint.as_deref(), Some("https://otel.example:4318/v1/metrics"));
        let e = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://a:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://b/custom"),
        ])
        .unwrap();
        assert_eq!(e.endpoint.as_deref(), Some("https://b/custom"));
        assert_eq!(read(&[]).unwrap(), OtelEnv::default());
    }

    #[test]
    fn headers_timeout_compression_protocol_and_temporality() {
        let e = read(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=a%20b%3Dc, x-team = core"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative"),
        ])
        .unwrap();
        assert_eq!(
            e.headers,
            vec![("x-api-key".into(), "a b=c".into()), ("x-team".into(), "core".into())]
        );
        assert_eq!(e.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(e.compression, Some(Compression::Gzip));
        assert_eq!(e.encoding, Some(Encoding::Json));
        assert_eq!(e.temporality, Some(Temporality::Cumulative));
        let low = read(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "LowMemory")]);
        assert_eq!(low.unwrap().temporality, Some(Temporality::Delta));
    }

    #[test]
    fn grpc_and_nonsense_are_clear_errors() {
        let e = read(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err().to_string();
        assert!(e.contains("OTLP over HTTP") && e.contains("http/protobuf"), "{e}");
        let e = read(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]).unwrap_err().to_string();
        assert!(e.contains("milliseconds"), "{e}");
        let e = read(&[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")]).unwrap_err().to_string();
        assert!(e.contains("key=value"), "{e}");
    }

    #[test]
    fn only_declared_resource_attributes_are_taken() {
        let e = read(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=x,host.name=CANARY-host,deployment_id=fleet-1,tier=gold",
        )])
        .unwrap();
        assert_eq!(e.declared("deployment_id").as_deref(), Some("fleet-1"));
        assert_eq!(e.declared("tier").as_deref(), Some("gold"));
        assert_eq!(e.ignored_attributes, vec!["service.name", "host.name"]);
    }
}
