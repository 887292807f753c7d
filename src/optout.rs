//! Opt-out signals, as the Go predecessor honoured them (its users rely on
//! them): checked in this order, the first that applies wins.
//!
//! 1. `DO_NOT_TRACK` truthy (`1`, `true`, `yes`, `on`; any case, trimmed);
//! 2. `TELEMETRON_TELEMETRY` falsy (`0`, `false`, `no`, `off`);
//! 3. `LOWKEY_TELEMETRY` falsy;
//! 4. the file `~/.telemetron/telemetry-off` exists;
//! 5. the file `~/.lowkey/telemetry-off` exists;
//! 6. `OTEL_SDK_DISABLED` is `true` (the OpenTelemetry specification's
//!    switch for every SDK and exporter; any case, trimmed).
//!
//! `~` is the home of the user running telemetron (under systemd, the
//! service's `User=`), not a `--home` given to scan. `TELEMETRON_DISABLE`
//! is not a signal (the predecessor ignored it too).

use std::path::Path;

/// Why telemetry is off, or `None` when it is on. The reason names the
/// variable or file, for `scan` and `status` to print.
pub fn check(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> Option<String> {
    let value = |var: &str| env(var).map(|v| v.trim().to_ascii_lowercase());
    if value("DO_NOT_TRACK").is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on")) {
        return Some("DO_NOT_TRACK is set".into());
    }
    for var in ["TELEMETRON_TELEMETRY", "LOWKEY_TELEMETRY"] {
        if value(var).is_some_and(|v| matches!(v.as_str(), "0" | "false" | "no" | "off")) {
            return Some(format!("{var} is off"));
        }
    }
    for rel in [".telemetron/telemetry-off", ".lowkey/telemetry-off"] {
        let p = home.join(rel);
        if p.exists() {
            return Some(format!("{} exists", p.display()));
        }
    }
    if value("OTEL_SDK_DISABLED").as_deref() == Some("true") {
        return Some("OTEL_SDK_DISABLED is true".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)], home: &Path) -> Option<String> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        check(&move |k| vars.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone()), home)
    }

    #[test]
    fn the_opentelemetry_switch_turns_telemetry_off() {
        let h = tempfile::tempdir().unwrap();
        assert_eq!(
            with(&[("OTEL_SDK_DISABLED", " TRUE ")], h.path()).as_deref(),
            Some("OTEL_SDK_DISABLED is true")
        );
        assert_eq!(with(&[("OTEL_SDK_DISABLED", "false")], h.path()), None);
        assert_eq!(with(&[("OTEL_SDK_DISABLED", "1")], h.path()), None, "the spec says true");
    }

    #[test]
    fn each_signal_turns_telemetry_off() {
        let h = tempfile::tempdir().unwrap();
        for v in ["1", "true", " YES ", "on"] {
            assert!(with(&[("DO_NOT_TRACK", v)], h.path()).unwrap().contains("DO_NOT_TRACK"));
        }
        for var in ["TELEMETRON_TELEMETRY", "LOWKEY_TELEMETRY"] {
            for v in ["0", "false", "No", "OFF"] {
                assert!(with(&[(var, v)], h.path()).unwrap().contains(var), "{var}={v}");
            }
        }
        for rel in [".telemetron/telemetry-off", ".lowkey/telemetry-off"] {
            let d = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(d.path().join(rel).parent().unwrap()).unwrap();
            std::fs::write(d.path().join(rel), "").unwrap();
            assert!(with(&[], d.path()).unwrap().contains(rel));
        }
    }

    #[test]
    fn other_values_leave_it_on() {
        let h = tempfile::tempdir().unwrap();
        for (k, v) in [
            ("DO_NOT_TRACK", "0"),
            ("DO_NOT_TRACK", ""),
            ("DO_NOT_TRACK", "false"),
            ("TELEMETRON_TELEMETRY", "1"),
            ("TELEMETRON_TELEMETRY", ""),
            ("LOWKEY_TELEMETRY", "yes"),
            ("TELEMETRON_DISABLE", "1"),
        ] {
            assert_eq!(with(&[(k, v)], h.path()), None, "{k}={v}");
        }
    }

    #[test]
    fn the_first_signal_wins() {
        let h = tempfile::tempdir().unwrap();
        let r = with(&[("TELEMETRON_TELEMETRY", "0"), ("DO_NOT_TRACK", "1")], h.path()).unwrap();
        assert!(r.contains("DO_NOT_TRACK"));
    }
}
