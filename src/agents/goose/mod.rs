//! Goose (Block): one SQLite `sessions.db` under its data directory
//! (`~/.local/share/goose/sessions/`, `~/Library/Application
//! Support/goose/sessions/` on macOS, `~/.local/share/Block/goose/sessions/`,
//! or `$GOOSE_PATH_ROOT/data/sessions/`), whose `sessions` table keeps every
//! session's running token totals. Read as ccusage reads it; how a row
//! counts is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// `sessions.db`, table `sessions`.
pub const STORES: &[Store] = &[Store {
    names: |n| n == "sessions.db",
    databases: crate::agents::no_databases,
    read: StoreRead::Sqlite(records::read),
    expects: "Goose's sessions(id, model_config_json, input_tokens, …)",
}];

/// The agent, as the registry holds it.
pub const AGENT: Agent =
    Agent { mcp_bare_names: true, ..Agent::stores_only(Pack::Goose, places, tools::TOOLS, STORES) };

/// `$GOOSE_PATH_ROOT/data/sessions`, else the three default places.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = match crate::agents::env_dir(env, "GOOSE_PATH_ROOT") {
        Some(root) => vec![root.join("data").join("sessions")],
        None => vec![
            home.join(".local/share/goose/sessions"),
            home.join("Library/Application Support/goose/sessions"),
            home.join(".local/share/Block/goose/sessions"),
        ],
    };
    roots
        .into_iter()
        .map(|root| Place { pack: Pack::Goose, root, layout: Layout::Only(&["."]) })
        .collect()
}
