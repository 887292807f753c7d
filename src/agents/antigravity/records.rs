//! How Antigravity's generations count. A conversation's database keeps
//! one `gen_metadata(idx, data)` row per model generation, appended with a
//! growing `idx`; `data` is a protobuf message whose field 1 is the chat
//! generation: its model (field 19 or 21 by name, field 3 by number), its
//! usage (field 4) and the usage of retried attempts (field 17, each with
//! its usage in field 2). A usage message holds the model number (1),
//! input (2), output (3), cache write (4), cache read (5), thinking (9),
//! visible output (10) and the response id (11; or 12, 7). Each usage is
//! one turn, counted once by its response id; the conversation is one
//! session. (The `steps` table repeats these usages by response id, so it
//! is not read.) Facts from ccusage's adapter; the parsing is ours.

use crate::agents::usage::{Recorder, Usage};
use crate::classify::models;
use crate::metrics::{Family, LineResult, ModelRef, Outcome};
use crate::pipeline::stores::StoreCtx;
use crate::sources::sqlite;

/// One protobuf field: its number and a varint value or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// A varint.
    Int(u64),
    /// Length-delimited bytes (a string or a message).
    Bytes(&'a [u8]),
    /// A fixed-width value (skipped).
    Fixed,
}

/// The fields of a protobuf message, or `None` when it is not one.
pub fn fields(mut b: &[u8]) -> Option<Vec<(u32, Field<'_>)>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = prost::encoding::decode_varint(&mut b).ok()?;
        let num = u32::try_from(key >> 3).ok().filter(|n| *n > 0)?;
        let f = match key & 7 {
            0 => Field::Int(prost::encoding::decode_varint(&mut b).ok()?),
            1 => {
                b = b.get(8..)?;
                Field::Fixed
            }
            2 => {
                let n = usize::try_from(prost::encoding::decode_varint(&mut b).ok()?).ok()?;
                let (v, rest) = (b.get(..n)?, b.get(n..)?);
                b = rest;
                Field::Bytes(v)
            }
            5 => {
                b = b.get(4..)?;
                Field::Fixed
            }
            _ => return None,
        };
        out.push((num, f));
    }
    Some(out)
}

fn int(f: &[(u32, Field<'_>)], n: u32) -> u64 {
    f.iter()
        .rev()
        .find_map(|(k, v)| match v {
            Field::Int(i) if *k == n => Some(*i),
            _ => None,
        })
        .unwrap_or(0)
}

fn bytes<'a>(f: &[(u32, Field<'a>)], n: u32) -> Option<&'a [u8]> {
    f.iter().find_map(|(k, v)| match v {
        Field::Bytes(b) if *k == n => Some(*b),
        _ => None,
    })
}

fn string<'a>(f: &[(u32, Field<'a>)], n: u32) -> Option<&'a str> {
    bytes(f, n).and_then(|b| std::str::from_utf8(b).ok()).map(str::trim).filter(|s| !s.is_empty())
}

/// A model by Antigravity's number.
fn model_number(n: u64) -> Option<&'static str> {
    Some(match n {
        246 => "gemini-2.5-pro",
        312 => "gemini-2.5-flash",
        313 | 329 => "gemini-2.5-flash-thinking",
        330 => "gemini-2.5-flash-lite",
        281 | 282 => "claude-sonnet-4",
        290 | 291 => "claude-opus-4",
        333 | 334 => "claude-sonnet-4-5",
        340 | 341 => "claude-haiku-4-5",
        342 => "gpt-oss-120b",
        _ => return None,
    })
}

/// A model by its display name ("Gemini 3 Pro (High)" → `gemini-3-pro`).
fn model_name(name: &str) -> ModelRef {
    let base = name.split('(').next().unwrap_or(name).trim().to_ascii_lowercase().replace(' ', "-");
    models::classify(None, Some(&base))
}

/// One usage: its id, model number and tokens.
pub fn usage<'a>(f: &[(u32, Field<'a>)]) -> (Option<&'a str>, u64, Usage) {
    let reasoning = int(f, 9);
    let total_output = int(f, 3).max(int(f, 10) + reasoning);
    let output = int(f, 10).max(total_output.saturating_sub(reasoning));
    let u = Usage {
        input: int(f, 2),
        cache_write: int(f, 4),
        cache_read: int(f, 5),
        output,
        reasoning: reasoning.max(total_output.saturating_sub(output)),
    };
    let id = string(f, 11).or_else(|| string(f, 12)).or_else(|| string(f, 7));
    (id, int(f, 1), u)
}

/// Counts one generation (`gen_metadata.data`); false when it is not a
/// protobuf message.
pub fn generation(data: &[u8], idx: i64, db: &str, rec: &mut Recorder<'_>) -> bool {
    let Some(outer) = fields(data) else { return false };
    let Some(chat) = bytes(&outer, 1).and_then(fields) else { return true };
    let named = string(&chat, 19).or_else(|| string(&chat, 21)).map(model_name);
    let numbered = model_number(int(&chat, 3)).map(|m| models::classify(None, Some(m)));
    let chat_model = named.or(numbered);
    let mut usages: Vec<&[u8]> = bytes(&chat, 4).into_iter().collect();
    for (k, v) in &chat {
        if let (17, Field::Bytes(retry)) = (k, v) {
            usages.extend(fields(retry).and_then(|r| bytes(&r, 2)));
        }
    }
    for (i, raw) in usages.into_iter().enumerate() {
        let Some(uf) = fields(raw) else { continue };
        let (id, number, u) = usage(&uf);
        if u.is_zero() {
            continue;
        }
        let model = model_number(number)
            .map(|m| models::classify(None, Some(m)))
            .or(chat_model)
            .unwrap_or(ModelRef::new(Family::Google, "unknown"));
        let fallback = format!("{db}:{idx}:{i}");
        rec.turn(Some(id.unwrap_or(&fallback)), model, u, Outcome::Success);
    }
    true
}

/// Reads a conversation's generations after its cursor (`idx`).
pub fn read(ctx: &StoreCtx<'_>) -> rusqlite::Result<()> {
    let cols = sqlite::columns(ctx.conn, "gen_metadata")?;
    if !cols.contains("idx") || !cols.contains("data") {
        return Ok(()); // not (yet) a conversation
    }
    let db = ctx.src.path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
    let skey = ctx.read_table("gen_metadata", "idx", "data", |r, rec| {
        // The conversation is one session, started by its first row.
        rec.session_start();
        let idx: i64 = r.get(0)?;
        let data: Option<Vec<u8>> = r.get(1)?;
        let ok = data.is_some_and(|d| generation(&d, idx, &db, rec));
        Ok((true, if ok { LineResult::Parsed } else { LineResult::Malformed }))
    })?;
    ctx.present(&std::iter::once(skey).collect());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SessionType;

    fn varint(v: u64, out: &mut Vec<u8>) {
        prost::encoding::encode_varint(v, out);
    }

    fn msg(fields: &[(u32, Result<u64, Vec<u8>>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, v) in fields {
            match v {
                Ok(i) => {
                    varint(u64::from(*n) << 3, &mut out);
                    varint(*i, &mut out);
                }
                Err(b) => {
                    varint((u64::from(*n) << 3) | 2, &mut out);
                    varint(b.len() as u64, &mut out);
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    #[test]
    fn a_generation_and_its_retry_are_two_turns_with_thinking_apart() {
        let usage = msg(&[
            (1, Ok(246)),
            (2, Ok(1000)),
            (3, Ok(300)),
            (5, Ok(200)),
            (9, Ok(100)),
            (11, Err(b"r1".to_vec())),
        ]);
        let retry_usage = msg(&[(2, Ok(10)), (3, Ok(5)), (11, Err(b"r2".to_vec()))]);
        let retry = msg(&[(2, Err(retry_usage))]);
        let chat = msg(&[
            (19, Err(b"Gemini 2.5 Pro".to_vec())),
            (4, Err(usage.clone())),
            (17, Err(retry)),
        ]);
        let data = msg(&[(1, Err(chat))]);
        let (id, number, u) = usage_of(&usage);
        assert_eq!((id.as_deref(), number), (Some("r1"), 246));
        assert_eq!((u.input, u.output, u.reasoning, u.cache_read), (1000, 200, 100, 200));
        let (mut st, mut counts, mut claims) = Default::default();
        let mut rec = Recorder::new(
            crate::metrics::Pack::Antigravity,
            SessionType::Main,
            &mut st,
            &mut counts,
            &mut claims,
        );
        assert!(generation(&data, 1, "c", &mut rec));
        assert!(!generation(&[0xff, 0xff], 2, "c", &mut rec));
        assert_eq!(claims.records.len(), 2);
    }

    fn usage_of(b: &[u8]) -> (Option<String>, u64, Usage) {
        let f = fields(b).unwrap();
        let (id, n, u) = usage(&f);
        (id.map(str::to_string), n, u)
    }
}
