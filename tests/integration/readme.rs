//! The README's "What is sent" section is the real dry run of the demo
//! home: its figures (points, lines, bytes) are the ones a dry run prints,
//! and the table it points to (`docs/demo.md`) lists exactly the series and
//! values.

use std::collections::BTreeMap;

use crate::counting::DEMO;
use crate::util::{table, TestEnv};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// `docs/demo.md`, where the README's list of every series lives.
fn demo_doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/demo.md")).unwrap()
}

/// `metric{k=v,...}` with the attributes sorted, so tables that list them
/// in different orders compare equal.
fn normalised(series: &str) -> String {
    let (metric, attrs) = series.split_once('{').unwrap();
    let mut pairs: Vec<&str> = attrs.trim_end_matches('}').split(',').collect();
    pairs.sort_unstable();
    format!("{metric}{{{}}}", pairs.join(","))
}

/// The rows of the "What is sent" table as series → value.
fn readme_table(text: &str) -> BTreeMap<String, i64> {
    let start =
        text.find("| metric | attributes (besides `pack`) | `pack` | value |").expect("the table");
    text[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let [metric, attrs, pack, value] = cells[..] else { panic!("row {row}") };
            let mut pairs = vec![format!("pack={pack}")];
            if attrs != "—" {
                pairs.extend(attrs.split(", ").map(str::to_string));
            }
            let series = format!("{}{{{}}}", metric.trim_matches('`'), pairs.join(","));
            (normalised(&series), value.parse().unwrap())
        })
        .collect()
}

/// The number in `text` right after `prefix` (digits and commas).
fn number_after(text: &str, prefix: &str) -> u64 {
    let at = text.find(prefix).unwrap_or_else(|| panic!("README: no {prefix:?}")) + prefix.len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| *c != ',')
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn the_readme_shows_the_real_dry_run_of_the_demo_home() {
    let text = readme();
    let doc = demo_doc();
    let mut want: BTreeMap<String, i64> =
        table(DEMO).into_iter().map(|(k, v)| (normalised(&k), v)).collect();
    want.insert("pack.emitter.heartbeat{pack=telemetron}".into(), 1);
    let got = readme_table(&doc);
    assert_eq!(got, want, "docs/demo.md's table differs from the demo home's counts");
    assert_eq!(number_after(&doc, "Every series and value of that payload ("), want.len() as u64);
    assert_eq!(number_after(&text, "Every series and value of that payload ("), want.len() as u64);

    let env = TestEnv::with_demo_home();
    let run = env.scan(&["--dry-run"]);
    run.expect_code(0);
    assert_eq!(number_after(&text, "The full pretty JSON\nis "), run.stdout.lines().count() as u64);
    let bytes = number_after(&run.stderr, "sent as application/x-protobuf, ");
    assert_eq!(number_after(&text, "sent as application/x-protobuf, "), bytes, "{}", run.stderr);
}

#[test]
fn the_readme_table_parser_reads_rows_and_the_empty_cell() {
    let text = "x\n| metric | attributes (besides `pack`) | `pack` | value |\n|---|---|---|---:|\n\
                | `pack.error` | error.type=tool | pi | 3 |\n| `pack.emitter.heartbeat` | — | telemetron | 1 |\n\nafter";
    let got = readme_table(text);
    assert_eq!(got.get("pack.error{error.type=tool,pack=pi}"), Some(&3));
    assert_eq!(got.get("pack.emitter.heartbeat{pack=telemetron}"), Some(&1));
    assert_eq!(got.len(), 2);
}
