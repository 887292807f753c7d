//! The files under `contrib/`: the Grafana dashboard covers every metric of
//! the contract with the documented breakdowns and only contract labels,
//! and the Collector configuration wires what `docs/fleet.md` describes.
//! (`scripts/e2e_backends.py` runs every dashboard query against a
//! real VictoriaMetrics and Prometheus; these checks need nothing but the
//! files.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Metric names (OTLP) and attribute keys of the contract, from the
/// hand-worked expectations of the demo home, plus the heartbeat.
fn contract() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut metrics = BTreeSet::from(["pack.emitter.heartbeat".to_string()]);
    let mut attrs = BTreeSet::new();
    for (series, _) in crate::util::table(crate::counting::DEMO) {
        let (metric, rest) = series.split_once('{').unwrap();
        metrics.insert(metric.to_string());
        for kv in rest.trim_end_matches('}').split(',') {
            attrs.insert(kv.split_once('=').unwrap().0.to_string());
        }
    }
    (metrics, attrs)
}

/// The Prometheus name of a contract metric or attribute.
fn prom_metric(name: &str) -> String {
    format!("{}_total", name.replace('.', "_"))
}

fn dashboard() -> Value {
    let path = root().join("contrib/grafana/telemetron.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Every panel, rows and the panels inside collapsed rows included.
fn panels(v: &Value, out: &mut Vec<Value>) {
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p.clone());
        panels(p, out);
    }
}

/// The label lists of every `by (...)` in an expression.
fn by_clauses(expr: &str) -> Vec<Vec<String>> {
    expr.match_indices("by (")
        .map(|(i, m)| {
            let rest = &expr[i + m.len()..];
            let list = &rest[..rest.find(')').expect("closing parenthesis")];
            list.split(',').map(|l| l.trim().to_string()).collect()
        })
        .collect()
}

/// The `$name` variables an expression uses (`$__range` and friends too).
fn variables(expr: &str) -> Vec<String> {
    expr.match_indices('$')
        .map(|(i, _)| {
            expr[i + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
        })
        .collect()
}

#[test]
fn the_dashboard_covers_every_contract_metric_with_the_documented_breakdowns() {
    let d = dashboard();
    let (metrics, attrs) = contract();
    let mut all = Vec::new();
    panels(&d, &mut all);
    let mut ids = BTreeSet::new();
    // metric -> every label it is broken down by somewhere.
    let mut breakdowns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut exprs = Vec::new();
    for p in &all {
        let title = p["title"].as_str().expect("every panel has a title");
        assert!(ids.insert(p["id"].as_u64().expect("numeric id")), "duplicate id in {title}");
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{title} is wider than the grid"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "{title} must use the data source variable"
        );
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{title} has no targets"));
        assert!(!targets.is_empty(), "{title} has no targets");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            let expr =
                t["expr"].as_str().unwrap_or_else(|| panic!("{title}: a target without expr"));
            for by in by_clauses(expr) {
                for label in &by {
                    let ok = attrs.iter().any(|a| a.replace('.', "_") == *label)
                        || ["instance", "service_instance_id"].contains(&label.as_str());
                    assert!(ok, "{title}: `by ({label})` is not a contract attribute");
                }
                for m in &metrics {
                    if expr.contains(&prom_metric(m)) {
                        breakdowns.entry(m.clone()).or_default().extend(by.iter().cloned());
                    }
                }
            }
            exprs.push(expr.to_string());
        }
    }
    for m in &metrics {
        let name = prom_metric(m);
        assert!(exprs.iter().any(|e| e.contains(&name)), "no panel shows {m} ({name})");
    }
    let want: &[(&str, &[&str])] = &[
        ("pack.session.start", &["pack", "session_type"]),
        ("pack.user.prompt", &["pack", "session_type"]),
        ("pack.agent.turn", &["outcome", "model_family"]),
        ("pack.tool.call", &["tool_class", "tool_name"]),
        ("pack.error", &["error_type"]),
        ("pack.token.usage", &["token_type", "model", "model_family"]),
        ("pack.emitter.heartbeat", &["instance", "service_instance_id"]),
        ("pack.emitter.lines", &["result"]),
    ];
    for (metric, labels) in want {
        for l in *labels {
            assert!(
                breakdowns.get(*metric).is_some_and(|b| b.contains(*l)),
                "no panel breaks {metric} down by {l}"
            );
        }
    }
    let defined: BTreeSet<String> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    for e in &exprs {
        for v in variables(e) {
            assert!(
                defined.contains(&v)
                    || ["__range", "__rate_interval", "__interval"].contains(&v.as_str()),
                "`${v}` in {e} is not a dashboard variable"
            );
        }
    }
}

#[test]
fn the_dashboard_checks_can_fail() {
    // The helpers the test above relies on see what they must.
    assert_eq!(
        by_clauses("sum by (pack, session_type) (x) / sum by(y) (z) + sum by (outcome)(w)"),
        vec![vec!["pack".to_string(), "session_type".to_string()], vec!["outcome".to_string()]]
    );
    assert_eq!(variables("a{p=~\"$pack\"}[$__range]"), vec!["pack", "__range"]);
    let (metrics, attrs) = contract();
    assert_eq!(metrics.len(), 8, "{metrics:?}");
    assert!(attrs.contains("session.type") && attrs.contains("token.type"), "{attrs:?}");
}

fn collector() -> serde_yaml::Value {
    let path = root().join("contrib/otelcol/collector.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn names(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect()
}

#[test]
fn the_collector_config_wires_the_pipeline_docs_fleet_describes() {
    let c = collector();
    let service = &c["service"];
    for ext in names(&service["extensions"]) {
        assert!(c["extensions"].get(ext.as_str()).is_some(), "extension {ext} is not defined");
    }
    let pipelines = service["pipelines"].as_mapping().unwrap();
    assert!(!pipelines.is_empty());
    for (name, p) in pipelines {
        for (section, key) in
            [("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters")]
        {
            for component in names(&p[key]) {
                assert!(
                    c[section].get(component.as_str()).is_some(),
                    "{name:?}: {section} {component} is not defined"
                );
            }
        }
    }
    let metrics = &service["pipelines"]["metrics"];
    let processors = names(&metrics["processors"]);
    assert_eq!(processors, ["memory_limiter", "deltatocumulative", "batch"]);
    for forbidden in ["resourcedetection", "k8sattributes"] {
        assert!(
            c["processors"]
                .as_mapping()
                .unwrap()
                .keys()
                .all(|k| !k.as_str().unwrap().starts_with(forbidden)),
            "{forbidden} would attach host names"
        );
    }
    assert_eq!(names(&metrics["exporters"]), ["prometheusremotewrite"]);
    let prw = &c["exporters"]["prometheusremotewrite"];
    assert_eq!(prw["resource_to_telemetry_conversion"]["enabled"], serde_yaml::Value::Bool(true));
    let http = &c["receivers"]["otlp"]["protocols"]["http"];
    let auth = http["auth"]["authenticator"].as_str().unwrap();
    assert!(
        names(&service["extensions"]).iter().any(|e| e == auth),
        "the receiver's authenticator is not enabled"
    );
    assert!(http["tls"]["cert_file"].as_str().is_some(), "the fleet's tokens must travel over TLS");
}
