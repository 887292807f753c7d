//! Corpus generators, one module per agent format, and what they share.
//!
//! Every generator writes a deterministic home (same seed and size, same
//! bytes) and returns the exact totals a correct scanner must report for
//! it, so that a fast but wrong scanner fails the benchmark.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Res;

pub(crate) mod claude;
pub(crate) mod codex;
pub(crate) mod common;
pub(crate) mod gemini;
pub(crate) mod pi;

/// What a generated corpus holds and must produce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Generated {
    /// Transcript files written.
    pub(crate) files: u64,
    /// Bytes written.
    pub(crate) bytes: u64,
    /// The totals a scanner must report, keyed `metric` (the sum of every
    /// point) or `metric{k=v,k2=v2}` (the sum of the points carrying all of
    /// these attribute values). Keys of a pack's corpus always filter on
    /// `pack=…`, so the maps of several packs add up to a mixed home's.
    pub(crate) expected: BTreeMap<String, u64>,
    /// Complete lines a scanner does not read because they repeat bytes of
    /// another file it reads (content identity): on disk, but in no
    /// `pack.emitter.lines` total.
    pub(crate) unread_lines: u64,
}

impl Generated {
    /// Adds another corpus's files, bytes and totals to this one.
    pub(crate) fn add(&mut self, o: &Generated) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.unread_lines += o.unread_lines;
        for (k, v) in &o.expected {
            *self.expected.entry(k.clone()).or_default() += v;
        }
    }
}

/// The corpus kinds, by name.
pub(crate) const PACKS: &[&str] = &["pi", "claude_code", "codex", "gemini_cli"];

/// Writes the corpus of one pack (`pi` also writes OpenClaw and roundhouse
/// files) of about `bytes` bytes under `home`.
pub(crate) fn generate(pack: &str, home: &Path, seed: u64, bytes: u64) -> Res<Generated> {
    match pack {
        "pi" => pi::generate_home(home, seed, bytes),
        "claude_code" => claude::generate(home, seed, bytes),
        "codex" => codex::generate(home, seed, bytes),
        "gemini_cli" => gemini::generate(home, seed, bytes),
        other => Err(format!("no corpus generator for {other}").into()),
    }
}
