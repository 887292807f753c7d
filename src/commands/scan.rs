//! `telemetron scan`: one complete run.
//!
//! lock → load state → re-send a batch left in flight → discover → scan →
//! build the batch → record it as pending → send → commit. Every step that
//! can fail says which file or endpoint and what to do; nothing is
//! committed unless the collector acknowledged the batch.

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use fs2::FileExt;

use crate::commands::human_bytes;
use crate::commands::{Failure, OrExit};
use crate::config::{Compression, Encoding, Settings, Temporality};
use crate::exit::Exit;
use crate::export::encode::{self, ResourceInfo};
use crate::export::http::{self, Target};
use crate::metrics::{Counts, Series};
use crate::pipeline::batch;
use crate::pipeline::count::{self as scan, ScanOptions};
use crate::pipeline::discover::{self, Place};
use crate::state::install_id;
use crate::state::{Pending, State, StateDir};
use crate::time::now_unix_nano;

/// What a run learned that `status.json` records.
#[derive(Debug, Default)]
struct RunInfo {
    /// True once the run holds the lock (only such runs are recorded).
    locked: bool,
    /// The status of the last HTTP answer.
    http_status: Option<u16>,
}

/// How a scan ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send the batch; commit once acknowledged.
    Export,
    /// Print the batch; send and write nothing.
    DryRun,
    /// Commit the batch (positions and history) without sending it.
    NoExport,
}

/// What the batches of one run carry from one to the next (a run over a
/// backlog of more than `max_batch_files` files with new data sends it as
/// several batches in a row; see [`scan::Batch`]).
#[derive(Default)]
struct Batches {
    /// The files the first batch found: the later ones read the rest of
    /// the same list.
    found: Option<discover::Found>,
    /// Where the next batch starts in that list.
    first: usize,
    /// What the files of the list begin with (see [`scan::Keys::heads`]).
    heads: std::sync::OnceLock<(usize, Vec<u64>)>,
    /// The batches sent so far.
    sent: usize,
    /// The lock the first batch took, held until the last is committed.
    lock: Option<std::fs::File>,
    /// An earlier batch warned (of a file, or of a directory it found).
    warned: bool,
    /// The files are taken up from their end: the positions were lost
    /// when the run began (the first batch's commit made new ones).
    at_end: bool,
}

/// Runs one scan (as many batches as its backlog needs), and records how
/// it ended for `telemetron status`.
pub fn scan_command(settings: &Settings, mode: Mode) -> Result<Exit, Failure> {
    crate::memory::tune_allocator();
    let mut info = RunInfo::default();
    let mut batches = Batches::default();
    let mut exit = Exit::Ok;
    let result = loop {
        match scan(settings, mode, &mut info, &mut batches) {
            // Files left for another batch, and this one went well (a
            // file that could not be read is not read again this run).
            Ok((e, true)) if e <= Exit::Partial => {
                exit = exit.max(e);
                crate::memory::give_back_freed();
            }
            Ok((e, _)) => break Ok(exit.max(e)),
            Err(f) => break Err(f),
        }
    };
    if info.locked {
        let dir = StateDir::new(&settings.state_dir);
        match &result {
            Ok(exit) => crate::commands::status::record(&dir, *exit, info.http_status, None),
            Err(f) => crate::commands::status::record(
                &dir,
                f.exit,
                info.http_status,
                Some(format!("{:#}", f.error)),
            ),
        }
    }
    result
}

/// One batch of a scan: lock, load, re-send, discover (the first batch),
/// scan, build, send, commit. Returns how it ended, and whether files
/// with new data are left for another batch.
fn scan(
    settings: &Settings,
    mode: Mode,
    info: &mut RunInfo,
    batches: &mut Batches,
) -> Result<(Exit, bool), Failure> {
    let started = Instant::now();
    let dry_run = mode == Mode::DryRun;
    let dir = StateDir::new(&settings.state_dir);
    let target = match mode {
        Mode::Export => Some(Some(target(settings).or_exit(Exit::Config)?)),
        Mode::NoExport => Some(None),
        Mode::DryRun => None,
    };
    let held = batches.lock.take();
    let lock = if dry_run || held.is_some() {
        held
    } else {
        match lock(&dir).or_exit(Exit::Local)? {
            Some(l) => {
                info.locked = true;
                Some(l)
            }
            None => {
                eprintln!(
                    "telemetron: another scan holds {}; nothing to do",
                    dir.lock_path().display()
                );
                return Ok((Exit::Ok, false));
            }
        }
    };
    if !dry_run {
        let n = dir.remove_stray_temp_files();
        if n > 0 {
            eprintln!(
                "telemetron: removed {n} temp file(s) left in {} by an interrupted run",
                dir.dir.display()
            );
        }
    }
    let now = now_unix_nano();
    // Listing the session files and loading the positions are the two
    // costs of a run with little new data. The session files first: when
    // they are exactly as the last run left them, the positions need not
    // even be loaded (and when they must be, they are parsed on the scan's
    // threads).
    let pool = rayon::ThreadPoolBuilder::new().num_threads(settings.threads).build();
    let in_pool = |f: &mut (dyn FnMut() + Send)| match &pool {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    };
    // (A later batch goes on in the list the first one found.)
    let mut found = batches.found.take().unwrap_or_else(|| {
        let (places, mut found) = (places(settings), discover::Found::default());
        in_pool(&mut || found = discover::discover_listed(&places));
        found
    });
    let fingerprint = found.fingerprint();
    // Nothing is loaded when the files are found as the last run left
    // them, and the files found stay as listed (their fingerprint is all
    // such a run needs of them). Else the positions of files found
    // exactly as they were left are left out: only what other files may
    // need of them is kept.
    let mut loaded = None;
    if dir.unchanged_since(fingerprint) {
        in_pool(&mut || {
            loaded = Some(dir.load_unless_unchanged(now, !dry_run, Some(fingerprint), None))
        });
    }
    if loaded.is_none() {
        // The files as listed are looked up as the positions load, and
        // only those not found as they were left are made sources: when
        // this batch is the run's only one, the others are let go (their
        // keys are read from the positions when needed).
        let one_batch =
            |others| batches.first == 0 && (dry_run || others <= settings.max_batch_files);
        loaded = scan::load_leaving_out(
            &mut found,
            |leave| {
                let mut l = None;
                in_pool(&mut || {
                    l = Some(dir.load_unless_unchanged(
                        now,
                        !dry_run,
                        Some(fingerprint),
                        Some(leave),
                    ))
                });
                l.expect("loaded")
            },
            |l| l.as_mut().ok()?.state.skipped.as_mut(),
            one_batch,
        );
    }
    if !loaded.as_ref().is_some_and(|l| l.as_ref().is_ok_and(|l| l.state.files_unloaded)) {
        found.materialize();
    }
    // (The keys borrow the paths; their index is made only if needed.)
    let keys = scan::keys_of(&found.sources);
    let by_key = std::sync::OnceLock::new();
    let leave = |k: &str, st: &crate::state::FileState| {
        let by_key = by_key.get_or_init(|| scan::key_index(&keys));
        let i = by_key.get(k)?;
        let found_as_left = st.missing_since_unix_nano.is_none()
            && scan::unchanged(st, &found.sources[i as usize].meta);
        found_as_left.then_some(i)
    };
    if loaded.is_none() {
        in_pool(&mut || {
            loaded = Some(dir.load_unless_unchanged(now, !dry_run, Some(fingerprint), Some(&leave)))
        });
    }
    drop(pool);
    let loaded = loaded.expect("loaded").or_exit(Exit::Local)?;
    for msg in &loaded.recovered {
        eprintln!("telemetron: warning: state: {msg}");
    }
    let mut state = loaded.state;
    let mut exit = Exit::Ok;
    if !dry_run {
        // A history that holds a batch the state never acknowledged, and
        // that no pending batch brings again, gives it back.
        crate::state::history::HistoryDir::new(&dir.dir)
            .settle(
                state.created_unix_nano,
                state.last_ack_seq,
                loaded.pending.as_ref().map(|p| p.seq),
            )
            .or_exit(Exit::Local)?;
    }
    if loaded.first_run {
        import_go_offsets(settings, &dir, &mut state);
    }
    let (install_id, stored) =
        install_id::load_or_create(&dir.install_id_path(), !dry_run).or_exit(Exit::Local)?;
    if !stored {
        eprintln!(
            "telemetron: no install id yet; showing a random one (the first real run creates and \
             keeps its own)"
        );
    }
    let resource = ResourceInfo { install_id, declared: settings.declared.clone() };

    if let Some(p) = loaded.pending {
        match &target {
            None => {
                eprintln!(
                    "telemetron: batch #{} from an earlier run is still unacknowledged; a real run \
                     sends it again first:",
                    p.seq
                );
                print_dry_run(settings, &p, &resource);
                eprintln!("telemetron: and then the new counts:");
                state.apply_owned(p);
            }
            Some(t) => {
                let d = deliver(
                    settings,
                    t.as_ref(),
                    &p,
                    &resource,
                    "re-sent unacknowledged batch",
                    info,
                )?;
                exit = exit.max(settle(&mut state, p, d));
                dir.commit(&mut state).or_exit(Exit::Local)?;
            }
        }
    }

    batches.at_end |= loaded.start_at_end;
    let mut opts = scan_options(settings, now, batches.at_end);
    if !dry_run {
        // A dry run commits nothing a next batch could go on from.
        opts.batch = scan::Batch { max_files: settings.max_batch_files, first: batches.first };
    }
    // Records that agents copy across files are settled against the
    // table of what was counted before (loaded only when needed), file by
    // file in path order as the scan goes.
    let today = crate::state::claims::day_of(now);
    let mut seen: Option<crate::state::claims::Seen> = None;
    let mut settled = Counts::default();
    let mut settle_claims = |claims: crate::state::claims::Claims| {
        let seen = seen.get_or_insert_with(|| {
            let mut recovered = Vec::new();
            let seen = dir.load_seen(state.promote_seen, &mut recovered);
            for msg in &recovered {
                eprintln!("telemetron: warning: state: {msg}");
            }
            seen
        });
        crate::state::claims::resolve(&claims, seen, &mut settled, today);
    };
    let mut scanned = if state.files_unloaded {
        scan::ScanOutput::default()
    } else {
        scan::scan_known(
            &found.sources,
            scan::Keys { list: &keys, index: &by_key, heads: &batches.heads },
            &found.stores,
            &state.files,
            state.skipped.as_ref(),
            &opts,
            &mut settle_claims,
        )
    };
    crate::failpoint::hit("after-scan");
    if let Some((sk, why)) = state.skipped.as_ref().and_then(|sk| Some((sk, sk.reread_failed()?))) {
        // Counted without how far the sessions of the files left out went,
        // or without the entry a copy continues, a copied session or file
        // could count again: nothing is sent.
        return Err(anyhow::anyhow!(
            "{} {why}: what its files counted could not be read again; this run's new counts \
             were not sent; run again",
            sk.path.display()
        ))
        .or_exit(Exit::Local);
    }
    let mut warnings = std::mem::take(&mut found.warnings);
    warnings.append(&mut scanned.warnings);
    for w in &warnings {
        eprintln!("telemetron: warning: {w}");
    }
    let (bytes, files_read) = (scanned.bytes_read, scanned.files_read);
    let next_batch = scanned.next_batch;
    let mut counts: Counts = std::mem::take(&mut scanned.counts);
    counts.merge(settled);
    if let Some(seen) = seen.as_mut() {
        seen.prune(today);
    }
    counts.incr(Series::Heartbeat);
    // The window ends now, after the scan: on a first run it then spans
    // the scan instead of being a zero-length point.
    let mut pending = batch::build(&state, &counts, scanned, settings.temporality, now_unix_nano());
    pending.seen = seen.as_ref().is_some_and(|s| s.dirty);
    // The batch holds what the counts said (points and hourly rows): a
    // first run's counts by the hour need not stay through the commit.
    drop(counts);
    // Nor does what the scan freed stay with glibc: the commit's writers
    // and the history's months are new memory (a first run over 100,000
    // files: 75 MiB at its peak instead of 79).
    crate::memory::give_back_freed();

    let Some(target) = target else {
        print_dry_run(settings, &pending, &resource);
        return Ok((Exit::Ok, false));
    };
    if let Some(seen) = seen.filter(|s| s.dirty) {
        dir.write_seen_next(&seen, pending.seq).or_exit(Exit::Local)?;
    }
    dir.write_pending(&pending).or_exit(Exit::Local)?;
    let mut what = format!(
        "{} file(s) with new data, {} read in {} ms",
        files_read,
        human_bytes(bytes),
        started.elapsed().as_millis()
    );
    if next_batch.is_some() || batches.sent > 0 {
        what = format!("batch {} of this run: {what}", batches.sent + 1);
    }
    if let Some((_, left)) = next_batch {
        what.push_str(&format!("; {left} more file(s) with new data go in the next batch"));
    }
    let d = deliver(settings, target.as_ref(), &pending, &resource, &what, info)?;
    exit = exit.max(settle(&mut state, pending, d));
    batches.warned |= !warnings.is_empty();
    if !state.files_unloaded {
        state.covered = (!batches.warned && covers(&state, &found, &keys)).then_some(fingerprint);
    }
    dir.commit(&mut state).or_exit(Exit::Local)?;
    if !warnings.is_empty() {
        exit = exit.max(Exit::Partial);
    }
    if let Some((first, _)) = next_batch {
        // The next batch loads what this one committed; the files found
        // are kept for it.
        drop(state);
        batches.found = Some(found);
        batches.lock = lock;
        batches.first = first;
        batches.sent += 1;
        return Ok((exit, true));
    }
    // The process ends right after: freeing every file's state one by one
    // would only delay that.
    std::mem::forget(state);
    Ok((exit, false))
}

/// True when the positions cover every session file exactly as found:
/// then a next run that finds the same has nothing to read.
fn covers(state: &State, found: &discover::Found, keys: &scan::KeyList) -> bool {
    let n = found.sources.len();
    let left_out = state.skipped.as_ref().map_or_else(|| vec![false; n], |sk| sk.left_out(n));
    let covered = |key: &str, s: &discover::Source| {
        state
            .files
            .get(key)
            .is_some_and(|f| scan::unchanged(f, &s.meta) && f.missing_since_unix_nano.is_none())
    };
    found.sources.iter().zip(keys.iter()).zip(left_out).all(|((s, k), left)| left || covered(k, s))
        && found.stores.iter().all(|s| covered(&scan::key_of(&s.path), s))
}

/// Applies a delivered or refused batch to the state and says how the run
/// ends so far. A refused batch is dropped (the collector will never
/// accept it, and keeping it would wedge every later run) and recorded.
fn settle(state: &mut State, p: Pending, d: Delivery) -> Exit {
    let points = p.points.len() as u64;
    state.apply_owned(p);
    match d {
        Delivery::Acked { rejected } => {
            state.dropped_points = state.dropped_points.saturating_add(rejected);
            Exit::Ok
        }
        Delivery::Refused => {
            state.dropped_points = state.dropped_points.saturating_add(points);
            state.dropped_batches += 1;
            Exit::Dropped
        }
    }
}

/// Imports the Go predecessor's offsets on a first run, so that history it
/// already sent is not sent again: the files a migrated config names, and
/// its default `<mode>.state.json` files in the state directory.
fn import_go_offsets(settings: &Settings, dir: &StateDir, state: &mut State) {
    let mut sources = settings.legacy_state_files.clone();
    for pack in ["openclaw", "roundhouse"] {
        sources.push((pack.to_string(), dir.dir.join(format!("{pack}.state.json"))));
    }
    for (pack, path) in sources {
        let Some(offsets) = crate::state::go_import::read_offsets(&path) else { continue };
        let imported = crate::state::go_import::imported_states(&pack, &offsets);
        let n = imported.len();
        for (k, v) in imported {
            state.files.entry(k).or_insert(v);
        }
        state.files_dirty = true;
        eprintln!(
            "telemetron: imported {n} file offset(s) of the Go telemetron from {}: what it \
             already sent is not sent again",
            path.display()
        );
    }
}

/// Takes the run lock; `Ok(None)` when another run holds it.
pub(crate) fn lock(dir: &StateDir) -> anyhow::Result<Option<std::fs::File>> {
    crate::state::private_dir(&dir.dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create state directory {}: {e}; set state_dir (or TELEMETRON_STATE_DIR) to a \
             writable directory",
            dir.dir.display()
        )
    })?;
    let path = dir.lock_path();
    let f = {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
    }
    .map_err(|e| anyhow::anyhow!("lock file {}: {e}", path.display()))?;
    match f.try_lock_exclusive() {
        Ok(()) => Ok(Some(f)),
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => Ok(None),
        Err(e) => Err(anyhow::anyhow!("lock file {}: {e}", path.display())),
    }
}

/// How a run reads its sources, from the settings.
pub(crate) fn scan_options(settings: &Settings, now: u64, new_files_at_end: bool) -> ScanOptions {
    ScanOptions {
        max_line_bytes: usize::try_from(settings.max_line_bytes).unwrap_or(usize::MAX),
        chunk_bytes: 1 << 20,
        threads: settings.threads,
        now,
        new_files_at_end,
        batch: scan::Batch::ALL,
    }
}

/// The places to scan, from the settings.
pub fn places(settings: &Settings) -> Vec<Place> {
    let env = |k: &str| {
        if settings.home_override {
            None
        } else {
            std::env::var(k).ok()
        }
    };
    let mut out = Vec::new();
    for p in settings.packs.iter().filter(|p| p.enabled) {
        match &p.paths {
            Some(paths) => out.extend(paths.iter().map(|root| Place {
                pack: p.pack,
                root: root.clone(),
                layout: discover::Layout::Tree,
            })),
            None => out.extend(discover::default_places(p.pack, &settings.home, &env)),
        }
    }
    out
}

/// Warns, as ssh does for a private key, when a token file can be read by
/// its group or by others.
fn warn_if_exposed(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "telemetron: warning: token file {} is readable by group or others (mode {:o}); \
                 run `chmod 600 {}`",
                path.display(),
                m.permissions().mode() & 0o777,
                path.display()
            );
        }
    }
}

/// Builds the HTTP target: endpoint, token and headers.
fn target(settings: &Settings) -> anyhow::Result<Target> {
    let url = settings.require_endpoint()?.to_string();
    let token = match &settings.token_file {
        None => None,
        Some(path) => {
            let raw = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!(
                    "token file {}: {e}; fix token_file in the config or TELEMETRON_TOKEN_FILE",
                    path.display()
                )
            })?;
            let t = http::sanitize_token(&raw);
            if t.is_empty() {
                anyhow::bail!("token file {} is empty", path.display());
            }
            warn_if_exposed(path);
            Some(t)
        }
    };
    let mut headers = settings.header_values.clone();
    for (name, var) in &settings.headers {
        let v = std::env::var(var).map_err(|_| {
            anyhow::anyhow!("headers: `{name}` takes its value from ${var}, which is not set")
        })?;
        headers.push((name.clone(), v));
    }
    let env = |k: &str| std::env::var(k).ok();
    let proxy = crate::export::network::proxy_for(&url, settings.proxy.as_deref(), &env);
    let mut warnings = Vec::new();
    let tls = crate::export::network::tls_config(&settings.tls, &mut warnings)?;
    for w in warnings {
        eprintln!("telemetron: warning: {w}");
    }
    Ok(Target {
        proxy,
        tls: Some(tls),
        url,
        token,
        headers,
        timeout: settings.timeout,
        retry_budget: settings.retry_max_time,
    })
}

/// The body of a request as sent: encoded, then maybe compressed.
pub fn body_of(
    settings: &Settings,
    req: &crate::export::proto::ExportMetricsServiceRequest,
) -> Vec<u8> {
    let body = encode::encode(req, settings.encoding);
    match settings.compression {
        Compression::None => body,
        Compression::Gzip => encode::gzip(&body),
    }
}

/// The OTLP request of a batch.
fn request_of(
    p: &Pending,
    resource: &ResourceInfo,
) -> crate::export::proto::ExportMetricsServiceRequest {
    let temporality =
        if p.temporality == "cumulative" { Temporality::Cumulative } else { Temporality::Delta };
    encode::build_request(&p.points, temporality, p.time_unix_nano, resource)
}

/// How a batch ended, when it did not fail in a way that keeps it.
enum Delivery {
    /// A 2xx; `rejected` points the collector said it refused.
    Acked { rejected: u64 },
    /// A status saying the collector will never accept this batch.
    Refused,
}

/// Statuses that mean the collector will never accept this body: the batch
/// is dropped (and recorded) rather than retried forever.
fn refused_for_good(status: u16) -> bool {
    matches!(status, 400 | 413 | 422)
}

/// Sends a batch. Failures that may heal (network, overload, auth and
/// endpoint configuration, server errors) keep the batch pending and fail
/// the run; a refusal for good is returned as [`Delivery::Refused`].
fn deliver(
    settings: &Settings,
    target: Option<&Target>,
    p: &Pending,
    resource: &ResourceInfo,
    what: &str,
    info: &mut RunInfo,
) -> Result<Delivery, Failure> {
    let Some(target) = target else {
        eprintln!(
            "telemetron: recorded {} point(s) locally ({what}); --no-export: nothing was sent",
            p.points.len()
        );
        return Ok(Delivery::Acked { rejected: 0 });
    };
    let body = body_of(settings, &request_of(p, resource));
    let gzip = settings.compression == Compression::Gzip;
    let sent = http::send(target, &body, encode::content_type(settings.encoding), gzip);
    info.http_status = match &sent {
        Ok(ack) => Some(ack.status),
        Err(e) => e.status(),
    };
    match sent {
        Ok(ack) => {
            crate::failpoint::hit("after-ack");
            eprintln!(
                "telemetron: sent {} point(s), {} ({}) → HTTP {}",
                p.points.len(),
                human_bytes(body.len() as u64),
                what,
                ack.status
            );
            if ack.rejected_points > 0 || ack.message.is_some() {
                eprintln!(
                    "telemetron: warning: {} rejected {} point(s){}; not retried",
                    target.url,
                    ack.rejected_points,
                    ack.message.map(|m| format!(": {m}")).unwrap_or_default()
                );
            }
            Ok(Delivery::Acked { rejected: u64::try_from(ack.rejected_points).unwrap_or(0) })
        }
        Err(e) if e.status().is_some_and(refused_for_good) => {
            eprintln!(
                "telemetron: error: {} refused batch #{} for good: {e}; its {} point(s) are \
                 dropped and recorded in the state (a collector never accepts a body it \
                 rejected once, and keeping it would block every later run)",
                target.url,
                p.seq,
                p.points.len()
            );
            Ok(Delivery::Refused)
        }
        Err(e) => Err(Failure {
            exit: Exit::ExportFailed,
            error: anyhow::anyhow!(
                "export to {} failed: {e}; batch #{} is kept and sent again by the next run",
                target.url,
                p.seq
            ),
        }),
    }
}

/// Prints what a real run would send: the JSON body itself, or for
/// protobuf the OTLP/JSON rendering of the same message plus the body's
/// size and SHA-256.
fn print_dry_run(settings: &Settings, p: &Pending, resource: &ResourceInfo) {
    let req = request_of(p, resource);
    let json = encode::to_json(&req);
    let body = body_of(settings, &req);
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(&json);
    let _ = out.flush();
    let ct = encode::content_type(settings.encoding);
    let enc = match settings.compression {
        Compression::Gzip => ", Content-Encoding: gzip",
        Compression::None => "",
    };
    // On a terminal, what the batch holds, for people (stdout stays the
    // exact body).
    if std::io::stderr().is_terminal() {
        eprint!("{}", crate::commands::table::batch_summary(&p.points));
    }
    match (settings.encoding, settings.compression) {
        (Encoding::Json, Compression::None) => {
            eprintln!("telemetron: dry run: the body above is sent as is ({ct}); nothing was sent")
        }
        _ => eprintln!(
            "telemetron: dry run: sent as {ct}{enc}, {} bytes, sha256 {}; nothing was sent",
            body.len(),
            encode::sha256_hex(&body)
        ),
    }
}
