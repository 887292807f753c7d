//! Shared JSON pieces of the format parsers: lenient token counts,
//! strings that are borrowed when possible and skipped when not, content
//! blocks reduced to their metadata, and lines skimmed of the long texts a
//! parser never reads. Nothing here copies text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A token count that tolerates bad values: negative, fractional or
/// non-numeric counts become 0 (or are floored) instead of making the whole
/// line malformed and losing its other counts.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokens(pub u64);

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Tokens, E> {
                Ok(Tokens(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Tokens, E> {
                Ok(Tokens(v.max(0) as u64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Tokens, E> {
                // `as` saturates for out-of-range floats and maps NaN to 0.
                Ok(Tokens(if v > 0.0 { v as u64 } else { 0 }))
            }
            fn visit_unit<E>(self) -> Result<Tokens, E> {
                Ok(Tokens(0))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Tokens, E> {
                Ok(Tokens(0))
            }
            fn visit_str<E>(self, _: &str) -> Result<Tokens, E> {
                Ok(Tokens(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Tokens, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Tokens(0))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Tokens, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Tokens(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// Deserialises a string borrowed when possible, and anything else as
/// `None` (skipped without copying).
#[derive(Default)]
pub struct StrOrSkip<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for StrOrSkip<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = StrOrSkip<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrOrSkip(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrSkip(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StrOrSkip(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StrOrSkip(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StrOrSkip(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StrOrSkip(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StrOrSkip(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StrOrSkip(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StrOrSkip(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The content of a message: a string (skipped, only noted), or an array
/// of blocks of which only the metadata fields are kept.
#[derive(Default)]
pub struct Blocks<'a> {
    /// True when the content was a plain string.
    pub is_string: bool,
    /// The blocks, when the content was an array.
    pub blocks: Vec<Block<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Blocks<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Blocks<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("message content")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Blocks::default();
                while let Some(b) = a.next_element::<Block<'a>>()? {
                    out.blocks.push(b);
                }
                Ok(out)
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Self::Value, E> {
                Ok(Blocks { is_string: true, blocks: Vec::new() })
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Blocks { is_string: true, blocks: Vec::new() })
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Blocks::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Blocks::default())
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One content block (or tool-call record); only its metadata is kept:
/// `type`, `name`, `id`, `tool_use_id`, the error flag and `status`. Text,
/// arguments and outputs are skipped without being copied.
#[derive(Default)]
pub struct Block<'a> {
    /// `type`.
    pub kind: Option<Cow<'a, str>>,
    /// `name` (a tool name).
    pub name: Option<Cow<'a, str>>,
    /// `id` (a tool-call id).
    pub id: Option<Cow<'a, str>>,
    /// `tool_use_id` (the call a tool result answers).
    pub tool_use_id: Option<Cow<'a, str>>,
    /// `is_error` or `isError`.
    pub is_error: Option<bool>,
    /// `status` (Gemini tool calls).
    pub status: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Block<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Block<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a content block")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut b = Block::default();
                while let Some(k) = a.next_key::<Cow<'de, str>>()? {
                    match k.as_ref() {
                        "type" => b.kind = a.next_value::<StrOrSkip<'a>>()?.0,
                        "name" => b.name = a.next_value::<StrOrSkip<'a>>()?.0,
                        "id" => b.id = a.next_value::<StrOrSkip<'a>>()?.0,
                        "tool_use_id" => b.tool_use_id = a.next_value::<StrOrSkip<'a>>()?.0,
                        "status" => b.status = a.next_value::<StrOrSkip<'a>>()?.0,
                        "is_error" | "isError" => b.is_error = a.next_value::<Flag>()?.0,
                        _ => {
                            a.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(b)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Block::default())
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Self::Value, E> {
                Ok(Block::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Block::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Block::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Block::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Block::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Block::default())
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Block::default())
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A boolean flag that tolerates other JSON values (they read as unset).
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag(pub Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Flag(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(b) => Some(b),
            _ => None,
        }))
    }
}

/// True for a line whose first non-blank byte opens an object: serde would
/// map a JSON array onto a struct by position, and only objects are
/// records.
pub fn is_object(line: &[u8]) -> bool {
    line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Lines shorter than this are parsed as they are: skimming pays for
/// itself on lines that carry long texts.
pub(crate) const SKIM_FROM: usize = 4096;

/// String values shorter than this are kept.
const SKIM_TEXT: usize = 64;

/// What a parser may read of a line, for [`skimmed`].
pub struct Reads {
    /// Keys whose string values it may read, at any depth.
    pub values: &'static [&'static str],
    /// Keys under which it may read any string: a line with one of them
    /// (or with a key written with an escape, which may name one) is not
    /// skimmed.
    pub whole: &'static [&'static str],
}

/// Calls `parse` with `line`, or with a copy of it in which the text of
/// every long string value under a key the parser never reads is left out
/// (the value becomes `""`).
///
/// Most of the bytes of a transcript are such texts (tool outputs,
/// messages), and a JSON parser pays for every escape in a text it only
/// skips: skimming finds the strings by their quotes alone, one `memchr`
/// pass over the line, and the parser then walks only the structure.
///
/// A key written with an escape is taken to be one that is read, whatever
/// it names. The line's structure is untouched, so what the parser reads
/// is the same, and a line that does not parse still does not (an
/// unterminated string leaves the line whole). The one difference: a fault
/// inside a text left out (a bad escape, a raw control character, bytes
/// that are not UTF-8) is no longer seen, and the record it was in counts.
pub fn skimmed<R>(line: &[u8], reads: &Reads, parse: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if line.len() < SKIM_FROM || skimming_off() {
        return parse(line);
    }
    BUF.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => {
            let buf = &mut *buf;
            if skim(line, reads, buf) {
                parse(buf)
            } else {
                parse(line)
            }
        }
        // Only if `parse` skimmed again.
        Err(_) => parse(line),
    })
}

/// True while a test compares a parser with skimming and without.
#[cfg(test)]
fn skimming_off() -> bool {
    tests::SKIM_OFF.get()
}

#[cfg(not(test))]
fn skimming_off() -> bool {
    false
}

/// Writes into `out` the skimmed copy of `line` (see [`skimmed`]); false
/// when nothing was left out, and `out` is then not the line.
fn skim(line: &[u8], reads: &Reads, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut copied = 0;
    // The interior of the string before the one at hand: the key, when
    // the one at hand is a value.
    let mut before = 0..0;
    let mut strings = Strings::of(line);
    for (open, close) in strings.by_ref() {
        let text = open + 1..close;
        if !reads.whole.is_empty()
            && is_key(&line[close + 1..])
            && is_read(&line[text.clone()], reads.whole)
        {
            return false;
        }
        if text.len() >= SKIM_TEXT
            && is_value(&line[..open])
            && !is_read(&line[before], reads.values)
        {
            out.extend_from_slice(&line[copied..=open]);
            copied = close;
        }
        before = text;
    }
    if strings.cut || copied == 0 {
        return false;
    }
    out.extend_from_slice(&line[copied..]);
    true
}

/// The JSON strings of a line, as the offsets of their opening and closing
/// quotes, found by the quotes alone: a quote after an odd run of
/// backslashes is escaped.
struct Strings<'a> {
    line: &'a [u8],
    quotes: crate::quotes::Quotes<'a>,
    /// True once the line ended inside a string.
    cut: bool,
}

impl<'a> Strings<'a> {
    fn of(line: &'a [u8]) -> Strings<'a> {
        Strings { line, quotes: crate::quotes::Quotes::of(line), cut: false }
    }
}

impl Iterator for Strings<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let open = self.quotes.next()?;
        let line = self.line;
        let close = self.quotes.find(|&q| !crate::quotes::escaped(&line[open + 1..], q - open - 1));
        self.cut = close.is_none();
        Some((open, close?))
    }
}

/// True when `b` is JSON whitespace.
fn is_blank(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// True when a string opening after `head` is an object's value (a `:`
/// before it).
fn is_value(head: &[u8]) -> bool {
    head.iter().rev().find(|b| !is_blank(b)) == Some(&b':')
}

/// True when a string closing before `tail` is an object's key (a `:`
/// after it).
fn is_key(tail: &[u8]) -> bool {
    tail.iter().find(|b| !is_blank(b)) == Some(&b':')
}

/// True when `key` (its raw bytes) is one of `keys`, or may be one.
fn is_read(key: &[u8], keys: &[&str]) -> bool {
    key.contains(&b'\\') || keys.iter().any(|r| r.as_bytes() == key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hash::SplitMix64;
    use serde_json::{json, Value};

    thread_local! {
        /// Set while [`without_skimming`] runs.
        pub(super) static SKIM_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Runs `f` with every line parsed whole on this thread.
    pub(crate) fn without_skimming<R>(f: impl FnOnce() -> R) -> R {
        SKIM_OFF.set(true);
        let r = f();
        SKIM_OFF.set(false);
        r
    }

    /// A JSON text of `n` bytes or more, with escapes and non-ASCII text.
    const FILLER: &str = r#" \" \\ \u001b[0m é \n x"#;

    /// For each key of `lines` with string values, the lines with those
    /// values made long (filler appended) and every object line padded
    /// past [`SKIM_FROM`]: a parser that reads such a value but does not
    /// say so in its [`Reads`] counts otherwise with skimming than
    /// without.
    fn inflated(lines: &[Vec<u8>]) -> Vec<(String, Vec<Vec<u8>>)> {
        // The closing quotes of each line's string values, with their keys.
        let mut values: Vec<Vec<(Vec<u8>, usize)>> = Vec::new();
        let mut keys = std::collections::BTreeSet::new();
        for line in lines {
            let mut found = Vec::new();
            let mut before = 0..0;
            for (open, close) in Strings::of(line) {
                if is_value(&line[..open]) {
                    let key = line[before].to_vec();
                    keys.insert(key.clone());
                    found.push((key, close));
                }
                before = open + 1..close;
            }
            values.push(found);
        }
        let filler = FILLER.repeat(SKIM_TEXT / FILLER.len() + 1);
        let pad = format!(r#","zzpad":"{}"}}"#, FILLER.repeat(SKIM_FROM / FILLER.len() + 1));
        keys.into_iter()
            .map(|key| {
                let lines = lines
                    .iter()
                    .zip(&values)
                    .map(|(line, found)| {
                        let mut out = Vec::new();
                        let mut from = 0;
                        for (_, close) in found.iter().filter(|(k, _)| *k == key) {
                            out.extend_from_slice(&line[from..*close]);
                            out.extend_from_slice(filler.as_bytes());
                            from = *close;
                        }
                        out.extend_from_slice(&line[from..]);
                        if out.ends_with(b"}") {
                            out.pop();
                            out.extend_from_slice(pad.as_bytes());
                        }
                        out
                    })
                    .collect();
                (String::from_utf8_lossy(&key).into_owned(), lines)
            })
            .collect()
    }

    /// Checks that `run` gives the same with skimming and without on the
    /// fixture lines of `dir`, with the values under each key made long in
    /// turn ([`inflated`]); the fixtures must have more than `min_keys`
    /// keys with string values.
    pub(crate) fn skimming_changes_nothing<R: PartialEq + std::fmt::Debug>(
        dir: &str,
        min_keys: usize,
        run: impl Fn(&[Vec<u8>]) -> R,
    ) {
        let variants = inflated(&crate::agents::fixture_lines(dir));
        assert!(variants.len() > min_keys, "{dir}: {} keys", variants.len());
        for (key, lines) in variants {
            let whole = without_skimming(|| run(&lines));
            assert_eq!(run(&lines), whole, "{dir}: long values under {key}");
        }
    }

    #[test]
    fn inflated_lines_are_json_with_long_values_under_one_key() {
        let line = br#"{"id":"a","n":{"id":"b","t":"c"},"l":["d"]}"#.to_vec();
        let got = inflated(&[line]);
        assert_eq!(got.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["id", "t"]);
        let v: Value = serde_json::from_slice(&got[0].1[0]).unwrap();
        let long = v["id"].as_str().unwrap();
        assert!(long.starts_with("a \" \\ \u{1b}[0m é \n x"));
        assert!(serde_json::to_string(long).unwrap().len() - 2 >= SKIM_TEXT);
        assert_eq!(v["n"]["id"].as_str().unwrap(), long.replacen('a', "b", 1));
        assert_eq!((&v["n"]["t"], &v["l"][0]), (&json!("c"), &json!("d")));
        assert!(v["zzpad"].is_string() && got[1].1[0].len() > SKIM_FROM);
    }

    /// Skims `line` and returns what the parser is given.
    fn skim_of(line: &[u8], values: &'static [&'static str]) -> Vec<u8> {
        skimmed(line, &Reads { values, whole: &[] }, <[u8]>::to_vec)
    }

    /// A long text with every escape a quote can hide behind.
    fn text(n: usize) -> String {
        let mut s = String::from("say \"hi\" \\ \\\" ü \u{1b}[0m\n\t/");
        while s.len() < n {
            s.push_str("x\\\"\"\\");
        }
        s
    }

    #[test]
    fn the_long_texts_of_keys_not_read_are_left_out_and_nothing_else() {
        let long = text(200);
        let v = json!({
            "id": long, "type": "gemini",
            "toolCalls": [{"name": "run", "status": "error", "result": [{"output": long}]}],
            "pad": "p".repeat(SKIM_FROM),
            "arr": [long, {"output": "short"}],
            "i\\u0064": long,
        });
        let line = serde_json::to_vec(&v).unwrap();
        let got: Value = serde_json::from_slice(&skim_of(&line, &["id", "name"])).unwrap();
        let want = json!({
            "id": long, "type": "gemini",
            "toolCalls": [{"name": "run", "status": "error", "result": [{"output": ""}]}],
            "pad": "",
            // Strings in arrays are not under a key: kept.
            "arr": [long, {"output": "short"}],
            // A key spelled with an escape may name a key read: kept.
            "i\\u0064": long,
        });
        assert_eq!(got, want);
        // Spaces around the colon change nothing.
        let spaced = String::from_utf8(line.clone()).unwrap().replace("\":", "\" :\t");
        let got: Value = serde_json::from_slice(&skim_of(spaced.as_bytes(), &["id"])).unwrap();
        assert_eq!(got["toolCalls"][0]["result"][0]["output"], "");
    }

    #[test]
    fn a_line_with_a_key_read_whole_is_given_whole() {
        let reads = Reads { values: &[], whole: &["source"] };
        let skim = |v: &Value| {
            let line = serde_json::to_vec(v).unwrap();
            (skimmed(&line, &reads, <[u8]>::to_vec) == line, line)
        };
        let long = text(SKIM_FROM);
        assert!(!skim(&json!({"output": long})).0);
        assert!(skim(&json!({"output": long, "p": {"source": {"any": long}}})).0);
        // `"source"` as a value is no key.
        assert!(!skim(&json!({"output": long, "kind": "source"})).0);
        // A key written with an escape may be `source`.
        let line = serde_json::to_vec(&json!({"output": long, "source": 1})).unwrap();
        let line = String::from_utf8(line).unwrap().replace("\"source\"", r#""sourc\u0065""#);
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap()["source"], 1);
        assert_eq!(skimmed(line.as_bytes(), &reads, <[u8]>::to_vec), line.as_bytes());
    }

    #[test]
    fn short_lines_and_lines_that_cannot_parse_are_given_whole() {
        let short = serde_json::to_vec(&json!({"output": text(200)})).unwrap();
        assert_eq!(skim_of(&short, &[]), short);
        let long = serde_json::to_vec(&json!({"output": text(2 * SKIM_FROM)})).unwrap();
        assert!(skim_of(&long, &[]).len() < 100);
        // Cut inside a string: no string after the cut can be told.
        let cut = &long[..long.len() - 10];
        assert_eq!(skim_of(cut, &[]), cut);
        assert!(serde_json::from_slice::<Value>(&skim_of(cut, &[])).is_err());
        // Cut outside one: still skimmed, still not JSON.
        let cut = &long[..long.len() - 1];
        assert!(skim_of(cut, &[]).len() < 100);
        assert!(serde_json::from_slice::<Value>(&skim_of(cut, &[])).is_err());
    }

    /// A random JSON value whose strings hold quotes and runs of
    /// backslashes, some under keys that are read.
    fn random_value(r: &mut SplitMix64, depth: u32) -> Value {
        const KEYS: [&str; 5] = ["id", "output", "name", "text", "a\"b"];
        match r.below(if depth == 0 { 3 } else { 5 }) {
            0 => Value::from(r.below(1000)),
            1 | 2 => {
                let mut s = String::new();
                for _ in 0..r.below(40) {
                    s.push_str(["x", "\\", "\"", "\\\\\"", "é", "\n", "ab"][r.below(7) as usize]);
                }
                Value::String(s)
            }
            3 => Value::Array((0..r.below(4)).map(|_| random_value(r, depth - 1)).collect()),
            _ => Value::Object(
                (0..r.below(5))
                    .map(|_| (KEYS[r.below(5) as usize].to_string(), random_value(r, depth - 1)))
                    .collect(),
            ),
        }
    }

    /// `v` with what skimming must leave out blanked: every string value
    /// of an object member whose key is not read and whose JSON text is
    /// at least [`SKIM_TEXT`] bytes.
    fn blanked(v: &Value, reads: &[&str]) -> Value {
        match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| blanked(x, reads)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| {
                        let long =
                            |s: &str| serde_json::to_string(s).unwrap().len() - 2 >= SKIM_TEXT;
                        let raw_key = serde_json::to_string(k).unwrap();
                        let read = raw_key.contains('\\') || reads.contains(&k.as_str());
                        let x = match x {
                            Value::String(s) if long(s) && !read => Value::from(""),
                            x => blanked(x, reads),
                        };
                        (k.clone(), x)
                    })
                    .collect(),
            ),
            v => v.clone(),
        }
    }

    #[test]
    fn a_skimmed_line_parses_to_the_line_with_its_unread_texts_blanked() {
        let mut r = SplitMix64(7);
        const READS: &[&str] = &["id", "name"];
        let reads = READS;
        let mut skimmed_some = 0;
        for _ in 0..2000 {
            let mut v = json!({"pad": "x".repeat(SKIM_FROM)});
            for i in 0..r.below(6) {
                v[format!("k{i}")] = random_value(&mut r, 4);
            }
            for line in [serde_json::to_vec(&v).unwrap(), serde_json::to_vec_pretty(&v).unwrap()] {
                let got = skim_of(&line, reads);
                skimmed_some += usize::from(got.len() < line.len());
                let got: Value = serde_json::from_slice(&got).unwrap();
                assert_eq!(got, blanked(&v, reads), "{}", String::from_utf8_lossy(&line));
            }
        }
        assert_eq!(skimmed_some, 4000);
    }
}
