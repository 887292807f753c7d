//! One module per on-disk session format. A format module turns complete
//! lines (bytes) into counts and owns the per-file context it needs between
//! runs; it never does I/O.

pub mod claude;
pub mod codex;
pub mod gemini;
pub mod json;
pub mod mark;
pub mod pi;

use crate::metrics::{Counts, LineResult};

/// A parser for one file, whichever its format.
pub enum Deriver<'s> {
    /// pi, OpenClaw, roundhouse.
    Pi(pi::Deriver<'s>),
    /// Claude Code.
    Claude(claude::Deriver<'s>),
    /// Codex CLI.
    Codex(codex::Deriver<'s>),
    /// Gemini CLI.
    Gemini(gemini::Deriver<'s>),
}

impl Deriver<'_> {
    /// Counts one complete line (without its terminator) and says how it
    /// was classified.
    pub fn line(&mut self, line: &[u8], counts: &mut Counts) -> LineResult {
        match self {
            Deriver::Pi(d) => d.line(line, counts),
            Deriver::Claude(d) => d.line(line, counts),
            Deriver::Codex(d) => d.line(line, counts),
            Deriver::Gemini(d) => d.line(line, counts),
        }
    }
}

/// Every line of the fixture homes' files under `dir` (e.g. `.claude`).
#[cfg(test)]
pub(crate) fn fixture_lines(dir: &str) -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for base in ["demo-home", "demo-later"] {
        let mut stack = vec![root.join(base).join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let b = std::fs::read(&p).unwrap();
                    out.extend(b.split(|c| *c == b'\n').map(<[u8]>::to_vec));
                }
            }
        }
    }
    out
}
