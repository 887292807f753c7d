//! Migration from the Go predecessor.
//!
//! Its YAML config (`mode`, `endpoint`, `token_file`, `insecure_endpoint`,
//! `declared`, `openclaw.session_dir`, `state_file`, …) is accepted and
//! mapped onto ours, with a notice of what changed. Its offset files
//! (`<mode>.state.json`, `{"files": {path: {"offset": n, …}}}`) are
//! imported by a first run, so that history the Go daemon already sent is
//! not sent again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{Declared, FileConfig, PackConfig, PacksConfig};
use crate::state::FileState;

/// The Go predecessor's config file.
#[derive(Debug, Deserialize)]
pub struct GoConfig {
    mode: Option<String>,
    endpoint: Option<String>,
    token_file: Option<PathBuf>,
    insecure_endpoint: Option<bool>,
    declared: Option<GoDeclared>,
    #[serde(default)]
    log_level: Option<serde_yaml::Value>,
    #[serde(default)]
    run_as: Option<serde_yaml::Value>,
    #[serde(default)]
    auto_update: Option<serde_yaml::Value>,
    openclaw: Option<GoCollector>,
    roundhouse: Option<GoCollector>,
}

/// Its `declared:` map (with `pack_version`, which we do not send).
#[derive(Debug, Deserialize)]
struct GoDeclared {
    deployment_id: Option<String>,
    tier: Option<String>,
    environment: Option<String>,
    pack_version: Option<String>,
}

/// Its per-mode section.
#[derive(Debug, Deserialize)]
struct GoCollector {
    session_dir: Option<PathBuf>,
    state_file: Option<PathBuf>,
    #[serde(default)]
    flush_interval: Option<serde_yaml::Value>,
    #[serde(default)]
    scan_interval: Option<serde_yaml::Value>,
}

/// A Go config mapped onto ours.
#[derive(Debug)]
pub struct Mapped {
    /// Our config.
    pub config: FileConfig,
    /// What changed, one line each.
    pub notes: Vec<String>,
    /// Go offset files to import on a first run, with their pack.
    pub state_files: Vec<(String, PathBuf)>,
}

/// Tries to read `text` as a Go predecessor config (it must name a `mode`
/// or a collector section).
pub fn map(text: &str) -> Option<Mapped> {
    let go: GoConfig = serde_yaml::from_str(text).ok()?;
    if go.mode.is_none() && go.openclaw.is_none() && go.roundhouse.is_none() {
        return None;
    }
    let mut notes = Vec::new();
    let mut state_files = Vec::new();
    let mut packs = PacksConfig::default();
    for (name, section) in [("openclaw", &go.openclaw), ("roundhouse", &go.roundhouse)] {
        let Some(c) = section else { continue };
        let mut p = PackConfig::default();
        if let Some(dir) = &c.session_dir {
            notes.push(format!("{name}.session_dir → packs.{name}.paths (walked recursively now)"));
            p.paths = Some(vec![dir.clone()]);
        }
        if let Some(sf) = &c.state_file {
            notes.push(format!("{name}.state_file: its offsets are imported by the first run"));
            state_files.push((name.to_string(), sf.clone()));
        }
        if c.flush_interval.is_some() || c.scan_interval.is_some() {
            notes.push(format!(
                "{name}.flush_interval/scan_interval ignored: each scheduled run scans and sends once"
            ));
        }
        packs.insert(name.to_string(), p);
    }
    if let Some(mode) = &go.mode {
        notes.push(format!(
            "mode: {mode} → every pack is scanned (one run covers all; turn one off with \
             packs.<pack>.enabled: false)"
        ));
    }
    let declared = go.declared.map(|d| {
        if d.pack_version.is_some() {
            notes.push("declared.pack_version is no longer sent".into());
        }
        Declared { deployment_id: d.deployment_id, tier: d.tier, environment: d.environment }
    });
    if go.log_level.is_some() || go.run_as.is_some() || go.auto_update.is_some() {
        notes.push(
            "log_level, run_as and auto_update ignored (run_as is the scheduler's User=; \
             telemetron never updates itself)"
                .into(),
        );
    }
    let config = FileConfig {
        endpoint: go.endpoint,
        token_file: go.token_file,
        insecure_endpoint: go.insecure_endpoint,
        declared,
        packs: Some(packs),
        ..FileConfig::default()
    };
    Some(Mapped { config, notes, state_files })
}

/// The offsets of a Go offset file, by path.
pub fn read_offsets(path: &Path) -> Option<BTreeMap<String, u64>> {
    #[derive(Deserialize)]
    struct Entry {
        offset: u64,
    }
    #[derive(Deserialize)]
    struct File {
        files: BTreeMap<String, Entry>,
    }
    let f: File = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some(f.files.into_iter().map(|(k, e)| (k, e.offset)).collect())
}

/// File states for imported offsets: no identity yet (device and inode 0
/// mark an import), so the first scan trusts the offset if the file is at
/// least that long, and fingerprints it from there.
pub fn imported_states(pack: &str, offsets: &BTreeMap<String, u64>) -> BTreeMap<String, FileState> {
    offsets
        .iter()
        .map(|(path, off)| {
            let st = FileState { pack: pack.to_string(), offset: *off, ..FileState::default() };
            (path.clone(), st)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO: &str = "mode: openclaw
endpoint: https://ingest.example/v1/metrics
token_file: /etc/telemetron/token
insecure_endpoint: false
log_level: info
run_as: agent
declared:
  deployment_id: loki@host
  tier: internal
  pack_version: 2026.7.1
openclaw:
  session_dir: /home/agent/.openclaw/agents/main/sessions
  flush_interval: 15s
  scan_interval: 15s
  state_file: /var/lib/telemetron/openclaw.state.json
";

    #[test]
    fn a_go_config_is_mapped_with_notes() {
        let m = map(GO).unwrap();
        assert_eq!(m.config.endpoint.as_deref(), Some("https://ingest.example/v1/metrics"));
        assert_eq!(m.config.token_file, Some(PathBuf::from("/etc/telemetron/token")));
        let oc = m.config.packs.unwrap().remove("openclaw").unwrap();
        assert_eq!(
            oc.paths,
            Some(vec![PathBuf::from("/home/agent/.openclaw/agents/main/sessions")])
        );
        assert_eq!(m.config.declared.unwrap().tier.as_deref(), Some("internal"));
        assert_eq!(
            m.state_files,
            vec![("openclaw".into(), "/var/lib/telemetron/openclaw.state.json".into())]
        );
        let notes = m.notes.join("\n");
        for word in
            ["session_dir", "state_file", "pack_version", "mode", "auto_update", "scan_interval"]
        {
            assert!(notes.contains(word), "{word}: {notes}");
        }
    }

    #[test]
    fn our_configs_are_not_taken_for_go_ones() {
        assert!(map("endpoint: https://x/v1/metrics\n").is_none());
    }

    #[test]
    fn go_offsets_are_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("openclaw.state.json");
        std::fs::write(&p, r#"{"files":{"/a.jsonl":{"offset":18234,"session_started":true,"last_model_family":"anthropic"}}}"#).unwrap();
        let o = read_offsets(&p).unwrap();
        assert_eq!(o.get("/a.jsonl"), Some(&18234));
        let st = imported_states("openclaw", &o);
        assert_eq!(st["/a.jsonl"].offset, 18234);
        assert_eq!((st["/a.jsonl"].dev, st["/a.jsonl"].ino), (0, 0));
    }
}
