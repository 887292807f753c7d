//! `telemetron report`: tokens, cost and activity by day, week or month,
//! per pack and model, from the local history ([`crate::state::history`]).
//!
//! It reads the history only (no transcript), so it answers in
//! milliseconds and keeps what the agents deleted. The JSON form is a
//! contract (docs/report.md):
//!
//! ```text
//! {"period":"daily","timezone":"UTC","prices":"…",
//!  "rows":[{"date":"2026-05-28","pack":"codex","model":"gpt-5","input":…,"cache_read":…,
//!           "cache_write":…,"output":…,"reasoning":…,"cost_usd":…|null,"unpriced_tokens":…}],
//!  "activity":[{"date":…,"pack":…,"sessions":…,"prompts":…,"turns":…,"tool_calls":…,"errors":…}],
//!  "totals":{"input":…,…,"cost_usd":…,"unpriced_tokens":…,"sessions":…,…}}
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::Path;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cli::{Period, ReportArgs};
use crate::commands::table::{render_aligned, thousands};
use crate::commands::{Failure, OrExit};
use crate::config::Settings;
use crate::exit::Exit;
use crate::metrics::{Hour, Pack, PICOS_PER_USD};
use crate::state::history::{add, col, HistoryDir, Rows, Values};

/// What `report` was asked for, resolved.
#[derive(Debug)]
pub struct Query {
    /// The period summed over.
    pub period: Period,
    /// The time zone days are in.
    pub tz: TimeZone,
    /// Its name, for the output.
    pub tz_name: String,
    /// First and last day included.
    pub since: Option<Date>,
    /// Last day included.
    pub until: Option<Date>,
    /// Only these packs (empty: all).
    pub packs: Vec<String>,
    /// Only these models (empty: all).
    pub models: Vec<String>,
}

impl Query {
    /// Resolves the flags; an unknown time zone, date or pack is an error
    /// that says what is accepted.
    pub fn from_args(args: &ReportArgs) -> anyhow::Result<Query> {
        let (tz, tz_name) = match args.timezone.as_deref() {
            None | Some("") | Some("local") => {
                let tz = TimeZone::system();
                let name = tz.iana_name().unwrap_or("local").to_string();
                (tz, name)
            }
            Some(name) => (
                TimeZone::get(name).map_err(|e| {
                    anyhow::anyhow!(
                        "--timezone {name}: {e}; give an IANA name such as UTC, Europe/Paris or \
                         America/New_York"
                    )
                })?,
                name.to_string(),
            ),
        };
        let date = |flag: &str, s: &Option<String>| -> anyhow::Result<Option<Date>> {
            let Some(s) = s else { return Ok(None) };
            let norm = if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
                format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..])
            } else {
                s.clone()
            };
            norm.parse::<Date>()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{flag} {s}: not a date; give YYYY-MM-DD or YYYYMMDD"))
        };
        for p in &args.pack {
            if !Pack::ALL.iter().any(|k| k.as_str() == p && *k != Pack::Telemetron) {
                anyhow::bail!(
                    "--pack {p}: no such pack; the packs are {}",
                    Pack::ALL
                        .iter()
                        .filter(|k| **k != Pack::Telemetron)
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        Ok(Query {
            period: args.period,
            tz,
            tz_name,
            since: date("--since", &args.since)?,
            until: date("--until", &args.until)?,
            packs: args.pack.clone(),
            models: args.model.clone(),
        })
    }
}

/// The acknowledged state, as far as the history needs it.
#[derive(Deserialize, Default)]
struct StateProbe {
    #[serde(default)]
    created_unix_nano: u64,
    #[serde(default)]
    last_ack_seq: u64,
}

/// The batch in flight, as far as the history needs it.
#[derive(Deserialize)]
struct PendingProbe {
    seq: u64,
}

/// The history of a state directory as of its acknowledged state.
pub fn load(state_dir: &Path, range: Option<(String, String)>) -> (Rows, Vec<String>) {
    let dir = crate::state::StateDir::new(state_dir);
    let read = |p: std::path::PathBuf| std::fs::read(p).ok();
    let st: StateProbe =
        read(dir.state_path()).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let pending = read(dir.pending_path())
        .and_then(|b| serde_json::from_slice::<PendingProbe>(&b).ok())
        .map(|p| p.seq);
    let mut warnings = Vec::new();
    let range = range.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
    let rows = HistoryDir::new(state_dir).load(
        range,
        st.created_unix_nano,
        st.last_ack_seq,
        pending,
        &mut warnings,
    );
    (rows, warnings)
}

/// A report: per period (its label), pack (its order in [`Pack::ALL`])
/// and model (empty: the pack's own counts), the summed values.
pub type Report = BTreeMap<(String, usize, String), Values>;

/// Sums history rows into a report.
pub fn summarise(rows: &Rows, q: &Query) -> Report {
    // Hours repeat across rows: each is turned into its period once.
    let mut periods: HashMap<u32, Option<(i64, String)>> = HashMap::new();
    let mut sums: HashMap<(i64, usize, &str), (&str, Values)> = HashMap::new();
    let mut labels: HashMap<i64, String> = HashMap::new();
    for (k, v) in rows {
        if !q.packs.is_empty() && !q.packs.contains(&k.pack) {
            continue;
        }
        if !q.models.is_empty() && (k.model.is_empty() || !q.models.contains(&k.model)) {
            continue;
        }
        let period = periods.entry(k.hour).or_insert_with(|| {
            let day = date_of(k.hour, &q.tz);
            if q.since.is_some_and(|s| day < s) || q.until.is_some_and(|u| day > u) {
                return None;
            }
            Some(match q.period {
                Period::Daily => {
                    (i64::from(day.year()) * 400 + i64::from(day.day_of_year()), day.to_string())
                }
                Period::Weekly => {
                    let back = i64::from(day.weekday().to_monday_zero_offset());
                    let monday = day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day);
                    (
                        i64::from(monday.year()) * 400 + i64::from(monday.day_of_year()),
                        monday.to_string(),
                    )
                }
                Period::Monthly => (
                    i64::from(day.year()) * 12 + i64::from(day.month()),
                    format!("{:04}-{:02}", day.year(), day.month()),
                ),
            })
        });
        let Some((p, label)) = period else { continue };
        if !labels.contains_key(p) {
            labels.insert(*p, label.clone());
        }
        let order = Pack::ALL.iter().position(|x| x.as_str() == k.pack).unwrap_or(usize::MAX);
        let e = sums.entry((*p, order, k.model.as_str())).or_insert((k.model.as_str(), [0; 12]));
        add(&mut e.1, v);
    }
    sums.into_iter()
        .map(|((p, order, _), (model, v))| ((labels[&p].clone(), order, model.to_string()), v))
        .collect()
}

/// The local date of a UTC hour.
fn date_of(hour: Hour, tz: &TimeZone) -> Date {
    jiff::Timestamp::from_second(i64::from(hour) * 3600)
        .map(|t| t.to_zoned(tz.clone()).date())
        .unwrap_or_default()
}

fn pack_name(order: usize) -> &'static str {
    Pack::ALL.get(order).map_or("unknown", |p| p.as_str())
}

/// A cost for people and JSON: `None` when the tokens were all unpriced.
fn cost(v: &Values) -> Option<f64> {
    let tokens: u64 = v[col::TOKENS..col::TOKENS + 5].iter().sum();
    if v[col::COST] == 0 && v[col::UNPRICED] > 0 && v[col::UNPRICED] >= tokens {
        return None;
    }
    Some(v[col::COST] as f64 / PICOS_PER_USD)
}

/// The token columns of a JSON row or of the totals.
#[derive(serde::Serialize)]
struct JsonTokens {
    input: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
    reasoning: u64,
    cost_usd: Option<f64>,
    unpriced_tokens: u64,
}

impl JsonTokens {
    fn of(v: &Values) -> JsonTokens {
        JsonTokens {
            input: v[0],
            cache_read: v[1],
            cache_write: v[2],
            output: v[3],
            reasoning: v[4],
            cost_usd: cost(v),
            unpriced_tokens: v[col::UNPRICED],
        }
    }
}

/// The activity columns of a JSON activity row or of the totals.
#[derive(serde::Serialize)]
struct JsonActivity {
    sessions: u64,
    prompts: u64,
    turns: u64,
    tool_calls: u64,
    errors: u64,
}

impl JsonActivity {
    fn of(v: &Values) -> JsonActivity {
        JsonActivity {
            sessions: v[col::SESSIONS],
            prompts: v[col::PROMPTS],
            turns: v[col::TURNS],
            tool_calls: v[col::TOOLS],
            errors: v[col::ERRORS],
        }
    }
}

/// A row of `rows` or `activity`: the period, the pack, maybe the model,
/// and the columns.
#[derive(serde::Serialize)]
struct JsonLine<'a, T> {
    date: &'a str,
    pack: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(flatten)]
    columns: T,
}

impl<'a, T> JsonLine<'a, T> {
    fn of((label, order, model): &'a (String, usize, String), columns: T) -> JsonLine<'a, T> {
        let model = (!model.is_empty()).then_some(model.as_str());
        JsonLine { date: label, pack: pack_name(*order), model, columns }
    }
}

/// The totals: every column.
#[derive(serde::Serialize)]
struct JsonTotals {
    #[serde(flatten)]
    tokens: JsonTokens,
    #[serde(flatten)]
    activity: JsonActivity,
}

/// Writes the JSON form (see the module docs) as it goes: pretty, one row
/// per line, so a year of daily rows prints fast and stays readable.
pub fn write_json(
    out: &mut impl Write,
    report: &Report,
    q: &Query,
    prices: &str,
) -> std::io::Result<()> {
    let period = match q.period {
        Period::Daily => "daily",
        Period::Weekly => "weekly",
        Period::Monthly => "monthly",
    };
    writeln!(out, "{{")?;
    for (k, v) in [("period", period), ("timezone", q.tz_name.as_str()), ("prices", prices)] {
        writeln!(out, "  {}: {},", json!(k), json!(v))?;
    }
    // Each row on its line, comma-separated.
    fn items<T: serde::Serialize>(
        out: &mut impl Write,
        name: &str,
        items: impl Iterator<Item = T>,
    ) -> std::io::Result<()> {
        writeln!(out, "  {}: [", json!(name))?;
        for (i, item) in items.enumerate() {
            write!(out, "{}    ", if i == 0 { "" } else { ",\n" })?;
            serde_json::to_writer(&mut *out, &item)?;
        }
        writeln!(out, "\n  ],")
    }
    let models = report.iter().filter(|(k, _)| !k.2.is_empty());
    items(out, "rows", models.map(|(k, v)| JsonLine::of(k, JsonTokens::of(v))))?;
    let packs = report.iter().filter(|(k, _)| k.2.is_empty());
    items(out, "activity", packs.map(|(k, v)| JsonLine::of(k, JsonActivity::of(v))))?;
    let mut t = [0u64; 12];
    for v in report.values() {
        add(&mut t, v);
    }
    let totals = JsonTotals { tokens: JsonTokens::of(&t), activity: JsonActivity::of(&t) };
    write!(out, "  \"totals\": ")?;
    serde_json::to_writer(&mut *out, &totals)?;
    writeln!(out, "\n}}")
}

/// The JSON form as a value (what [`write_json`] writes).
pub fn to_json(report: &Report, q: &Query, prices: &str) -> Value {
    let mut buf = Vec::new();
    write_json(&mut buf, report, q, prices).expect("writing to memory");
    serde_json::from_slice(&buf).expect("the JSON form parses")
}

/// The table for people: a row per period and pack (its activity and its
/// tokens summed), a row per model under it, a totals row.
pub fn to_table(report: &Report, color: bool) -> String {
    let header = [
        "date",
        "pack / model",
        "prompts",
        "turns",
        "tools",
        "input",
        "output",
        "cache read",
        "cache write",
        "reasoning",
        "cost (USD)",
    ];
    let usd = |v: &Values| match cost(v) {
        Some(c) => format!("{c:.2}"),
        None => "unpriced".to_string(),
    };
    let cells = |date: &str, name: &str, v: &Values, activity: bool| -> Vec<String> {
        let mut r = vec![date.to_string(), name.to_string()];
        for i in [col::PROMPTS, col::TURNS, col::TOOLS] {
            r.push(if activity { thousands(v[i]) } else { String::new() });
        }
        r.extend([0usize, 3, 1, 2, 4].iter().map(|i| thousands(v[*i])));
        r.push(usd(v));
        r
    };
    let mut groups: BTreeMap<(&str, usize), Vec<(&str, &Values)>> = BTreeMap::new();
    for ((label, order, model), v) in report {
        groups.entry((label.as_str(), *order)).or_default().push((model.as_str(), v));
    }
    let mut rows = Vec::new();
    let mut dim = Vec::new();
    let mut totals = [0u64; 12];
    for ((label, order), models) in &groups {
        let mut sum = [0u64; 12];
        for (_, v) in models {
            add(&mut sum, v);
        }
        add(&mut totals, &sum);
        rows.push(cells(label, pack_name(*order), &sum, true));
        dim.push(false);
        for (model, v) in models.iter().filter(|(m, _)| !m.is_empty()) {
            rows.push(cells("", &format!("  {model}"), v, false));
            dim.push(true);
        }
    }
    rows.push(cells("total", "", &totals, true));
    dim.push(false);
    let text = render_aligned(&header, &rows, 2);
    if !color {
        return text;
    }
    // Bold header and totals, dim model rows.
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let styled = match i {
            0 => format!("\x1b[1m{l}\x1b[0m"),
            1 => (*l).to_string(),
            n if n - 2 < dim.len() && dim[n - 2] => format!("\x1b[2m{l}\x1b[0m"),
            n if n == lines.len() - 1 => format!("\x1b[1m{l}\x1b[0m"),
            _ => (*l).to_string(),
        };
        out.push_str(&styled);
        out.push('\n');
    }
    out
}

/// Runs `telemetron report`.
pub fn report_command(settings: &Settings, args: &ReportArgs) -> Result<Exit, Failure> {
    let q = Query::from_args(args).or_exit(Exit::Config)?;
    if args.rebuild {
        crate::commands::rebuild::rebuild(settings).or_exit(Exit::Local)?;
    }
    // Only the months the days asked for can fall in (a day away either
    // side for the time zone).
    let month = |d: Option<Date>, days: i64, open: &str| {
        d.and_then(|d| d.checked_add(jiff::Span::new().days(days)).ok())
            .map_or_else(|| open.to_string(), |d| format!("{:04}-{:02}", d.year(), d.month()))
    };
    let range = (q.since.is_some() || q.until.is_some())
        .then(|| (month(q.since, -1, "0000-00"), month(q.until, 1, "9999-12")));
    let (rows, warnings) = load(&settings.state_dir, range);
    for w in &warnings {
        eprintln!("telemetron: warning: history: {w}");
    }
    let report = summarise(&rows, &q);
    let prices = crate::pricing::origin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let _ = write_json(&mut out, &report, &q, &prices);
    } else if report.is_empty() {
        eprintln!(
            "telemetron: no history in {}{} yet; `telemetron scan` records it (or `scan \
             --no-export` with no collector)",
            HistoryDir::new(&settings.state_dir).dir.display(),
            if args.since.is_some() || args.until.is_some() { " for those days" } else { "" }
        );
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = out.write_all(to_table(&report, color).as_bytes());
        let _ = writeln!(out, "days in {}; prices: {prices}", q.tz_name);
    }
    let _ = out.flush();
    Ok(if warnings.is_empty() { Exit::Ok } else { Exit::Partial })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::history::Key;

    fn q(period: Period, tz: &str) -> Query {
        Query {
            period,
            tz: TimeZone::get(tz).unwrap(),
            tz_name: tz.into(),
            since: None,
            until: None,
            packs: vec![],
            models: vec![],
        }
    }

    fn rows() -> Rows {
        // 2026-01-01T23:00Z and 2026-01-02T01:00Z.
        let h = 1_767_225_600 / 3600;
        let mut r = Rows::new();
        let k = |hour, model: &str| Key {
            hour,
            pack: "codex".into(),
            family: if model.is_empty() { String::new() } else { "openai".into() },
            model: model.into(),
        };
        r.insert(k(h + 23, "gpt-5"), [100, 0, 0, 10, 0, 2_000_000_000_000, 0, 0, 0, 0, 0, 0]);
        r.insert(k(h + 25, "gpt-5"), [1_000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        r.insert(k(h + 25, "other"), [7, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0]);
        r.insert(k(h + 25, ""), [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0]);
        r
    }

    #[test]
    fn days_follow_the_time_zone() {
        let utc = summarise(&rows(), &q(Period::Daily, "UTC"));
        assert_eq!(utc[&("2026-01-01".into(), 4, "gpt-5".into())][0], 100);
        assert_eq!(utc[&("2026-01-02".into(), 4, "gpt-5".into())][0], 1_000);
        // Two hours behind UTC, both hours are on January 1st.
        let west = summarise(&rows(), &q(Period::Daily, "America/Noronha"));
        assert_eq!(west[&("2026-01-01".into(), 4, "gpt-5".into())][0], 1_100);
        let month = summarise(&rows(), &q(Period::Monthly, "UTC"));
        assert_eq!(month[&("2026-01".into(), 4, "gpt-5".into())][0], 1_100);
        // 2026-01-01 is a Thursday: its week starts on Monday 2025-12-29.
        let week = summarise(&rows(), &q(Period::Weekly, "UTC"));
        assert_eq!(week[&("2025-12-29".into(), 4, "gpt-5".into())][0], 1_100);
    }

    #[test]
    fn the_json_contract() {
        let r = summarise(&rows(), &q(Period::Daily, "UTC"));
        let j = to_json(&r, &q(Period::Daily, "UTC"), "test prices");
        assert_eq!(j["period"], "daily");
        assert_eq!(j["rows"][0]["date"], "2026-01-01");
        assert_eq!(j["rows"][0]["cost_usd"], 2.0);
        let other = j["rows"].as_array().unwrap().iter().find(|r| r["model"] == "other").unwrap();
        assert!(other["cost_usd"].is_null(), "unpriced, never guessed");
        assert_eq!(other["unpriced_tokens"], 7);
        assert_eq!(j["activity"][0]["tool_calls"], 4);
        assert_eq!(j["totals"]["input"], 1_107);
        assert_eq!(j["totals"]["cost_usd"], 2.0);
        assert_eq!(j["totals"]["sessions"], 1);
        let keys: Vec<&str> =
            j["rows"][0].as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "date",
            "pack",
            "model",
            "input",
            "cache_read",
            "cache_write",
            "output",
            "reasoning",
            "cost_usd",
        ] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
    }

    #[test]
    fn the_streamed_json_is_the_json_form() {
        let r = summarise(&rows(), &q(Period::Daily, "UTC"));
        let mut b = Vec::new();
        write_json(&mut b, &r, &q(Period::Daily, "UTC"), "p").unwrap();
        let streamed: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(streamed, to_json(&r, &q(Period::Daily, "UTC"), "p"));
    }

    #[test]
    fn the_table_has_a_row_per_day_and_pack_models_under_it_and_totals() {
        let r = summarise(&rows(), &q(Period::Daily, "UTC"));
        let t = to_table(&r, false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("date"), "{t}");
        assert!(lines[2].starts_with("2026-01-01  codex"), "{t}");
        assert!(lines[3].contains("  gpt-5") && lines[3].contains("2.00"), "{t}");
        assert!(lines.last().unwrap().starts_with("total") && t.contains("1,107"), "{t}");
        assert!(t.contains("unpriced"), "{t}");
        assert!(!t.contains('\x1b'));
        assert!(to_table(&r, true).contains("\x1b[1m"));
    }

    #[test]
    fn bad_flags_say_what_is_accepted() {
        use clap::Parser;
        let args = |tz: Option<&str>, since: Option<&str>, pack: &str| {
            let mut argv = vec!["telemetron", "report"];
            for (flag, v) in [("--timezone", tz), ("--since", since), ("--pack", Some(pack))] {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    argv.extend([flag, v]);
                }
            }
            match crate::cli::Cli::try_parse_from(argv).unwrap().command {
                crate::cli::Command::Report(a) => a,
                _ => unreachable!(),
            }
        };
        let e = Query::from_args(&args(Some("Mars/Olympus"), None, "")).unwrap_err().to_string();
        assert!(e.contains("IANA"), "{e}");
        let e = Query::from_args(&args(None, Some("May 3rd"), "")).unwrap_err().to_string();
        assert!(e.contains("YYYY-MM-DD"), "{e}");
        let e = Query::from_args(&args(None, None, "cursor")).unwrap_err().to_string();
        assert!(e.contains("codex"), "{e}");
        let ok = Query::from_args(&args(Some("UTC"), Some("20260102"), "codex")).unwrap();
        assert_eq!(ok.since.unwrap().to_string(), "2026-01-02");
    }
}
