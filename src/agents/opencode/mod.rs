//! opencode (sst): `$XDG_DATA_HOME/opencode` (default
//! `~/.local/share/opencode`, or every directory of `$OPENCODE_DATA_DIR`,
//! comma-separated). Current versions keep sessions in the SQLite
//! `opencode.db` (or a channel's `opencode-<channel>.db`): tables
//! `session`, `message` and `part`, whose `data` column holds the JSON
//! that older versions wrote as one file per message under
//! `storage/message/<session>/msg_*.json`. Both are read; a message is one
//! record by its id, wherever it is. How a message counts is in
//! [`records`].

pub mod records;
pub mod tools;

use std::path::{Path, PathBuf};

use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// The database, and the legacy message files.
pub const STORES: &[Store] = &[
    Store {
        names: is_database,
        databases: crate::agents::no_databases,
        read: StoreRead::Sqlite(records::read_database),
        expects: "opencode's message(id, session_id, data)",
    },
    Store {
        names: is_message_file,
        databases: crate::agents::no_databases,
        read: StoreRead::Document(records::message_file),
        expects: "an opencode message (JSON)",
    },
];

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent::stores_only(Pack::Opencode, places, tools::TOOLS, STORES);

/// `opencode.db`, or a channel's `opencode-<channel>.db`.
pub(crate) fn is_database(name: &str) -> bool {
    name == "opencode.db"
        || name.strip_prefix("opencode-").and_then(|n| n.strip_suffix(".db")).is_some_and(|c| {
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// A legacy message file, `msg_<id>.json`.
fn is_message_file(name: &str) -> bool {
    name.starts_with("msg_") && name.ends_with(".json")
}

/// The data directories: `$OPENCODE_DATA_DIR` (comma-separated), else
/// `$XDG_DATA_HOME/opencode`, else `~/.local/share/opencode`. The
/// database in the root and `storage/message/` below it are read (not
/// the snapshots and other state beside them).
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "OPENCODE_DATA_DIR").unwrap_or_else(|| {
        let data = crate::agents::env_dir(env, "XDG_DATA_HOME")
            .filter(|d| d.is_absolute())
            .unwrap_or_else(|| home.join(".local").join("share"));
        vec![data.join("opencode")]
    });
    roots.into_iter().map(|root| place(Pack::Opencode, root)).collect()
}

/// A data directory of opencode or of its fork Kilo.
pub(crate) fn place(pack: Pack, root: PathBuf) -> Place {
    Place { pack, root, layout: Layout::Only(&[".", "storage/message"]) }
}
