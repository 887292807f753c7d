//! Amp (Sourcegraph): one JSON file per thread, `threads/T-<uuid>.json`,
//! under `~/.local/share/amp` (or every directory of `$AMP_DATA_DIR`,
//! comma-separated), rewritten as the thread grows. How a thread counts is
//! in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// `threads/T-*.json`.
pub const STORES: &[Store] = &[Store {
    names: |n| n.starts_with("T-") && n.ends_with(".json"),
    databases: crate::agents::no_databases,
    read: StoreRead::Document(records::thread),
    expects: "an Amp thread (JSON)",
}];

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent::stores_only(Pack::Amp, places, tools::TOOLS, STORES);

/// `$AMP_DATA_DIR` (comma-separated), else `~/.local/share/amp`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "AMP_DATA_DIR")
        .unwrap_or_else(|| vec![home.join(".local").join("share").join("amp")]);
    roots
        .into_iter()
        .map(|root| Place { pack: Pack::Amp, root, layout: Layout::Only(&["threads"]) })
        .collect()
}
