//! How Hermes Agent's sessions count: its `state.db` keeps one row per
//! session in `sessions`, with the session's running token totals (input,
//! output, cache read, cache write, reasoning), its model and where it came
//! from (`source`: `cli`, `telegram`, `cron`, …). A row is rewritten as the
//! session goes on, so what counts is how far each total grew since the
//! last run: the state keeps the totals counted per session.
//!
//! Bytes in, counts out: a row is given as its values; no I/O here.

use crate::agents::pi::records::StoredModel;
use crate::agents::usage::{add_tokens, Usage};
use crate::classify::models;
use crate::metrics::{Counts, Pack, Series, SessionType, TokenType};
use crate::pricing::Cost;

/// Token types in the order of [`Row::totals`].
pub const TOKEN_ORDER: [TokenType; 5] = [
    TokenType::Input,
    TokenType::Output,
    TokenType::CacheRead,
    TokenType::CacheWrite,
    TokenType::Reasoning,
];

/// One `sessions` row, as far as it is counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row<'a> {
    /// The model (`sessions.model`).
    pub model: Option<&'a str>,
    /// The provider billed (`sessions.billing_provider`).
    pub provider: Option<&'a str>,
    /// Where the session came from (`sessions.source`).
    pub source: Option<&'a str>,
    /// True when the session continues another (`parent_session_id`, set
    /// when Hermes splits a long session as it compresses it).
    pub continues: bool,
    /// Running totals, in [`TOKEN_ORDER`].
    pub totals: [u64; 5],
    /// When the session started (Unix seconds; its records are dated so).
    pub started: u64,
    /// The session's cost so far as Hermes recorded it, in USD: the actual
    /// cost when known, else its estimate (0 when neither).
    pub cost: f64,
}

/// What the state keeps of a Hermes session between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HermesState {
    /// The totals counted so far, in [`TOKEN_ORDER`].
    #[serde(default)]
    pub totals: [u64; 5],
    /// The session's model when last counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<StoredModel>,
    /// The recorded cost counted so far, in pico-dollars.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cost_picos: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A session's type from its source.
pub fn session_type(row: &Row) -> SessionType {
    match row.source.map(str::to_ascii_lowercase).as_deref() {
        Some("cron") => SessionType::Cron,
        _ => SessionType::Main,
    }
}

/// Counts what a row adds to its session's state: a session start for a
/// session seen for the first time (not for the continuation of a split
/// session), and the growth of every token total beyond the most counted,
/// under the session's current model. A total lower than counted (an older
/// copy of the store restored) counts nothing and does not lower the base,
/// so tokens counted before are not counted again as it grows back.
pub fn count(row: &Row, state: &mut HermesState, first: bool, counts: &mut Counts) {
    let session_type = session_type(row);
    if first && !row.continues {
        counts.incr(Series::SessionStart { pack: Pack::Hermes, session_type });
    }
    let model = models::classify(row.provider, row.model);
    state.model = Some(StoredModel::from_ref(model));
    let mut grew = [0u64; 5];
    for (i, g) in grew.iter_mut().enumerate() {
        *g = row.totals[i].saturating_sub(state.totals[i]);
        state.totals[i] = state.totals[i].max(row.totals[i]);
    }
    let [input, output, cache_read, cache_write, reasoning] = grew;
    let usage = Usage { input, cache_read, cache_write, output, reasoning };
    // The cost Hermes recorded wins; its growth is counted like the tokens'.
    let recorded = crate::pricing::picos(row.cost);
    let cost = if recorded > 0 {
        let more = recorded.saturating_sub(state.cost_picos);
        state.cost_picos = state.cost_picos.max(recorded);
        Cost::Picos(more)
    } else {
        Cost::SUM
    };
    add_tokens(counts, Pack::Hermes, model, &usage, cost);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(totals: [u64; 5]) -> Row<'static> {
        Row {
            model: Some("claude-sonnet-4-5"),
            provider: Some("anthropic"),
            source: Some("cli"),
            continues: false,
            totals,
            started: 1_767_225_600,
            cost: 0.0,
        }
    }

    fn tokens(c: &Counts, t: TokenType) -> u64 {
        c.iter()
            .filter(|(s, _)| matches!(s, Series::TokenUsage { token_type, .. } if *token_type == t))
            .map(|(_, n)| n)
            .sum()
    }

    #[test]
    fn a_session_counts_its_growth_once() {
        let mut st = HermesState::default();
        let mut c = Counts::default();
        count(&row([100, 20, 1000, 50, 5]), &mut st, true, &mut c);
        count(&row([100, 20, 1000, 50, 5]), &mut st, false, &mut c);
        count(&row([150, 30, 1000, 50, 9]), &mut st, false, &mut c);
        assert_eq!(tokens(&c, TokenType::Input), 150);
        assert_eq!(tokens(&c, TokenType::Output), 30);
        assert_eq!(tokens(&c, TokenType::CacheRead), 1000);
        assert_eq!(tokens(&c, TokenType::CacheWrite), 50);
        assert_eq!(tokens(&c, TokenType::Reasoning), 9);
        let starts = Series::SessionStart { pack: Pack::Hermes, session_type: SessionType::Main };
        assert_eq!(c.get(&starts), 1);
    }

    #[test]
    fn a_lower_total_counts_nothing_until_it_passes_the_most_counted() {
        let mut st = HermesState::default();
        let mut c = Counts::default();
        count(&row([100, 20, 0, 0, 0]), &mut st, true, &mut c);
        // An older copy restored, then growing again.
        count(&row([40, 5, 0, 0, 0]), &mut st, false, &mut c);
        count(&row([90, 5, 0, 0, 0]), &mut st, false, &mut c);
        assert_eq!(tokens(&c, TokenType::Input), 100);
        count(&row([130, 5, 0, 0, 0]), &mut st, false, &mut c);
        assert_eq!(tokens(&c, TokenType::Input), 130);
    }

    #[test]
    fn a_split_is_no_new_session() {
        let mut split = row([10, 1, 0, 0, 0]);
        split.continues = true;
        split.source = Some("cron");
        let mut c2 = Counts::default();
        count(&split, &mut HermesState::default(), true, &mut c2);
        assert!(c2.iter().all(|(s, _)| !matches!(s, Series::SessionStart { .. })));
        assert_eq!(session_type(&split), SessionType::Cron);
    }
}
