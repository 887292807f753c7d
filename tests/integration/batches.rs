//! A run over a backlog of more files with new data than
//! `--max-batch-files` sends it as several batches in a row, each read,
//! sent and committed before the next (so that what a run holds for the
//! files it reads is bounded by the batch). Every count is delivered once,
//! whatever fails between batches.

use crate::counting::{one_pi_prompt, pi_user_line, DEMO, PI_FILE};
use crate::faults::dedup_total;
use crate::util::{table, without_heartbeat, Receiver, Reply, TestEnv};

/// The demo home's counts, without the heartbeat.
fn demo() -> std::collections::BTreeMap<String, i64> {
    without_heartbeat(table(DEMO))
}

/// How many batches the demo home's first run takes with `--max-batch-files 4`
/// (its files with new data, four a batch; copies of one another go in one).
fn batches_of(stderr: &str) -> usize {
    stderr.matches("telemetron: sent ").count()
}

#[test]
fn a_backlog_is_sent_in_batches_each_committed_before_the_next() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    let run = env.scan(&["--endpoint", &rx.url, "--max-batch-files", "4"]);
    run.expect_code(0);
    let n = rx.requests().len();
    assert!(n >= 5, "the demo home's files take several batches: {n}\n{}", run.stderr);
    assert_eq!(batches_of(&run.stderr), n, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("batch {n} of this run")), "{}", run.stderr);
    assert!(run.stderr.contains("more file(s) with new data go in the next batch"));
    // Every count once, and one heartbeat a batch (each is a run of its own).
    let got = dedup_total(&rx.requests());
    assert_eq!(without_heartbeat(got.clone()), demo());
    assert_eq!(got["pack.emitter.heartbeat{pack=telemetron}"], n as i64);
    // The last batch's commit covers every file (the state says so): the
    // next run loads nothing and sends its heartbeat alone.
    let state = String::from_utf8(env.state_file("state.json").unwrap()).unwrap();
    assert!(state.contains("\"unchanged\""), "{state}");
    let run = env.scan(&["--endpoint", &rx.url, "--max-batch-files", "4"]);
    run.expect_code(0);
    assert_eq!(batches_of(&run.stderr), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("batch "), "{}", run.stderr);
    let last = crate::util::flatten(&rx.requests()[n].decode());
    assert_eq!(without_heartbeat(last), Default::default());
    // One batch or many, the same counts (in the same home's copy).
    let one = TestEnv::with_demo_home();
    let rx1 = Receiver::start();
    one.scan(&["--endpoint", &rx1.url]).expect_code(0);
    assert_eq!(rx1.requests().len(), 1);
    assert_eq!(without_heartbeat(dedup_total(&rx1.requests())), demo());
}

#[test]
fn a_batch_that_cannot_be_sent_ends_the_run_and_the_next_run_goes_on() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    // The first batch is acknowledged, the second never.
    rx.script([Reply::status(200)].into_iter().chain(std::iter::repeat_n(Reply::status(503), 50)));
    let args = ["--endpoint", &rx.url, "--max-batch-files", "4", "--retry-max-time", "1s"];
    let run = env.scan(&args);
    run.expect_code(3);
    assert_eq!(batches_of(&run.stderr), 1, "{}", run.stderr);
    // Only the first batch's counts arrived; the second waits, pending.
    let first = dedup_total(&rx.requests()[..1]);
    assert!(without_heartbeat(first.clone()) != demo() && !first.is_empty());
    assert!(env.state_file("pending.json").is_some(), "the unsent batch is kept");
    // The collector is back (a new one: the first still answers 503).
    let rx2 = Receiver::start();
    let args = ["--endpoint", &rx2.url, "--max-batch-files", "4"];
    let run = env.scan(&args);
    run.expect_code(0);
    assert!(run.stderr.contains("re-sent unacknowledged batch"), "{}", run.stderr);
    // (The refused sends were the same body as the one re-sent: a backend
    // stores each point once.)
    let all: Vec<_> = rx.requests().into_iter().chain(rx2.requests()).collect();
    assert_eq!(without_heartbeat(dedup_total(&all)), demo());
}

#[test]
fn with_lost_positions_every_batch_takes_files_up_from_their_end() {
    let env = TestEnv::with_demo_home();
    let rx = Receiver::start();
    env.scan(&["--endpoint", &rx.url]).expect_code(0);
    for f in ["positions.bin", "positions.bak.bin"] {
        std::fs::write(env.state_dir().join(f), "garbage").unwrap();
    }
    // The first batch's commit makes new positions; the later batches of
    // the same run still take their files up from their end.
    let run = env.scan(&["--endpoint", &rx.url, "--max-batch-files", "4"]);
    run.expect_code(0);
    assert!(run.stderr.contains("current end"), "{}", run.stderr);
    assert!(batches_of(&run.stderr) > 2, "{}", run.stderr);
    env.append(PI_FILE, &(pi_user_line(7) + "\n"));
    env.scan(&["--endpoint", &rx.url, "--max-batch-files", "4"]).expect_code(0);
    let mut want = demo();
    for (k, v) in without_heartbeat(one_pi_prompt()) {
        *want.entry(k).or_insert(0) += v;
    }
    assert_eq!(without_heartbeat(dedup_total(&rx.requests())), want, "history once, new line once");
}
