//! `report --rebuild`: the history recounted from the transcripts still on
//! disk.
//!
//! Under the run lock, every source is counted from its start (a fresh
//! count, with an empty table of records seen), and from that is taken
//! what the next scan will count from the committed positions (and the
//! batch in flight, if any), which the history does not hold yet and will
//! receive from that scan. What remains is exactly what the committed
//! positions cover; it replaces the history of every (UTC day, pack) it
//! covers. Days whose transcripts are gone keep what was recorded.

use crate::commands::scan::places;
use crate::config::Settings;
use crate::metrics::{hour_of_nanos, Counts};
use crate::pipeline::count as scan;
use crate::pipeline::discover;
use crate::state::claims::{day_of, resolve, Seen};
use crate::state::history::{self, HistoryDir, Rows, Stamp};
use crate::state::StateDir;
use crate::time::now_unix_nano;

/// Recounts the history of `settings`' state directory.
pub fn rebuild(settings: &Settings) -> anyhow::Result<()> {
    let dir = StateDir::new(&settings.state_dir);
    let Some(_lock) = crate::commands::scan::lock(&dir)? else {
        anyhow::bail!(
            "a scan holds {}; run `telemetron report --rebuild` again once it is done",
            dir.lock_path().display()
        );
    };
    let now = now_unix_nano();
    let loaded = dir.load(now, false)?;
    let state = loaded.state;
    let found = discover::discover(&places(settings));
    let opts = crate::commands::scan::scan_options(settings, now, false);
    let today = day_of(now);
    let count = |files: &std::collections::BTreeMap<String, crate::state::FileState>,
                 mut seen: Seen|
     -> Counts {
        let mut settled = Counts::default();
        let mut out = scan::scan_with(&found.sources, &found.stores, files, &opts, &mut |c| {
            resolve(&c, &mut seen, &mut settled, today)
        });
        let mut counts = std::mem::take(&mut out.counts);
        counts.merge(settled);
        counts
    };
    let none = std::collections::BTreeMap::new();
    let everything = count(&none, Seen::default());
    let mut recovered = Vec::new();
    let ahead = count(&state.files, dir.load_seen(state.promote_seen, &mut recovered));
    let hour = hour_of_nanos(now);
    let mut rows = Rows::new();
    for r in history::rollup(&everything, hour) {
        rows.insert(r.key, r.values);
    }
    let in_flight = loaded.pending.map(|p| p.history).unwrap_or_default();
    for r in history::rollup(&ahead, hour).into_iter().chain(in_flight) {
        if let Some(v) = rows.get_mut(&r.key) {
            history::sub(v, &r.values);
        }
    }
    let stamp = Stamp { epoch: state.created_unix_nano, seq: state.last_ack_seq };
    let n = rows.len();
    HistoryDir::new(&dir.dir).replace(&rows, stamp)?;
    eprintln!(
        "telemetron: history recounted from {} source(s) on disk ({n} hourly row(s)); days \
         without transcripts keep what was recorded",
        found.sources.len() + found.stores.len()
    );
    Ok(())
}
