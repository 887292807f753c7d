//! Shared JSON pieces of the format parsers: lenient token counts,
//! strings that are borrowed when possible and skipped when not, and
//! content blocks reduced to their metadata. Nothing here copies text.

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
