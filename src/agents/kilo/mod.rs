//! Kilo (Kilo Code's CLI, a fork of opencode): `~/.local/share/kilo/kilo.db`
//! (or every directory of `$KILO_DATA_DIR`, comma-separated), opencode's
//! schema. Its records count as opencode's
//! ([`crate::agents::opencode::records`]) and its tools are opencode's.

use std::path::Path;

use crate::agents::opencode::{self, records};
use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::Place;

/// `kilo.db`.
pub const STORES: &[Store] = &[Store {
    names: |n| n == "kilo.db",
    databases: crate::agents::no_databases,
    read: StoreRead::Sqlite(records::read_database),
    expects: "Kilo's message(id, session_id, data)",
}];

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent::stores_only(Pack::Kilo, places, opencode::tools::TOOLS, STORES);

/// `$KILO_DATA_DIR` (comma-separated), else `~/.local/share/kilo`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "KILO_DATA_DIR")
        .unwrap_or_else(|| vec![home.join(".local").join("share").join("kilo")]);
    roots.into_iter().map(|root| opencode::place(Pack::Kilo, root)).collect()
}
