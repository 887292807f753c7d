//! Tables for people: aligned columns, thousands separators, a totals
//! row. The dry run's summary of a batch is one (and `report`'s will be).

use std::collections::BTreeMap;

use crate::metrics::Pack;
use crate::state::Point;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders rows under a header: the first column left-aligned, the others
/// (numbers) right-aligned, two spaces apart, a rule under the header.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    render_aligned(header, rows, 1)
}

/// [`render`] with the first `left` columns left-aligned.
pub fn render_aligned(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = w - c.chars().count();
            if i < left {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    out.push_str(&"-".repeat(width.iter().sum::<usize>() + 2 * (width.len() - 1)));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}

/// The columns of a batch summary, by metric.
const COLUMNS: [(&str, &str); 7] = [
    ("sessions", "pack.session.start"),
    ("prompts", "pack.user.prompt"),
    ("turns", "pack.agent.turn"),
    ("tool calls", "pack.tool.call"),
    ("errors", "pack.error"),
    ("tokens", "pack.token.usage"),
    ("cost (USD)", "pack.cost.usage"),
];

/// A cell of a batch summary: a cost (pico-dollars) in dollars, else a
/// count.
fn cell(col: usize, v: u64) -> String {
    if COLUMNS[col].1 == "pack.cost.usage" {
        format!("{:.2}", v as f64 / crate::metrics::PICOS_PER_USD)
    } else {
        thousands(v)
    }
}

/// What a batch holds, per pack (in the packs' order) with a totals row:
/// the dry run's summary for people. The values are the points' as sent
/// (increments in delta mode, running totals in cumulative mode).
pub fn batch_summary(points: &[Point]) -> String {
    let mut per: BTreeMap<usize, [u64; 7]> = BTreeMap::new();
    for p in points {
        let Some((name, attrs)) = p.key.parse() else { continue };
        let Some(col) = COLUMNS.iter().position(|(_, m)| *m == name) else { continue };
        let Some(pack) = attrs.iter().find(|(k, _)| *k == "pack").map(|(_, v)| *v) else {
            continue;
        };
        let Some(order) = Pack::ALL.iter().position(|p| p.as_str() == pack) else { continue };
        per.entry(order).or_default()[col] += p.value;
    }
    let mut total = [0u64; 7];
    let mut rows: Vec<Vec<String>> = per
        .iter()
        .map(|(order, v)| {
            for (t, x) in total.iter_mut().zip(v) {
                *t += x;
            }
            std::iter::once(Pack::ALL[*order].as_str().to_string())
                .chain(v.iter().enumerate().map(|(i, x)| cell(i, *x)))
                .collect()
        })
        .collect();
    rows.push(
        std::iter::once("total".to_string())
            .chain(total.iter().enumerate().map(|(i, x)| cell(i, *x)))
            .collect(),
    );
    let header: Vec<&str> =
        std::iter::once("pack").chain(COLUMNS.iter().map(|(h, _)| *h)).collect();
    render(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SeriesKey;

    fn point(key: &str, value: u64) -> Point {
        Point { key: SeriesKey(key.to_string()), start_unix_nano: 0, value }
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_batch_is_summed_per_pack_with_a_totals_row() {
        let points = [
            point("pack.session.start{pack=codex,session.type=main}", 2),
            point("pack.token.usage{pack=codex,model=gpt-5,model.family=openai,token.type=input}", 1200),
            point("pack.token.usage{pack=codex,model=gpt-5,model.family=openai,token.type=output}", 34),
            point("pack.agent.turn{pack=opencode,model.family=anthropic,outcome=success,session.type=main}", 3),
            point("pack.tool.call{pack=opencode,tool.name=bash,tool.class=shell}", 5),
            point("pack.cost.usage{pack=codex,model=gpt-5,model.family=openai}", 1_250_000_000_000),
            point("pack.emitter.lines{pack=codex,result=parsed}", 99),
            point("pack.emitter.heartbeat{pack=telemetron}", 1),
        ];
        assert_eq!(
            batch_summary(&points),
            "pack      sessions  prompts  turns  tool calls  errors  tokens  cost (USD)\n\
             --------------------------------------------------------------------------\n\
             codex            2        0      0           0       0   1,234        1.25\n\
             opencode         0        0      3           5       0       0        0.00\n\
             total            2        0      3           5       0   1,234        1.25\n"
        );
    }
}
