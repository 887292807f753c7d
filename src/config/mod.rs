//! Configuration: the YAML file, `TELEMETRON_*` environment variables and
//! command-line flags, resolved once into a plain [`Settings`].
//!
//! Precedence is flag > environment > file > default. Flags and their
//! environment variables are merged by clap (each flag names its
//! variable); this module layers the file and the defaults underneath and
//! validates the result. Nothing after [`Settings::resolve`] sees clap or
//! YAML types.

pub mod otel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::cli::CommonArgs;
use crate::metrics::Pack;
use crate::paths;

/// How many files with new data one batch reads at most, by default: the
/// memory a run holds for the files it reads is about 1.7 KB each (their
/// states, counts by the hour and results) until its batch is committed (see `docs/performance.md`).
/// 8,000 keeps a first run over 100,000 files under 64 MiB (10,000 took
/// 64–65 MiB, for 3% less time).
pub const DEFAULT_MAX_BATCH_FILES: usize = 8_000;

/// OTLP body encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `application/x-protobuf` (default).
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

/// Body compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression (default).
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

/// Aggregation temporality of the points sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Each point is the increase since the last acknowledged export
    /// (default).
    Delta,
    /// Each point is the total since the series' fixed start.
    Cumulative,
}

impl Temporality {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Temporality::Delta => "delta",
            Temporality::Cumulative => "cumulative",
        }
    }
}

/// The config file as written (every key optional, unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// OTLP/HTTP metrics endpoint.
    pub endpoint: Option<String>,
    /// File holding the bearer token.
    pub token_file: Option<PathBuf>,
    /// Extra request headers: header name → name of the environment
    /// variable holding its value.
    pub headers: Option<BTreeMap<String, String>>,
    /// Allow plain `http://` to a non-loopback endpoint.
    pub insecure_endpoint: Option<bool>,
    /// `protobuf` or `json`.
    pub encoding: Option<Encoding>,
    /// `none` or `gzip`.
    pub compression: Option<Compression>,
    /// `delta` or `cumulative`.
    pub temporality: Option<Temporality>,
    /// Timeout of one HTTP attempt (`10s`, `500ms`, or seconds).
    pub timeout: Option<DurationValue>,
    /// Total time for all attempts of one export.
    pub retry_max_time: Option<DurationValue>,
    /// Where state, lock and install id live.
    pub state_dir: Option<PathBuf>,
    /// Longest line read; longer ones are skipped as `oversized`.
    pub max_line_bytes: Option<u64>,
    /// Files with new data a batch reads at most (see `max_batch_files`).
    pub max_batch_files: Option<usize>,
    /// Scan threads (0 = one per core).
    pub threads: Option<usize>,
    /// A price list (LiteLLM's format) over the built-in one.
    pub pricing: Option<PathBuf>,
    /// Proxy for the export (`none`: never one).
    pub proxy: Option<String>,
    /// PEM CA file to trust besides the public and system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// Its PEM private key.
    pub client_key: Option<PathBuf>,
    /// Resource attributes to send (`deployment_id`, `tier`, `environment`).
    pub declared: Option<Declared>,
    /// Per-pack settings.
    pub packs: Option<PacksConfig>,
}

/// The `declared:` map.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    /// `deployment_id` resource attribute.
    pub deployment_id: Option<String>,
    /// `tier` resource attribute.
    pub tier: Option<String>,
    /// `environment` resource attribute.
    pub environment: Option<String>,
}

/// The `packs:` map: pack name (`claude_code`, `codex`, …) to its
/// settings. An unknown pack name is an error that names it.
pub type PacksConfig = std::collections::BTreeMap<String, PackConfig>;

/// One pack's settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackConfig {
    /// `false` turns the pack off (default `true`: scanned wherever its
    /// places exist).
    pub enabled: Option<bool>,
    /// Directories to scan instead of the default places (each walked for
    /// `*.jsonl`); `~` is the home directory.
    pub paths: Option<Vec<PathBuf>>,
}

/// A duration written as `10s`, `500ms`, `2m`, `1h`, or a number of
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(DurationValue(Duration::from_secs(n))),
            Raw::S(s) => parse_duration(&s).map(DurationValue).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `10s`, `500ms`, `2m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration (try `10s`)"))?;
    Ok(match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("`{s}` has an unknown unit (use ms, s, m or h)")),
    })
}

/// Settings of one pack after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSettings {
    /// The pack.
    pub pack: Pack,
    /// Scanned at all.
    pub enabled: bool,
    /// Configured directories, or `None` for the default places.
    pub paths: Option<Vec<PathBuf>>,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file read, if any.
    pub config_path: Option<PathBuf>,
    /// Endpoint URL (`None` is only allowed for a dry run).
    pub endpoint: Option<String>,
    /// Token file, if any.
    pub token_file: Option<PathBuf>,
    /// Header name → environment variable name.
    pub headers: BTreeMap<String, String>,
    /// Request headers with their values, from `OTEL_EXPORTER_OTLP_HEADERS`
    /// (the environment holds the secrets, as for `headers:`).
    pub header_values: Vec<(String, String)>,
    /// True when the endpoint is `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: its
    /// path is used as is (any other endpoint must end in `/v1/metrics`).
    pub endpoint_as_is: bool,
    /// Plain http allowed to non-loopback hosts.
    pub insecure_endpoint: bool,
    /// Body encoding.
    pub encoding: Encoding,
    /// Body compression.
    pub compression: Compression,
    /// Temporality.
    pub temporality: Temporality,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Time budget for all attempts.
    pub retry_max_time: Duration,
    /// State directory.
    pub state_dir: PathBuf,
    /// Longest line accepted.
    pub max_line_bytes: u64,
    /// Files with new data one batch reads at most: a run with more sends
    /// several batches in a row (see [`crate::pipeline::count::Batch`]).
    pub max_batch_files: usize,
    /// Scan threads (0 = one per core).
    pub threads: usize,
    /// A price list over the built-in one (`--pricing`, `pricing:`).
    pub pricing: Option<PathBuf>,
    /// The configured proxy (`--proxy`, `TELEMETRON_PROXY`, `proxy:`);
    /// the environment's otherwise (see `export::network`).
    pub proxy: Option<String>,
    /// The TLS files.
    pub tls: crate::export::network::TlsFiles,
    /// Validated resource attributes.
    pub declared: Vec<(String, String)>,
    /// Home directory searched for agents.
    pub home: PathBuf,
    /// True when `--home` was given: the agents' own environment variables
    /// are then ignored so that only that home is searched.
    pub home_override: bool,
    /// Per-pack settings, in pack order.
    pub packs: Vec<PackSettings>,
    /// Offset files of the Go predecessor to import on a first run.
    pub legacy_state_files: Vec<(String, PathBuf)>,
}

/// The packs this build scans, in the registry's order.
pub fn packs() -> impl Iterator<Item = Pack> {
    crate::agents::REGISTRY.iter().map(|a| a.pack)
}

impl Settings {
    /// Resolves flags (already merged with their environment variables by
    /// clap), the config file and defaults.
    pub fn resolve(
        args: &CommonArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let home_override = args.home.is_some();
        let home = match &args.home {
            Some(h) => h.clone(),
            None => paths::home_dir(env)?,
        };
        let defaults = paths::Defaults::for_user(&home, env);
        let (config_path, explicit) = match &args.config {
            Some(p) => (p.clone(), true),
            None => (defaults.config_file.clone(), false),
        };
        let file = load_file(&config_path, explicit)?;
        let otel = otel::OtelEnv::read(env)?;
        if !otel.ignored_attributes.is_empty() {
            eprintln!(
                "telemetron: warning: OTEL_RESOURCE_ATTRIBUTES: only deployment_id, tier and                  environment are sent; left out: {}",
                otel.ignored_attributes.join(", ")
            );
        }
        let config_read = file.is_some();
        let (file, legacy_state_files) = file.unwrap_or_default();
        let expand = |p: &Path| paths::expand_tilde(p, &home);
        // Flag (or TELEMETRON_*) > OTEL_* > config.
        let tls_file = |flag: &Option<PathBuf>, otel: &Option<String>, file: Option<PathBuf>| {
            flag.clone().or(otel.as_ref().map(PathBuf::from)).or(file).map(|p| expand(&p))
        };

        let token_file =
            args.token_file.clone().or(file.token_file.clone()).map(|p| expand(&p)).or_else(|| {
                let beside = config_path.parent().map(|d| d.join("token"));
                beside.filter(|p| p.exists())
            });
        let declared = validate_declared(file.declared.clone().unwrap_or_default(), args, &otel)?;
        let packs_cfg = file.packs.unwrap_or_default();
        if let Some(unknown) = packs_cfg.keys().find(|k| !packs().any(|p| p.as_str() == k.as_str()))
        {
            let known: Vec<&str> = packs().map(Pack::as_str).collect();
            anyhow::bail!(
                "{}: unknown pack `{unknown}` under `packs:` (known: {})",
                config_path.display(),
                known.join(", ")
            );
        }
        let packs = packs()
            .map(|pack| {
                let c = packs_cfg.get(pack.as_str()).cloned().unwrap_or_default();
                PackSettings {
                    pack,
                    enabled: c.enabled.unwrap_or(true),
                    paths: c.paths.map(|v| v.iter().map(|p| expand(p)).collect()),
                }
            })
            .collect();
        let s = Settings {
            config_path: config_read.then_some(config_path),
            endpoint: args
                .endpoint
                .clone()
                .or(otel.endpoint.clone())
                .or(file.endpoint)
                .filter(|e| !e.trim().is_empty()),
            token_file,
            headers: file.headers.unwrap_or_default(),
            header_values: otel.headers.clone(),
            endpoint_as_is: args.endpoint.is_none() && otel.endpoint_as_is,
            insecure_endpoint: args.insecure_endpoint.or(file.insecure_endpoint).unwrap_or(false),
            encoding: args
                .encoding
                .or(otel.encoding)
                .or(file.encoding)
                .unwrap_or(Encoding::Protobuf),
            compression: args
                .compression
                .or(otel.compression)
                .or(file.compression)
                .unwrap_or(Compression::None),
            temporality: args
                .temporality
                .or(otel.temporality)
                .or(file.temporality)
                .unwrap_or(Temporality::Delta),
            timeout: args
                .timeout
                .map(|d| d.0)
                .or(otel.timeout)
                .or(file.timeout.map(|d| d.0))
                .unwrap_or(Duration::from_secs(10)),
            retry_max_time: args
                .retry_max_time
                .map(|d| d.0)
                .or(file.retry_max_time.map(|d| d.0))
                .unwrap_or(Duration::from_secs(30)),
            state_dir: args
                .state_dir
                .clone()
                .or(file.state_dir)
                .map(|p| expand(&p))
                .unwrap_or(defaults.state_dir),
            max_line_bytes: args.max_line_bytes.or(file.max_line_bytes).unwrap_or(64 << 20),
            max_batch_files: args
                .max_batch_files
                .or(file.max_batch_files)
                .unwrap_or(DEFAULT_MAX_BATCH_FILES),
            threads: args.threads.or(file.threads).unwrap_or(0),
            pricing: args.pricing.clone().or(file.pricing).map(|p| expand(&p)),
            proxy: args.proxy.clone().or(file.proxy),
            tls: crate::export::network::TlsFiles {
                ca_file: tls_file(&args.ca_file, &otel.certificate, file.ca_file),
                client_cert: tls_file(
                    &args.client_cert,
                    &otel.client_certificate,
                    file.client_cert,
                ),
                client_key: tls_file(&args.client_key, &otel.client_key, file.client_key),
            },
            declared,
            home,
            home_override,
            packs,
            legacy_state_files,
        };
        s.validate()?;
        if let Some(p) = &s.pricing {
            // Prices are read once per process, before anything is priced.
            crate::pricing::install(crate::pricing::Table::with_overrides(p)?);
        }
        Ok(s)
    }

    /// Checks values that are wrong whatever the command.
    fn validate(&self) -> anyhow::Result<()> {
        if let Some(e) = &self.endpoint {
            check_endpoint(e, self.insecure_endpoint, self.endpoint_as_is)?;
        }
        if self.max_line_bytes < 1024 {
            bail!("max_line_bytes must be at least 1024 (got {})", self.max_line_bytes);
        }
        if self.max_batch_files == 0 {
            bail!("max_batch_files must be at least 1");
        }
        if self.timeout.is_zero() {
            bail!("timeout must be more than 0");
        }
        for (name, var) in &self.headers {
            if name.eq_ignore_ascii_case("authorization") && self.token_file.is_some() {
                bail!("headers: `{name}` is set and so is a token file; keep one of them");
            }
            if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                bail!(
                    "headers: the value of `{name}` must name an environment variable \
                     (secrets never go in the config), got `{var}`"
                );
            }
        }
        Ok(())
    }

    /// The endpoint, or an error saying how to set one.
    pub fn require_endpoint(&self) -> anyhow::Result<&str> {
        self.endpoint.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no endpoint configured: set `endpoint:` in {}, TELEMETRON_ENDPOINT, \
                 OTEL_EXPORTER_OTLP_ENDPOINT or --endpoint (or use --dry-run to see what would \
                 be sent)",
                self.config_path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the config file".into())
            )
        })
    }
}

/// Reads and parses the config file. A missing default file is fine; a
/// missing file that was asked for by name is an error.
/// Go offset files a migrated config names, with their pack.
type LegacyStateFiles = Vec<(String, PathBuf)>;

/// Reads and parses the config file (ours, or the Go predecessor's, mapped).
fn load_file(
    path: &Path,
    explicit: bool,
) -> anyhow::Result<Option<(FileConfig, LegacyStateFiles)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("config file {}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Some((FileConfig::default(), Vec::new())));
    }
    match serde_yaml::from_str::<FileConfig>(&text) {
        Ok(c) => Ok(Some((c, Vec::new()))),
        Err(e) => match crate::state::go_import::map(&text) {
            Some(m) => {
                eprintln!(
                    "telemetron: notice: {} is a config of the Go telemetron; it is read as \
                     follows (write it in the new form to silence this):",
                    path.display()
                );
                for n in &m.notes {
                    eprintln!("telemetron: notice:   {n}");
                }
                Ok(Some((m.config, m.state_files)))
            }
            None => Err(anyhow::anyhow!(
                "config file {}: {e}; see the configuration reference in the README",
                path.display()
            )),
        },
    }
}

/// True when a URL's host is a loopback address.
pub fn is_loopback_url(url: &str) -> bool {
    crate::export::network::split_url(url).is_some_and(|(_, host, _)| {
        host == "localhost"
            || host == "::1"
            || host.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
    })
}

/// Validates an endpoint URL.
fn check_endpoint(url: &str, insecure: bool, any_path: bool) -> anyhow::Result<()> {
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("https://") && !lower.starts_with("http://") {
        bail!("endpoint `{url}` must be an http(s) URL such as https://collector:4318/v1/metrics");
    }
    if lower.starts_with("http://") && !insecure && !is_loopback_url(url) {
        bail!(
            "endpoint `{url}` uses plain http to a non-loopback host; use https, or set \
             `insecure_endpoint: true` if the network is trusted"
        );
    }
    if !any_path && !url.trim_end_matches('/').ends_with("/v1/metrics") {
        bail!("endpoint `{url}` should end in /v1/metrics (OTLP/HTTP metrics path)");
    }
    Ok(())
}

/// Validates the declared resource attributes, with flag/env overrides.
fn validate_declared(
    d: Declared,
    args: &CommonArgs,
    otel: &otel::OtelEnv,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (key, flag, file) in [
        ("deployment_id", &args.deployment_id, d.deployment_id),
        ("tier", &args.tier, d.tier),
        ("environment", &args.environment, d.environment),
    ] {
        let Some(v) = flag.clone().or(otel.declared(key)).or(file) else { continue };
        let ok = (1..=64).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@:-".contains(&b));
        if !ok {
            bail!("declared.{key} `{v}` must match ^[A-Za-z0-9._@:-]{{1,64}}$");
        }
        out.push((key.to_string(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve(
        argv: &[&str],
        env: &[(&str, &str)],
        file: Option<&str>,
    ) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.yaml");
        let mut full = vec!["telemetron", "scan", "--home", "/h"];
        let cfg_s = cfg.display().to_string();
        if let Some(f) = file {
            std::fs::write(&cfg, f).unwrap();
            full.extend(["--config", &cfg_s]);
        }
        full.extend(argv);
        let cli = crate::cli::Cli::try_parse_from(full).unwrap();
        let crate::cli::Command::Scan(crate::cli::ScanArgs { common: args, .. }) = cli.command
        else {
            panic!("not scan")
        };
        let env: Vec<(String, String)> =
            env.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Settings::resolve(&args, &move |k| env.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone()))
    }

    #[test]
    fn flags_win_over_the_file() {
        let s = resolve(
            &["--temporality", "cumulative"],
            &[],
            Some("temporality: delta\nencoding: json\n"),
        )
        .unwrap();
        assert_eq!(s.temporality, Temporality::Cumulative);
        assert_eq!(s.encoding, Encoding::Json);
    }

    #[test]
    fn defaults_apply_without_a_file() {
        let s = resolve(&[], &[], None).unwrap();
        assert_eq!(s.encoding, Encoding::Protobuf);
        assert_eq!(s.temporality, Temporality::Delta);
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert!(s.endpoint.is_none());
        assert!(s.packs.iter().all(|p| p.enabled && p.paths.is_none()));
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let e = resolve(&[], &[], Some("endpointt: x\n")).unwrap_err().to_string();
        assert!(e.contains("endpointt"), "{e}");
        let e = resolve(&[], &[], Some("packs:\n  pi:\n    path: [x]\n")).unwrap_err().to_string();
        assert!(e.contains("path"), "{e}");
    }

    #[test]
    fn plain_http_needs_loopback_or_insecure() {
        assert!(resolve(&["--endpoint", "http://127.0.0.1:4318/v1/metrics"], &[], None).is_ok());
        assert!(resolve(&["--endpoint", "http://[::1]:4318/v1/metrics"], &[], None).is_ok());
        let e =
            resolve(&["--endpoint", "http://collector:4318/v1/metrics"], &[], None).unwrap_err();
        assert!(e.to_string().contains("insecure_endpoint"));
        assert!(resolve(
            &["--endpoint", "http://collector:4318/v1/metrics", "--insecure-endpoint"],
            &[],
            None
        )
        .is_ok());
        assert!(resolve(&["--endpoint", "https://collector/otlp"], &[], None).is_err());
    }

    #[test]
    fn declared_values_are_validated() {
        assert!(resolve(&[], &[], Some("declared:\n  tier: prod\n")).is_ok());
        let e = resolve(&[], &[], Some("declared:\n  tier: 'has space'\n")).unwrap_err();
        assert!(e.to_string().contains("declared.tier"));
        assert!(resolve(&[], &[], Some("declared:\n  hostname: x\n")).is_err());
    }

    #[test]
    fn headers_must_name_environment_variables() {
        assert!(resolve(&[], &[], Some("headers:\n  X-Scope-OrgID: TENANT\n")).is_ok());
        assert!(resolve(&[], &[], Some("headers:\n  X-Key: 'sk-secret value'\n")).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("7 days").is_err());
        let s = resolve(&[], &[], Some("timeout: 3s\nretry_max_time: 5\n")).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(3));
        assert_eq!(s.retry_max_time, Duration::from_secs(5));
    }

    #[test]
    fn pack_paths_expand_the_home() {
        let s = resolve(
            &[],
            &[],
            Some("packs:\n  pi:\n    paths: ['~/elsewhere']\n  openclaw:\n    enabled: false\n"),
        )
        .unwrap();
        assert_eq!(s.packs[2].paths, Some(vec![PathBuf::from("/h/elsewhere")]));
        assert!(!s.packs[0].enabled);
    }

    #[test]
    fn the_default_token_file_sits_beside_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, "").unwrap();
        std::fs::write(dir.path().join("token"), "t").unwrap();
        let argv = ["telemetron", "scan", "--home", "/h", "--config", cfg.to_str().unwrap()];
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        let crate::cli::Command::Scan(crate::cli::ScanArgs { common: args, .. }) = cli.command
        else {
            panic!("not scan")
        };
        let s = Settings::resolve(&args, &|_| None).unwrap();
        assert_eq!(s.token_file, Some(dir.path().join("token")));
    }

    #[test]
    fn an_explicit_missing_config_is_an_error() {
        let cli = crate::cli::Cli::try_parse_from([
            "telemetron",
            "scan",
            "--home",
            "/h",
            "--config",
            "/nonexistent/c.yaml",
        ])
        .unwrap();
        let crate::cli::Command::Scan(crate::cli::ScanArgs { common: args, .. }) = cli.command
        else {
            panic!("not scan")
        };
        let e = Settings::resolve(&args, &|_| None).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/c.yaml"));
    }
}
