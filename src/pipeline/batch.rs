//! Turning a run's counts into the batch to send, in either temporality,
//! from the totals kept in the state.
//!
//! Delta: one point per series that grew, `value = total_after −
//! total_acknowledged`, `start = time of the last acknowledged export`.
//! Cumulative: one point per series with a non-zero total, `value =
//! total_after`, `start = the series' fixed start`. Both modes keep the
//! same totals, so switching mode between runs loses nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Temporality;
use crate::metrics::Counts;
use crate::pipeline::count::ScanOutput;
use crate::state::{Pending, Point, SeriesTotal, State, STATE_VERSION};

/// Builds the pending batch for `counts` (heartbeat included) on top of
/// the acknowledged `state`.
pub fn build(
    state: &State,
    counts: &Counts,
    scanned: ScanOutput,
    temporality: Temporality,
    now: u64,
) -> Pending {
    // Points must move forward in time even if the clock stepped back.
    let time = now.max(state.last_ack_unix_nano + 1);
    let window_start = state.last_ack_unix_nano;
    let mut series_after = BTreeMap::new();
    let mut points = Vec::new();
    for (key, delta) in counts.keyed() {
        let prev = state.series.get(&key);
        let after = SeriesTotal {
            start_unix_nano: prev.map_or(window_start, |p| p.start_unix_nano),
            total: prev.map_or(0, |p| p.total).saturating_add(delta),
        };
        if temporality == Temporality::Delta {
            points.push(Point { key: key.clone(), start_unix_nano: window_start, value: delta });
        }
        series_after.insert(key, after);
    }
    if temporality == Temporality::Cumulative {
        let keys: BTreeSet<_> = state.series.keys().chain(series_after.keys()).collect();
        for key in keys {
            let s = series_after
                .get(key)
                .or_else(|| state.series.get(key))
                .expect("key from one of the maps");
            if s.total > 0 {
                points.push(Point {
                    key: key.clone(),
                    start_unix_nano: s.start_unix_nano,
                    value: s.total,
                });
            }
        }
    }
    Pending {
        version: STATE_VERSION,
        seq: state.last_ack_seq + 1,
        temporality: temporality.as_str().to_string(),
        time_unix_nano: time,
        points,
        series_after,
        files_after: scanned.files_after,
        files_removed: scanned.files_removed,
        seen: false,
        history: crate::state::history::rollup(counts, crate::metrics::hour_of_nanos(time)),
        epoch: state.created_unix_nano,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ErrorType, Pack, Series};

    fn counts(n: u64) -> Counts {
        let mut c = Counts::default();
        c.incr(Series::Heartbeat);
        c.add(Series::Error { pack: Pack::Pi, error_type: ErrorType::Tool }, n);
        c
    }

    #[test]
    fn delta_points_are_the_increase_since_the_last_ack() {
        let mut st = State::new(100);
        let p1 = build(&st, &counts(3), ScanOutput::default(), Temporality::Delta, 200);
        assert_eq!(p1.points.len(), 2);
        assert!(p1.points.iter().all(|p| p.start_unix_nano == 100));
        st.apply(&p1);
        let p2 = build(&st, &counts(2), ScanOutput::default(), Temporality::Delta, 300);
        let err = p2.points.iter().find(|p| p.key.0.starts_with("pack.error")).unwrap();
        assert_eq!((err.value, err.start_unix_nano), (2, 200));
        assert_eq!(p2.seq, 2);
    }

    #[test]
    fn cumulative_points_are_totals_from_a_fixed_start() {
        let mut st = State::new(100);
        st.apply(&build(&st, &counts(3), ScanOutput::default(), Temporality::Cumulative, 200));
        let p = build(&st, &counts(0), ScanOutput::default(), Temporality::Cumulative, 300);
        let err = p.points.iter().find(|p| p.key.0.starts_with("pack.error")).unwrap();
        assert_eq!((err.value, err.start_unix_nano), (3, 100));
        let hb = p.points.iter().find(|p| p.key.0.starts_with("pack.emitter.heartbeat")).unwrap();
        assert_eq!(hb.value, 2);
    }

    #[test]
    fn time_never_goes_backwards() {
        let st = State::new(500);
        let p = build(&st, &counts(1), ScanOutput::default(), Temporality::Delta, 10);
        assert_eq!(p.time_unix_nano, 501);
    }

    #[test]
    fn zero_delta_series_are_left_out() {
        let mut st = State::new(1);
        st.apply(&build(&st, &counts(3), ScanOutput::default(), Temporality::Delta, 2));
        let p = build(&st, &counts(0), ScanOutput::default(), Temporality::Delta, 3);
        assert_eq!(p.points.len(), 1, "only the heartbeat");
    }
}
