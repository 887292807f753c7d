//! The `agents` stage: the twelve agents of usage records (issue #15).
//!
//! One seeded generator per format writes a home of about `--agent-size`
//! bytes (default 64 MiB) in the agent's own storage — JSONL files, JSON
//! documents, SQLite databases (with protobuf rows for Antigravity) — and
//! returns the exact totals a correct scanner must report: turns and every
//! token type. Each is read cold by `telemetron scan --dry-run` (totals
//! asserted) side by side with `ccusage <agent> session --json --offline`
//! on the same home, whose token totals are asserted too (input, cache
//! read, cache write, and output with reasoning together; Qwen Code's input
//! as ccusage counts it, cached input included). Without ccusage the cold
//! reads are measured alone.

use super::stores::{cold, side_by_side, Side};
use super::*;
use corpus::common::Rng;

/// One turn's tokens: input (not cached), cache read, cache write,
/// output (reasoning excluded), reasoning.
#[derive(Clone, Copy, Default)]
struct Tok([u64; 5]);

impl Tok {
    fn draw(rng: &mut Rng, cache_write: bool, reasoning: bool) -> Tok {
        Tok([
            100 + rng.below(4000),
            rng.below(30_000),
            if cache_write { rng.below(3000) } else { 0 },
            20 + rng.below(1500),
            if reasoning { rng.below(600) } else { 0 },
        ])
    }
}

/// What a generator wrote.
#[derive(Default)]
struct Gen {
    bytes: u64,
    sessions: u64,
    turns: u64,
    tokens: [u64; 5],
}

impl Gen {
    fn turn(&mut self, t: Tok) {
        self.turns += 1;
        for (a, b) in self.tokens.iter_mut().zip(t.0) {
            *a += b;
        }
    }
}

/// Text padding of `lo` bytes and up to `spread` more (what transcripts
/// carry besides usage).
fn pad(rng: &mut Rng, lo: u64, spread: u64) -> String {
    let n = lo + rng.below(spread);
    let words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"];
    let mut s = String::with_capacity(n as usize + 16);
    while (s.len() as u64) < n {
        s.push_str(words[rng.below(words.len() as u64) as usize]);
        s.push(' ');
    }
    s
}

fn write(path: &Path, bytes: &[u8], g: &mut Gen) -> Res<()> {
    fs::create_dir_all(path.parent().expect("a parent"))?;
    fs::write(path, bytes)?;
    g.bytes += bytes.len() as u64;
    Ok(())
}

fn db(path: &Path, schema: &str) -> Res<rusqlite::Connection> {
    fs::create_dir_all(path.parent().expect("a parent"))?;
    let _ = fs::remove_file(path);
    let c = rusqlite::Connection::open(path)?;
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")?;
    c.execute_batch(schema)?;
    Ok(c)
}

fn finish_db(c: rusqlite::Connection, path: &Path, g: &mut Gen) -> Res<()> {
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(c);
    g.bytes += fs::metadata(path)?.len();
    Ok(())
}

/// Writes sessions (`one` writes the `f`th into `g`) until `size` bytes
/// are written.
fn sessions(size: u64, mut one: impl FnMut(u64, &mut Gen) -> Res<()>) -> Res<Gen> {
    let mut g = Gen::default();
    let mut f = 0u64;
    while g.bytes < size {
        one(f, &mut g)?;
        f += 1;
        g.sessions += 1;
    }
    Ok(g)
}

/// Turns per session.
const TURNS: u64 = 40;

fn opencode(home: &Path, rng: &mut Rng, size: u64, kilo: bool) -> Res<Gen> {
    let path = if kilo {
        home.join(".local/share/kilo/kilo.db")
    } else {
        home.join(".local/share/opencode/opencode.db")
    };
    let mut c = db(
        &path,
        "CREATE TABLE session (id TEXT PRIMARY KEY, parent_id TEXT, title TEXT);
         CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, time_updated INTEGER, data TEXT);
         CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT, session_id TEXT, data TEXT);",
    )?;
    let mut g = Gen::default();
    let tx = c.transaction()?;
    let mut written = 0u64;
    let mut s = 0u64;
    while written < size {
        let sid = format!("ses_{s:08}");
        tx.execute("INSERT INTO session VALUES (?1, NULL, 'bench')", [&sid])?;
        for i in 0..TURNS {
            let t0 = EPOCH_2026_MS + s * 3_600_000 + i * 10_000;
            let user = json!({"id": format!("msg_{s}_u{i}"), "sessionID": sid, "role": "user",
                "time": {"created": t0}, "summary": {"body": pad(rng, 300, 1500)}})
            .to_string();
            let t = Tok::draw(rng, true, true);
            g.turn(t);
            let [i_, cr, cw, o, r] = t.0;
            let asst = json!({"id": format!("msg_{s}_a{i}"), "sessionID": sid, "role": "assistant",
                "time": {"created": t0 + 1, "completed": t0 + 900}, "modelID": "claude-sonnet-4-5",
                "providerID": "anthropic", "tokens": {"input": i_, "output": o, "reasoning": r,
                "cache": {"read": cr, "write": cw}, "total": i_ + o + r + cr + cw}})
            .to_string();
            let part =
                json!({"id": format!("prt_{s}_{i}"), "type": "text", "text": pad(rng, 200, 2000)})
                    .to_string();
            written += (user.len() + asst.len() + part.len()) as u64;
            for (id, d) in [(format!("msg_{s}_u{i}"), user), (format!("msg_{s}_a{i}"), asst)] {
                tx.execute(
                    "INSERT INTO message VALUES (?1, ?2, 0, 0, ?3)",
                    rusqlite::params![id, sid, d],
                )?;
            }
            tx.execute(
                "INSERT INTO part VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![format!("prt_{s}_{i}"), format!("msg_{s}_a{i}"), sid, part],
            )?;
        }
        s += 1;
        g.sessions += 1;
    }
    tx.commit()?;
    finish_db(c, &path, &mut g)?;
    Ok(g)
}

fn copilot(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let mut out = String::new();
        for i in 0..TURNS * 4 {
            let t = Tok::draw(rng, false, true);
            g.turn(t);
            let [i_, cr, _, o, r] = t.0;
            let span = json!({"traceId": format!("t{f:06}{i:04}"), "spanId": format!("s{i}"), "name": "chat gpt-5",
                "kind": 2, "startTime": [1780000000 + i, 0], "endTime": [1780000001 + i, 0],
                "attributes": {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.response.model": "gpt-5", "gen_ai.conversation.id": format!("conv-{f}"),
                "gen_ai.usage.input_tokens": i_ + cr, "gen_ai.usage.cache_read.input_tokens": cr,
                "gen_ai.usage.output_tokens": o + r, "gen_ai.usage.reasoning.output_tokens": r,
                "gen_ai.output.messages": pad(rng, 500, 2500)}, "status": {"code": 0}});
            out.push_str(&span.to_string());
            out.push('\n');
        }
        write(&home.join(format!(".copilot/otel/otel-{f:05}.jsonl")), out.as_bytes(), g)?;
        Ok(())
    })
}

fn qwen(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let sid = format!("qwen-{f:06}");
        let mut out = String::new();
        for i in 0..TURNS {
            let user = json!({"uuid": format!("{sid}-u{i}"), "sessionId": sid, "type": "user",
                "timestamp": "2026-05-28T20:30:00.000Z", "message": {"role": "user", "parts": [{"text": pad(rng, 300, 1500)}]}});
            let t = Tok::draw(rng, false, true);
            g.turn(t);
            let [i_, cr, _, o, r] = t.0;
            let asst = json!({"uuid": format!("{sid}-a{i}"), "sessionId": sid, "type": "assistant",
                "timestamp": "2026-05-28T20:30:05.000Z", "model": "qwen3-coder-plus",
                "message": {"role": "model", "parts": [{"text": pad(rng, 200, 2000)}]},
                "usageMetadata": {"promptTokenCount": i_ + cr, "cachedContentTokenCount": cr,
                "candidatesTokenCount": o, "thoughtsTokenCount": r, "totalTokenCount": i_ + cr + o + r}});
            out.push_str(&format!("{user}\n{asst}\n"));
        }
        write(
            &home.join(format!(".qwen/projects/p{}/chats/{sid}.jsonl", f % 20)),
            out.as_bytes(),
            g,
        )?;
        Ok(())
    })
}

fn goose(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    let path = home.join(".local/share/goose/sessions/sessions.db");
    let mut c = db(
        &path,
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, description TEXT, created_at TEXT, session_type TEXT,
           total_tokens INTEGER, input_tokens INTEGER, output_tokens INTEGER, accumulated_total_tokens INTEGER, accumulated_input_tokens INTEGER, accumulated_output_tokens INTEGER,
           model_config_json TEXT, provider_name TEXT);
         CREATE TABLE messages (id INTEGER PRIMARY KEY, session_id TEXT, role TEXT, content_json TEXT);",
    )?;
    let mut g = Gen::default();
    let tx = c.transaction()?;
    let (mut written, mut s) = (0u64, 0u64);
    while written < size {
        let id = format!("2026_{s:08}");
        let mut tot = Tok::default();
        for _ in 0..TURNS {
            let t = Tok::draw(rng, false, true);
            tot.0[0] += t.0[0];
            tot.0[3] += t.0[3];
            tot.0[4] += t.0[4];
            let msg = pad(rng, 500, 3000);
            written += msg.len() as u64;
            tx.execute(
                "INSERT INTO messages (session_id, role, content_json) VALUES (?1, 'user', ?2)",
                [&id, &msg],
            )?;
        }
        for (a, b) in g.tokens.iter_mut().zip(tot.0) {
            *a += b;
        }
        let [i_, _, _, o, r] = tot.0;
        tx.execute(
            "INSERT INTO sessions VALUES (?1, 'bench', '2026-05-28 20:30:00', 'user', NULL, NULL, NULL, ?2, ?3, ?4, ?5, 'anthropic')",
            rusqlite::params![id, (i_ + o + r) as i64, i_ as i64, o as i64, r#"{"model_name":"claude-sonnet-4-5"}"#],
        )?;
        s += 1;
        g.sessions += 1;
    }
    tx.commit()?;
    finish_db(c, &path, &mut g)?;
    Ok(g)
}

fn amp(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let tid = format!("T-bench-{f:08}");
        let mut messages = Vec::new();
        for i in 0..TURNS {
            messages.push(json!({"role": "user", "messageId": 2 * i, "content": [{"type": "text", "text": pad(rng, 300, 1500)}]}));
            let t = Tok::draw(rng, true, false);
            g.turn(t);
            let [i_, cr, cw, o, _] = t.0;
            messages.push(json!({"role": "assistant", "messageId": 2 * i + 1, "state": {"type": "complete"},
                "content": [{"type": "text", "text": pad(rng, 200, 2000)}],
                "usage": {"model": "claude-sonnet-4-5", "inputTokens": i_, "outputTokens": o,
                "cacheCreationInputTokens": cw, "cacheReadInputTokens": cr, "totalTokens": i_ + o + cw + cr,
                "timestamp": "2026-05-28T20:31:00.000Z"}}));
        }
        let thread = json!({"v": 1, "id": tid, "created": EPOCH_2026_MS, "messages": messages});
        write(
            &home.join(format!(".local/share/amp/threads/{tid}.json")),
            thread.to_string().as_bytes(),
            g,
        )?;
        Ok(())
    })
}

fn droid(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let mut tot = Tok::default();
        for _ in 0..TURNS {
            let t = Tok::draw(rng, true, true);
            for (a, b) in tot.0.iter_mut().zip(t.0) {
                *a += b;
            }
        }
        for (a, b) in g.tokens.iter_mut().zip(tot.0) {
            *a += b;
        }
        let [i_, cr, cw, o, r] = tot.0;
        let dir = home.join(format!(".factory/sessions/p{}", f % 20));
        let settings = json!({"model": "claude-sonnet-4-5", "providerLock": "anthropic",
            "providerLockTimestamp": "2026-05-28T20:30:00.000Z",
            "tokenUsage": {"inputTokens": i_, "outputTokens": o, "cacheCreationTokens": cw,
            "cacheReadTokens": cr, "thinkingTokens": r}});
        write(&dir.join(format!("s{f:08}.settings.json")), settings.to_string().as_bytes(), g)?;
        // The session's transcript beside it (not read: its size counts).
        let mut t = String::new();
        for i in 0..TURNS {
            t.push_str(&json!({"type": "message", "id": i, "message": {"role": "user", "content": pad(rng, 800, 3000)}}).to_string());
            t.push('\n');
        }
        write(&dir.join(format!("s{f:08}.jsonl")), t.as_bytes(), g)?;
        Ok(())
    })
}

fn kimi(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let mut out = String::from("{\"type\":\"metadata\",\"protocol_version\":\"1.1\"}\n");
        for i in 0..TURNS {
            let lines = [
                json!({"timestamp": 1780000000 + i, "message": {"type": "TurnBegin", "payload": {"user_input": pad(rng, 300, 1500)}}}),
                json!({"timestamp": 1780000000 + i, "message": {"type": "ContentPart", "payload": {"type": "text", "text": pad(rng, 200, 2000)}}}),
            ];
            for l in lines {
                out.push_str(&l.to_string());
                out.push('\n');
            }
            let t = Tok::draw(rng, true, false);
            g.turn(t);
            let [i_, cr, cw, o, _] = t.0;
            let s = json!({"timestamp": 1780000001 + i, "message": {"type": "StatusUpdate", "payload": {
                "message_id": format!("m{f}-{i}"), "token_usage": {"input_other": i_, "output": o,
                "input_cache_read": cr, "input_cache_creation": cw}}}});
            out.push_str(&s.to_string());
            out.push('\n');
        }
        write(
            &home.join(format!(".kimi/sessions/h{}/s{f:06}/wire.jsonl", f % 20)),
            out.as_bytes(),
            g,
        )?;
        Ok(())
    })
}

fn codebuff(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let mut messages = Vec::new();
        for i in 0..TURNS {
            messages.push(json!({"id": format!("c{f}-u{i}"), "variant": "user", "content": pad(rng, 300, 1500)}));
            let t = Tok::draw(rng, true, false);
            g.turn(t);
            let [i_, cr, cw, o, _] = t.0;
            messages.push(json!({"id": format!("c{f}-a{i}"), "variant": "ai", "content": pad(rng, 200, 2000),
                "metadata": {"model": "anthropic/claude-sonnet-4.5", "usage": {"inputTokens": i_, "outputTokens": o,
                "cacheReadInputTokens": cr, "cacheCreationInputTokens": cw}}}));
        }
        let p = home.join(format!(
            ".config/manicode/projects/p{}/chats/2026-05-28T20-{f:06}/chat-messages.json",
            f % 20
        ));
        write(&p, serde_json::to_string(&messages)?.as_bytes(), g)?;
        Ok(())
    })
}

/// A protobuf message of varint and bytes fields.
fn pb(fields: &[(u64, Result<u64, Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        match v {
            Ok(i) => {
                prost::encoding::encode_varint(n << 3, &mut out);
                prost::encoding::encode_varint(*i, &mut out);
            }
            Err(b) => {
                prost::encoding::encode_varint((n << 3) | 2, &mut out);
                prost::encoding::encode_varint(b.len() as u64, &mut out);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn antigravity(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let path = home.join(format!(".gemini/antigravity/conversations/conv-{f:06}.db"));
        let mut c = db(
            &path,
            "CREATE TABLE gen_metadata (idx INTEGER PRIMARY KEY, data BLOB);
                               CREATE TABLE steps (idx INTEGER PRIMARY KEY, metadata BLOB);",
        )?;
        let tx = c.transaction()?;
        for i in 0..TURNS {
            let t = Tok::draw(rng, true, true);
            g.turn(t);
            let [i_, cr, cw, o, r] = t.0;
            let usage = pb(&[
                (1, Ok(246)),
                (2, Ok(i_)),
                (3, Ok(o + r)),
                (4, Ok(cw)),
                (5, Ok(cr)),
                (9, Ok(r)),
                (11, Err(format!("resp-{f}-{i}").into_bytes())),
            ]);
            let chat = pb(&[
                (19, Err(b"Gemini 2.5 Pro".to_vec())),
                (4, Err(usage)),
                (20, Err(pad(rng, 500, 3000).into_bytes())),
            ]);
            let data = pb(&[(1, Err(chat))]);
            tx.execute(
                "INSERT INTO gen_metadata VALUES (?1, ?2)",
                rusqlite::params![i as i64, data],
            )?;
        }
        tx.commit()?;
        finish_db(c, &path, g)?;
        Ok(())
    })
}

fn grok(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    sessions(size, |f, g| {
        let mut out = String::new();
        for i in 0..TURNS {
            let upd = |ev: String, update: Value| {
                json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": format!("g{f}"),
                    "update": update, "_meta": {"eventId": ev, "agentTimestampMs": EPOCH_2026_MS + i}}})
            };
            out.push_str(
                &upd(
                    format!("{f}-c{i}"),
                    json!({"sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": pad(rng, 500, 3000)}}),
                )
                .to_string(),
            );
            out.push('\n');
            let t = Tok::draw(rng, true, true);
            g.turn(t);
            let [i_, cr, cw, o, r] = t.0;
            out.push_str(&upd(format!("{f}-t{i}"), json!({"sessionUpdate": "turn_completed", "usage": {"modelUsage": {
                "grok-code-fast-1": {"inputTokens": i_ + cr + cw, "cachedReadTokens": cr, "cacheCreationTokens": cw,
                "outputTokens": o + r, "reasoningTokens": r}}}})).to_string());
            out.push('\n');
        }
        write(
            &home.join(format!(".grok/sessions/p{}/s{f:06}/updates.jsonl", f % 20)),
            out.as_bytes(),
            g,
        )?;
        Ok(())
    })
}

fn zcode(home: &Path, rng: &mut Rng, size: u64) -> Res<Gen> {
    let path = home.join(".zcode/cli/db/db.sqlite");
    let mut c = db(
        &path,
        "CREATE TABLE session (id TEXT PRIMARY KEY, directory TEXT, title TEXT);
         CREATE TABLE model_usage (id TEXT PRIMARY KEY, session_id TEXT, model_id TEXT, provider_id TEXT, status TEXT,
           started_at INTEGER, input_tokens INTEGER, output_tokens INTEGER, cache_creation_input_tokens INTEGER,
           cache_read_input_tokens INTEGER, computed_total_tokens INTEGER, request TEXT);",
    )?;
    let mut g = Gen::default();
    let tx = c.transaction()?;
    let (mut written, mut s) = (0u64, 0u64);
    while written < size {
        tx.execute("INSERT INTO session VALUES (?1, '/bench', 'bench')", [format!("zs{s}")])?;
        for i in 0..TURNS {
            let t = Tok::draw(rng, true, false);
            g.turn(t);
            let [i_, cr, cw, o, _] = t.0;
            let body = pad(rng, 500, 3000);
            written += body.len() as u64;
            tx.execute(
                "INSERT INTO model_usage VALUES (?1, ?2, 'glm-4.6', 'zai', 'completed', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![format!("zu{s}-{i}"), format!("zs{s}"), EPOCH_2026_MS as i64,
                    (i_ + cr + cw) as i64, o as i64, cw as i64, cr as i64, (i_ + cr + cw + o) as i64, body],
            )?;
        }
        s += 1;
        g.sessions += 1;
    }
    tx.commit()?;
    finish_db(c, &path, &mut g)?;
    Ok(g)
}

/// The agents: pack, ccusage's command, generator.
type Generator = fn(&Path, &mut Rng, u64) -> Res<Gen>;
const AGENTS: &[(&str, &str, Generator)] = &[
    ("opencode", "opencode", |h, r, s| opencode(h, r, s, false)),
    ("copilot_cli", "copilot", copilot),
    ("qwen_code", "qwen", qwen),
    ("goose", "goose", goose),
    ("amp", "amp", amp),
    ("droid", "droid", droid),
    ("kimi", "kimi", kimi),
    ("kilo", "kilo", |h, r, s| opencode(h, r, s, true)),
    ("codebuff", "codebuff", codebuff),
    ("antigravity", "antigravity", antigravity),
    ("grok_build", "grok", grok),
    ("zcode", "zcode", zcode),
];

/// Checks ccusage's token totals on a home against the generator's.
fn check_ccusage(bin: &Path, cmd: &str, pack: &str, home: &Path, g: &Gen) -> Res<()> {
    let out = Command::new(bin)
        .args([cmd, "session", "--json", "--offline"])
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()?;
    if !out.status.success() {
        return Err(format!("ccusage {cmd}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let t = &v["totals"];
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    let [i_, cr, cw, o, r] = g.tokens;
    // ccusage counts Qwen Code's cached input inside input too.
    let want_input = if pack == "qwen_code" { i_ + cr } else { i_ };
    let got = [
        n("inputTokens"),
        n("cacheReadTokens"),
        n("cacheCreationTokens"),
        n("totalTokens") - n("inputTokens") - n("cacheReadTokens") - n("cacheCreationTokens"),
    ];
    let want = [want_input, cr, cw, o + r];
    if got != want {
        return Err(format!("ccusage {cmd}: token totals {got:?}, the generator's {want:?}").into());
    }
    Ok(())
}

/// Runs the stage.
pub(crate) fn stage_agents(ctx: &Ctx, root: &Path, report: &mut Report) -> Res<()> {
    let dir = root.join("agents");
    reset_dir(&dir, ".telemetron-bench")?;
    for (i, (pack, cmd, generate)) in AGENTS.iter().enumerate() {
        let home = dir.join(pack);
        let mut rng = Rng::new(ctx.opts.seed ^ 0xa9e7, i as u64);
        let started = Instant::now();
        let g = generate(&home, &mut rng, ctx.opts.agent_size)?;
        eprintln!(
            "bench: {pack}: {} written in {:.1} s",
            fmt_bytes(g.bytes),
            started.elapsed().as_secs_f64()
        );
        let names = ["input", "cache_read", "cache_write", "output", "reasoning"];
        let mut expected: BTreeMap<String, u64> = names
            .iter()
            .zip(g.tokens)
            .map(|(t, n)| (format!("pack.token.usage{{pack={pack},token.type={t}}}"), n))
            .collect();
        if g.turns > 0 {
            expected.insert(format!("pack.agent.turn{{pack={pack}}}"), g.turns);
        }
        expected.insert(format!("pack.session.start{{pack={pack}}}"), g.sessions);
        match &ctx.ccusage {
            Some(bin) => {
                check_ccusage(bin, cmd, pack, &home, &g)?;
                let baseline = format!(
                    "env -i HOME='{}' PATH=\"$PATH\" '{}' {cmd} session --json --offline >/dev/null",
                    home.display(),
                    bin.display()
                );
                let side = Side {
                    baseline: &baseline,
                    baseline_name: format!("ccusage {cmd} session, {}", fmt_bytes(g.bytes)),
                    name: "telemetron cold read",
                    home: &home,
                    expected: &expected,
                    bytes: g.bytes,
                    corpus: pack,
                    key: "vs_ccusage",
                    text: "ccusage / telemetron (> 1: telemetron faster)",
                };
                side_by_side(ctx, &side, report)?;
            }
            None => {
                let mut time = Samples::default();
                let mut rss = 0;
                for _ in 0..ctx.opts.runs {
                    let r = cold(ctx, &home, pack, &expected)?;
                    time.0.push(r.wall.as_secs_f64());
                    rss = rss.max(r.max_rss_kib);
                }
                report.rows.push(Row {
                    name: format!("telemetron cold read, {pack}"),
                    time,
                    bytes: Some(g.bytes),
                    rss_kib: Some(rss),
                    cpu: None,
                    others: 0.0,
                });
            }
        }
    }
    if ctx.ccusage.is_none() {
        report.notes.push("ccusage not installed: the agents' cold reads measured alone".into());
    }
    Ok(())
}
