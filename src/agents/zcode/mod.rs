//! ZCode (Zhipu's coding agent): one SQLite database,
//! `$ZCODE_HOME/cli/db/db.sqlite` (default `~/.zcode`; `$ZCODE_HOME` may
//! name several homes, comma-separated), whose `model_usage` table keeps
//! one row per model call. How a row counts is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// `cli/db/db.sqlite`.
pub const STORES: &[Store] = &[Store {
    names: |n| n == "db.sqlite",
    databases: crate::agents::no_databases,
    read: StoreRead::Sqlite(records::read),
    expects: "ZCode's model_usage(id, session_id, model_id, status, input_tokens, …)",
}];

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent::stores_only(Pack::Zcode, places, tools::TOOLS, STORES);

/// `$ZCODE_HOME` (comma-separated), else `~/.zcode`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots =
        crate::agents::env_dirs(env, "ZCODE_HOME").unwrap_or_else(|| vec![home.join(".zcode")]);
    roots
        .into_iter()
        .map(|root| Place { pack: Pack::Zcode, root, layout: Layout::Only(&["cli/db"]) })
        .collect()
}
