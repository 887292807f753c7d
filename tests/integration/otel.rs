//! The OpenTelemetry exporter variables through the real binary, and their
//! precedence: flag > `TELEMETRON_*` > `OTEL_*` > config > default.

use crate::util::{Receiver, TestEnv};

/// The receiver's base URL (without `/v1/metrics`).
fn base(rx: &Receiver) -> String {
    rx.url.trim_end_matches("/v1/metrics").to_string()
}

#[test]
fn the_base_endpoint_gets_v1_metrics_and_the_metrics_endpoint_is_used_as_is() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan_env(&[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &base(&rx))]).expect_code(0);
    assert_eq!(rx.requests()[0].path, "/v1/metrics");
    let custom = format!("{}/custom/path", base(&rx));
    env.scan_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &custom),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ],
    )
    .expect_code(0);
    assert_eq!(rx.requests()[1].path, "/custom/path");
}

#[test]
fn precedence_flag_then_telemetron_then_otel_then_config() {
    let env = TestEnv::with_demo_home();
    let (flag, tele, otel, conf) =
        (Receiver::start(), Receiver::start(), Receiver::start(), Receiver::start());
    env.write_config(&format!("endpoint: {}\n", conf.url));
    let otel_env = ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", otel.url.as_str());
    // Config alone.
    env.scan(&[]).expect_code(0);
    assert_eq!(conf.requests().len(), 1);
    // OTEL over the config.
    env.scan_env(&[], &[otel_env]).expect_code(0);
    assert_eq!((otel.requests().len(), conf.requests().len()), (1, 1));
    // TELEMETRON_* over OTEL.
    env.scan_env(&[], &[otel_env, ("TELEMETRON_ENDPOINT", tele.url.as_str())]).expect_code(0);
    assert_eq!((tele.requests().len(), otel.requests().len()), (1, 1));
    // The flag over everything.
    env.scan_env(
        &["--endpoint", &flag.url],
        &[otel_env, ("TELEMETRON_ENDPOINT", tele.url.as_str())],
    )
    .expect_code(0);
    assert_eq!((flag.requests().len(), tele.requests().len()), (1, 1));
    // The same order for another setting: the protocol.
    let run = |extra: &[&str], vars: &[(&str, &str)]| {
        env.scan_env(&[&["--endpoint", flag.url.as_str()], extra].concat(), vars).expect_code(0);
        flag.requests().last().unwrap().header("content-type").unwrap().to_string()
    };
    env.write_config(&format!("endpoint: {}\nencoding: json\n", conf.url));
    assert_eq!(run(&[], &[]), "application/json");
    assert_eq!(
        run(&[], &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]),
        "application/x-protobuf"
    );
    assert_eq!(
        run(
            &[],
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"), ("TELEMETRON_ENCODING", "json")]
        ),
        "application/json"
    );
    assert_eq!(
        run(
            &["--encoding", "protobuf"],
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"), ("TELEMETRON_ENCODING", "json")]
        ),
        "application/x-protobuf"
    );
}

#[test]
fn headers_compression_protocol_temporality_and_resource_attributes() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let run = env.scan_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", rx.url.as_str()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=CANARY%20secret,x-team=core"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment_id=fleet-7,host.name=CANARY-host,environment=prod",
            ),
        ],
    );
    run.expect_code(0);
    assert!(!run.stderr.contains("CANARY secret"), "{}", run.stderr);
    assert!(run.stderr.contains("left out: host.name"), "{}", run.stderr);
    assert!(!run.stderr.contains("CANARY-host"), "{}", run.stderr);
    let r = &rx.requests()[0];
    assert_eq!(r.header("x-api-key"), Some("CANARY secret"));
    assert_eq!(r.header("x-team"), Some("core"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        body.contains("AGGREGATION_TEMPORALITY_CUMULATIVE")
            || body.contains("\"aggregationTemporality\": 2"),
        "cumulative"
    );
    assert!(body.contains("fleet-7") && body.contains("prod"));
    assert!(!body.contains("CANARY"), "no host name or secret in the payload");
}

#[test]
fn grpc_is_a_clear_error_and_the_sdk_switch_turns_everything_off() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let run = env.scan_env(&["--endpoint", &rx.url], &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    run.expect_code(2);
    assert!(run.stderr.contains("OTLP over HTTP"), "{}", run.stderr);
    let run = env.scan_env(&["--endpoint", &rx.url], &[("OTEL_SDK_DISABLED", "true")]);
    run.expect_code(0);
    assert!(run.stderr.contains("OTEL_SDK_DISABLED"), "{}", run.stderr);
    assert!(rx.requests().is_empty());
    let run = env.scan_env(&[], &[]);
    run.expect_code(2);
    assert!(run.stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{}", run.stderr);
}
