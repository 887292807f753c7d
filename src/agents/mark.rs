//! A high-water mark of the records a file counted, for reading it again
//! after it was rewritten in place (a repair, a restore of an older copy):
//! records at or below the mark were counted before and are copies.
//!
//! Records are recognised by their timestamp and, among records of the
//! same timestamp, by a key: the record's own id where the format has one,
//! else a hash of the line's bytes (a verbatim copy has the same bytes).

use xxhash_rust::xxh3::xxh3_64;

/// How many keys sharing one timestamp are remembered; more is harmless
/// (the extra records would only be counted again after a rewrite).
const MAX_KEYS: usize = 64;

/// The key of a record without an id: a hash of its bytes.
pub fn line_key(line: &[u8]) -> u64 {
    xxh3_64(line)
}

/// The newest record counted, and whether a replay is under way.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    /// The newest record timestamp counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_ts: Option<String>,
    /// Keys of the records counted at exactly `high_ts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub high_keys: Vec<u64>,
    /// True while the file is read again from its start: records at or
    /// below the mark are copies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
}

impl Mark {
    /// Prepares a read of the file again from its start.
    pub fn begin_replay(&mut self) {
        self.replay = self.high_ts.is_some();
    }

    /// While replaying, true for a record at or below the mark (a copy);
    /// the first record past it ends the replay. `key` is asked only for a
    /// record at exactly the mark.
    pub fn is_copy(&mut self, ts: &str, key: impl FnOnce() -> u64) -> bool {
        if !self.replay {
            return false;
        }
        let copy = match self.high_ts.as_deref() {
            Some(high) if ts < high => true,
            Some(high) if ts == high => self.high_keys.contains(&key()),
            _ => false,
        };
        if !copy {
            self.replay = false;
        }
        copy
    }

    /// Moves the mark past a counted record.
    pub fn advance(&mut self, ts: &str, key: u64) {
        match self.high_ts.as_deref() {
            Some(h) if ts < h => {}
            Some(h) if ts == h => {
                if self.high_keys.len() < MAX_KEYS && !self.high_keys.contains(&key) {
                    self.high_keys.push(key);
                }
            }
            _ => {
                self.high_ts = Some(ts.to_owned());
                self.high_keys = vec![key];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_skips_what_was_counted_and_ends_at_the_first_new_record() {
        let mut m = Mark::default();
        m.advance("t1", 1);
        m.advance("t2", 2);
        m.advance("t2", 3);
        m.begin_replay();
        assert!(m.is_copy("t1", || 9));
        assert!(m.is_copy("t2", || 3));
        assert!(!m.is_copy("t2", || 4), "same time, another record");
        assert!(!m.replay);
        assert!(!m.is_copy("t1", || 1), "after the replay nothing is a copy");
        let mut fresh = Mark::default();
        fresh.begin_replay();
        assert!(!fresh.is_copy("t0", || 0), "nothing counted, nothing to replay");
    }
}
