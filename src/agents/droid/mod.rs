//! Droid (Factory): every session's `<session>.settings.json` under
//! `~/.factory/sessions/` (or every directory of `$DROID_SESSIONS_DIR`,
//! comma-separated), rewritten with the session's running token totals.
//! How a settings file counts is in [`records`].

pub mod records;
pub mod tools;

use std::path::Path;

use crate::agents::{Agent, Store, StoreRead};
use crate::metrics::Pack;
use crate::pipeline::discover::{Layout, Place};

/// `<session>.settings.json`.
pub const STORES: &[Store] = &[Store {
    names: |n| n.ends_with(".settings.json") && !n.starts_with('.'),
    databases: crate::agents::no_databases,
    read: StoreRead::Document(records::settings),
    expects: "a Droid session's settings (JSON)",
}];

/// The agent, as the registry holds it.
pub const AGENT: Agent = Agent::stores_only(Pack::Droid, places, tools::TOOLS, STORES);

/// `$DROID_SESSIONS_DIR` (comma-separated), else `~/.factory/sessions`.
fn places(home: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<Place> {
    let roots = crate::agents::env_dirs(env, "DROID_SESSIONS_DIR")
        .unwrap_or_else(|| vec![home.join(".factory").join("sessions")]);
    roots.into_iter().map(|root| Place { pack: Pack::Droid, root, layout: Layout::Tree }).collect()
}
