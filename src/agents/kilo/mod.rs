//! Kilo (Kilo Code's CLI, a fork of opencode): `~/.local/share/kilo/kilo.db`
//! (or every directory of `$KILO_DATA_DIR`, comma-separated), opencode's
//! schema. Its records count as opencode's
//! ([`crate::agents::opencode::records`]) and its tools are opencode's.

use std::path::Path;

use crate::agents::opencode::{self, records};
use crate::agents::{Agent, Format, Store, StoreRead};
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
pub const AGENT: Agent = Agent {
    pack: Pack::Kilo,
    format: Format::Usage,
    places,
    accepts: crate::agents::no_transcripts,
    session_hint: crate::agents::main_sessions,
    tools: opencode::tools::TOOLS,
    compressed: false,
    stores: STORES,
    lines: None,
    mcp_bare_names: false,
};

/// `$KILO_DATA_DIR` (comma-separated), else `~/.local/share/kilo`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "KILO_DATA_DIR")
        .unwrap_or_else(|| vec![home.join(".local").join("share").join("kilo")]);
    roots.into_iter().map(|root| opencode::place(Pack::Kilo, root)).collect()
}
