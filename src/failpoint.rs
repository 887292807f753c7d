//! Crash injection for tests.
//!
//! When `TELEMETRON_FAILPOINT` names a point the run passes, the process
//! sends itself `SIGKILL` there: no destructors, no buffered output, no
//! cleanup, exactly like a power cut or the OOM killer at that instant.
//! The tests use it to prove that a run killed anywhere loses no count and
//! counts nothing twice. Points: `after-scan`, `after-pending`,
//! `before-rename` (inside an atomic state write, after fsync, before the
//! rename), `after-ack` (the collector acknowledged, nothing committed),
//! `after-commit` (state committed, pending not yet removed). Unset (the
//! normal case) it costs one environment lookup per run.

use std::sync::OnceLock;

/// The configured failpoint, read once.
fn configured() -> Option<&'static str> {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    POINT.get_or_init(|| std::env::var("TELEMETRON_FAILPOINT").ok()).as_deref()
}

/// True when `name` is the configured point (for a point that must first
/// leave something half done).
pub fn armed(name: &str) -> bool {
    configured() == Some(name)
}

/// Kills the process with SIGKILL if `name` is the configured point.
pub fn hit(name: &str) {
    if configured() == Some(name) {
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
