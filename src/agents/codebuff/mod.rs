//! Codebuff: each chat's `chat-messages.json`, under
//! `~/.config/manicode/projects/<project>/chats/<chat>/` (and the
//! `manicode-dev`, `manicode-staging` channels; or every directory of
//! `$CODEBUFF_DATA_DIR`, comma-separated), rewritten as the chat grows.
//! How a chat counts is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// `chat-messages.json`.
pub const STORES: &[Store] = &[Store {
    names: |n| n == "chat-messages.json",
    databases: crate::agents::no_databases,
    read: StoreRead::Document(records::chat),
    expects: "a Codebuff chat (JSON)",
}];

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent::stores_only(Pack::Codebuff, places, tools::TOOLS, STORES);

/// `$CODEBUFF_DATA_DIR` (comma-separated), else the three channels under
/// `~/.config`: their `projects/`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "CODEBUFF_DATA_DIR").unwrap_or_else(|| {
        ["manicode", "manicode-dev", "manicode-staging"]
            .iter()
            .map(|c| home.join(".config").join(c))
            .collect()
    });
    roots
        .into_iter()
        .map(|r| {
            let root =
                if r.file_name().is_some_and(|n| n == "projects") { r } else { r.join("projects") };
            Place { pack: Pack::Codebuff, root, layout: Layout::Tree }
        })
        .collect()
}
