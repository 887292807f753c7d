//! `telemetron detect`: which agents live on this machine.
//!
//! For the current user's home, a `--home`, or (as root) every home under
//! `/home` and `/Users`, it lists each pack's session places that exist and
//! how many transcripts each holds. With `--write-config` it writes those
//! places into the config file as `packs.<pack>.paths`, so one config (and
//! one schedule) covers every pack, every OpenClaw agent and, for root,
//! every user. Other keys of an existing config are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::cli;
use crate::commands::Failure;
use crate::config::packs;
use crate::exit::Exit;
use crate::paths;
use crate::pipeline::discover::{self, Layout, Place};

/// One place where a pack keeps sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Pack name.
    pub pack: String,
    /// The directory scanned.
    pub path: PathBuf,
    /// Transcripts below it.
    pub files: usize,
}

/// The homes to look in.
pub fn homes(home: Option<&Path>, own: &Path, root: bool) -> Vec<PathBuf> {
    if let Some(h) = home {
        return vec![h.to_path_buf()];
    }
    if !root {
        return vec![own.to_path_buf()];
    }
    let mut out = Vec::new();
    for base in ["/home", "/Users"] {
        let Ok(rd) = std::fs::read_dir(base) else { continue };
        let mut dirs: Vec<PathBuf> =
            rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        out.extend(dirs);
    }
    out.push(own.to_path_buf());
    out.dedup();
    out
}

/// Finds every pack's existing places in `homes`. The agents' own
/// environment variables are honoured through `env` (pass one that
/// returns nothing for other users' homes).
pub fn detect(homes: &[PathBuf], env: &dyn Fn(&str) -> Option<String>) -> Vec<Found> {
    let mut out = Vec::new();
    for home in homes {
        for pack in packs() {
            for place in discover::default_places(pack, home, env) {
                // The concrete directories a config can name (OpenClaw's
                // `agents/*/sessions`, one per agent).
                let dirs: Vec<PathBuf> = place.dirs().into_iter().filter(|d| d.is_dir()).collect();
                for dir in &dirs {
                    let tree = Place { pack, root: dir.clone(), layout: Layout::Tree };
                    let found = discover::discover(&[tree]);
                    let files = found.sources.len() + found.stores.len();
                    out.push(Found { pack: pack.as_str().to_string(), path: dir.clone(), files });
                }
                // Its databases outside those directories, each named as a
                // place of its own.
                for db in discover::discover(std::slice::from_ref(&place)).stores {
                    if !dirs.iter().any(|d| db.path.starts_with(d)) {
                        out.push(Found {
                            pack: pack.as_str().to_string(),
                            path: db.path.to_path_buf(),
                            files: 1,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Finds every pack's places for `detect` and `setup`: in `home` only when
/// given, else in the user's own home (`own`) or, as root, every home. The
/// agents' own environment variables apply to the user's own home only.
pub fn detect_for(
    home: Option<&Path>,
    own: &Path,
    root: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<PathBuf>, Vec<Found>) {
    let homes = homes(home, own, root);
    let found = homes
        .iter()
        .flat_map(|h| {
            let mine = h == own && home.is_none();
            detect(std::slice::from_ref(h), &|k| if mine { env(k) } else { None })
        })
        .collect();
    (homes, found)
}

/// Writes the found places into the YAML config at `path` (created if
/// missing; other keys kept). Refuses to replace existing `packs:` unless
/// `force`.
pub fn write_config(path: &Path, found: &[Found], force: bool) -> anyhow::Result<()> {
    let mut doc: serde_yaml::Value = match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => {
            serde_yaml::from_str(&t).with_context(|| format!("config file {}", path.display()))?
        }
        _ => serde_yaml::Value::Mapping(Default::default()),
    };
    let map = doc
        .as_mapping_mut()
        .with_context(|| format!("config file {} is not a mapping", path.display()))?;
    let key = serde_yaml::Value::from("packs");
    if map.contains_key(&key) && !force {
        anyhow::bail!(
            "{} already has a `packs:` section; pass --force to replace it",
            path.display()
        );
    }
    let mut packs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in found {
        packs.entry(f.pack.clone()).or_default().push(f.path.display().to_string());
    }
    let mut section = serde_yaml::Mapping::new();
    for (pack, paths) in packs {
        let mut p = serde_yaml::Mapping::new();
        let list = paths.into_iter().map(serde_yaml::Value::from).collect();
        p.insert("paths".into(), serde_yaml::Value::Sequence(list));
        section.insert(pack.into(), serde_yaml::Value::Mapping(p));
    }
    map.insert(key, serde_yaml::Value::Mapping(section));
    let text = format!(
        "# Written by `telemetron detect --write-config`.\n{}",
        serde_yaml::to_string(&doc)?
    );
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    crate::state::write_atomic(path, text.as_bytes())
}

/// Runs `telemetron detect`.
pub fn detect_command(
    args: &cli::DetectArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Exit, Failure> {
    let config = |error| Failure { exit: Exit::Config, error };
    let own = paths::home_dir(env).map_err(config)?;
    let (homes, found) = detect_for(args.home.as_deref(), &own, paths::is_root(), env);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found).expect("serialises"));
    } else {
        for f in &found {
            println!("{:<11} {}  {} file(s)", f.pack, f.path.display(), f.files);
        }
    }
    if found.is_empty() {
        let list: Vec<String> = homes.iter().map(|h| h.display().to_string()).collect();
        eprintln!("telemetron: no agent sessions found under {}", list.join(", "));
        return Ok(Exit::Partial);
    }
    if args.write_config {
        let path =
            args.config.clone().unwrap_or_else(|| paths::Defaults::for_user(&own, env).config_file);
        write_config(&path, &found, args.force).map_err(config)?;
        eprintln!("telemetron: wrote the places above into {}", path.display());
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "{}\n").unwrap();
    }

    #[test]
    fn finds_each_pack_and_every_openclaw_agent() {
        let h = tempfile::tempdir().unwrap();
        mk(h.path(), ".openclaw/agents/main/sessions/a.jsonl");
        mk(h.path(), ".openclaw/agents/ops/sessions/b.jsonl");
        mk(h.path(), ".openclaw/agents/ops/sessions/c.jsonl");
        mk(h.path(), ".pi/agent/sessions/--x--/p.jsonl");
        let found = detect(&[h.path().to_path_buf()], &|_| None);
        let got: Vec<(String, String, usize)> = found
            .iter()
            .map(|f| {
                (
                    f.pack.clone(),
                    f.path.strip_prefix(h.path()).unwrap().display().to_string(),
                    f.files,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("openclaw".into(), ".openclaw/agents/main/sessions".into(), 1),
                ("openclaw".into(), ".openclaw/agents/ops/sessions".into(), 2),
                ("pi".into(), ".pi/agent/sessions".into(), 1),
            ]
        );
    }

    #[test]
    fn the_written_config_keeps_other_keys_and_loads() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("config.yaml");
        std::fs::write(&cfg, "endpoint: https://c.example/v1/metrics\n").unwrap();
        let found =
            vec![Found { pack: "pi".into(), path: "/h/.pi/agent/sessions".into(), files: 1 }];
        write_config(&cfg, &found, false).unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap();
        let parsed: crate::config::FileConfig = serde_yaml::from_str(&text).unwrap();
        assert_eq!(parsed.endpoint.as_deref(), Some("https://c.example/v1/metrics"));
        let pi = parsed.packs.unwrap().remove("pi").unwrap();
        assert_eq!(pi.paths.unwrap(), vec![PathBuf::from("/h/.pi/agent/sessions")]);
        assert!(write_config(&cfg, &found, false).is_err(), "packs exist: needs --force");
        write_config(&cfg, &found, true).unwrap();
    }

    #[test]
    fn root_looks_in_every_home() {
        let own = Path::new("/root");
        assert_eq!(homes(Some(Path::new("/x")), own, true), vec![PathBuf::from("/x")]);
        assert_eq!(homes(None, own, false), vec![PathBuf::from("/root")]);
        assert_eq!(homes(None, own, true).last(), Some(&PathBuf::from("/root")));
    }
}
