//! Google Antigravity: one SQLite database per conversation,
//! `conversations/<id>.db`, under its data directory (`~/.gemini/antigravity`,
//! `…/antigravity-cli`, `…/antigravity-ide`, `…/antigravity-backup`,
//! `~/.config/antigravity`, or every directory of `$ANTIGRAVITY_DATA_DIR`,
//! comma-separated). Its `gen_metadata` rows are protobuf messages, one per
//! model generation. How a row counts is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// `conversations/<id>.db`.
pub const STORES: &[Store] = &[Store {
    names: |n| n.ends_with(".db") && !n.starts_with('.'),
    databases: crate::agents::no_databases,
    read: StoreRead::Sqlite(records::read),
    expects: "Antigravity's gen_metadata(idx, data)",
}];

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent::stores_only(Pack::Antigravity, places, tools::TOOLS, STORES);

/// `$ANTIGRAVITY_DATA_DIR` (comma-separated), else the default places.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "ANTIGRAVITY_DATA_DIR").unwrap_or_else(|| {
        let g = home.join(".gemini");
        vec![
            g.join("antigravity"),
            g.join("antigravity-cli"),
            g.join("antigravity-ide"),
            g.join("antigravity-backup"),
            home.join(".config").join("antigravity"),
        ]
    });
    roots
        .into_iter()
        .map(|root| Place {
            pack: Pack::Antigravity,
            root,
            layout: Layout::Only(&["conversations"]),
        })
        .collect()
}
