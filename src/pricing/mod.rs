//! Prices, offline: what the tokens a record counts cost.
//!
//! The table is built into the binary from a pinned snapshot of LiteLLM's
//! public price list (`litellm.json`, written by
//! `scripts/pricing/refresh.py`; where it came from is in
//! `litellm.meta.json`). `--pricing FILE` (or `pricing:` in the config)
//! adds and overrides entries in the same format.
//!
//! A raw model name is matched the way ccusage matches it, so that both
//! price the same model alike: the exact name, then the provider-prefixed
//! name, then the name after a provider prefix (`openai/gpt-5` is
//! `gpt-5`; ccusage goes straight to the fuzzy match there), then the
//! longest entry that contains the name or is contained in
//! it at word boundaries (a trailing version number must match: `gpt-5`
//! is not `gpt-5.1`, while an 8-digit date suffix is allowed). A model no
//! entry matches is unpriced: its tokens are counted and reported as
//! unpriced, never guessed.
//!
//! A cost is kept in integer pico-dollars and sent as a double in USD.
//! Prices are whole pico-dollars per token, so costs add up exactly
//! however tokens are split across files, runs and increments.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::agents::usage::Usage;

/// The built-in table (LiteLLM's format, trimmed).
const SNAPSHOT: &str = include_str!("litellm.json");
/// Where the built-in table came from.
const SNAPSHOT_META: &str = include_str!("litellm.meta.json");

/// An entry of the active price table, or none (index + 1; 0 is none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PriceId(u32);

impl PriceId {
    /// No price.
    pub const NONE: PriceId = PriceId(0);

    /// True when no price matched.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// USD per token of one model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// Input not read from a cache.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Input read from a cache.
    pub cache_read: f64,
    /// Input written to a cache kept 5 minutes.
    pub cache_write: f64,
    /// Input written to a cache kept 1 hour.
    pub cache_write_1h: f64,
    /// Reasoning output.
    pub reasoning: f64,
    /// Prices of a call whose context is above a threshold.
    pub tier: Option<Tier>,
}

/// Prices above a context threshold (the whole call is priced so when its
/// input, cached or not, is above `above` tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tier {
    /// The threshold, in tokens of context.
    pub above: u64,
    /// Input.
    pub input: f64,
    /// Output (and reasoning).
    pub output: f64,
    /// Cache reads.
    pub cache_read: f64,
    /// Cache writes.
    pub cache_write: f64,
}

/// One entry as LiteLLM writes it (the fields used; others are ignored).
#[derive(Clone, Debug, Default, PartialEq)]
struct Spec {
    input_cost_per_token: Option<f64>,
    output_cost_per_token: Option<f64>,
    cache_read_input_token_cost: Option<f64>,
    cache_creation_input_token_cost: Option<f64>,
    cache_creation_input_token_cost_above_1hr: Option<f64>,
    output_cost_per_reasoning_token: Option<f64>,
    /// `<field>_above_<N>k_tokens` prices.
    rest: HashMap<String, serde_json::Value>,
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Spec, D::Error> {
        Entry::deserialize(d)?
            .0
            .ok_or_else(|| serde::de::Error::custom("a price entry must be an object"))
    }
}

/// A key of the price list, borrowed from the input when it has no
/// escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A whole price list, in its order: its entries that are objects, but
/// LiteLLM's `sample_spec` (notes, not prices); other values are stepped
/// over.
struct Specs(Vec<(String, Option<Spec>)>);

impl<'de> Deserialize<'de> for Specs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Specs, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Specs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of price entries by model name")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Specs, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4096));
                while let Some(Key(key)) = map.next_key()? {
                    // What is not an entry is kept as none: it still
                    // replaces an entry of the same name before it.
                    let entry = if key == "sample_spec" {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        None
                    } else {
                        map.next_value::<Entry>()?.0
                    };
                    out.push((key.into_owned(), entry));
                }
                Ok(Specs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// An entry if it is an object (the prices used and the context tiers;
/// the rest is stepped over without being built: a derive with the rest
/// flattened buffered every field of the 3,882 entries, 9 ms of the first
/// priced record's time with every other scan thread waiting), else
/// nothing.
struct Entry(Option<Spec>);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a price entry")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entry, A::Error> {
                let mut spec = Spec::default();
                while let Some(Key(key)) = map.next_key()? {
                    let field = match &*key {
                        "input_cost_per_token" => &mut spec.input_cost_per_token,
                        "output_cost_per_token" => &mut spec.output_cost_per_token,
                        "cache_read_input_token_cost" => &mut spec.cache_read_input_token_cost,
                        "cache_creation_input_token_cost" => {
                            &mut spec.cache_creation_input_token_cost
                        }
                        "cache_creation_input_token_cost_above_1hr" => {
                            &mut spec.cache_creation_input_token_cost_above_1hr
                        }
                        "output_cost_per_reasoning_token" => {
                            &mut spec.output_cost_per_reasoning_token
                        }
                        k if k.contains("_above_") && k.ends_with("k_tokens") => {
                            let value = map.next_value()?;
                            spec.rest.insert(key.into_owned(), value);
                            continue;
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *field = map.next_value()?;
                }
                Ok(Entry(Some(spec)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Entry, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Entry(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_unit<E>(self) -> Result<Entry, E> {
                Ok(Entry(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl Spec {
    /// Fields of `over` replace those of `self`.
    fn overlay(mut self, over: Spec) -> Spec {
        macro_rules! take {
            ($($f:ident),+) => { $( if over.$f.is_some() { self.$f = over.$f; } )+ };
        }
        take!(
            input_cost_per_token,
            output_cost_per_token,
            cache_read_input_token_cost,
            cache_creation_input_token_cost,
            cache_creation_input_token_cost_above_1hr,
            output_cost_per_reasoning_token
        );
        self.rest.extend(over.rest);
        self
    }

    /// The rates, with ccusage's defaults for what the list leaves out:
    /// cache writes at 1.25× input (2× for the 1-hour cache), cache reads
    /// at 0.1× input, reasoning at the output price.
    fn rates(&self) -> Option<Rates> {
        let (input, output) = (self.input_cost_per_token?, self.output_cost_per_token?);
        let cache_write = self.cache_creation_input_token_cost.unwrap_or(input * 1.25);
        Some(Rates {
            input,
            output,
            cache_read: self.cache_read_input_token_cost.unwrap_or(input * 0.1),
            cache_write,
            cache_write_1h: self.cache_creation_input_token_cost_above_1hr.unwrap_or(input * 2.0),
            reasoning: self.output_cost_per_reasoning_token.unwrap_or(output),
            tier: self.tier(input, output, cache_write),
        })
    }

    /// The lowest threshold above which the input is priced apart.
    fn tier(&self, input: f64, output: f64, cache_write: f64) -> Option<Tier> {
        let price = |field: &str, k: u64| {
            self.rest.get(&format!("{field}_above_{k}k_tokens")).and_then(|v| v.as_f64())
        };
        let k = self
            .rest
            .keys()
            .filter_map(|key| {
                key.strip_prefix("input_cost_per_token_above_")?
                    .strip_suffix("k_tokens")?
                    .parse::<u64>()
                    .ok()
            })
            .min()?;
        let tier_input = price("input_cost_per_token", k)?;
        let ratio = if input > 0.0 { tier_input / input } else { 1.0 };
        Some(Tier {
            above: k * 1_000,
            input: tier_input,
            output: price("output_cost_per_token", k).unwrap_or(output),
            cache_read: price("cache_read_input_token_cost", k)
                .unwrap_or(self.cache_read_input_token_cost.unwrap_or(input * 0.1) * ratio),
            cache_write: price("cache_creation_input_token_cost", k).unwrap_or(cache_write * ratio),
        })
    }
}

/// A price table: the built-in snapshot, maybe with overrides.
#[derive(Debug)]
pub struct Table {
    names: Vec<String>,
    rates: Vec<Rates>,
    exact: HashMap<String, u32>,
    /// Where the prices come from, for reports.
    pub origin: String,
}

/// Where the built-in table came from.
#[derive(Debug, Deserialize)]
struct Meta {
    package: String,
    version: String,
    refreshed: String,
}

impl Table {
    /// The built-in table.
    pub fn builtin() -> Table {
        let specs = parse(SNAPSHOT.as_bytes()).expect("the built-in price table parses");
        Table::from_specs(last_of_each(specs), Table::builtin_origin())
    }

    /// The built-in table with the entries of `path` (LiteLLM's format)
    /// added or, field by field, overriding. An entry new to the table
    /// needs at least `input_cost_per_token` and `output_cost_per_token`.
    pub fn with_overrides(path: &Path) -> anyhow::Result<Table> {
        let bytes = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!("pricing file {}: {e}; fix --pricing or `pricing:`", path.display())
        })?;
        let over = parse(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "pricing file {} is not a price list ({e}); it takes LiteLLM's format: \
                 {{\"model\": {{\"input_cost_per_token\": 3e-06, \"output_cost_per_token\": \
                 1.5e-05}}}}",
                path.display()
            )
        })?;
        let over = last_of_each(over);
        let mut specs: HashMap<String, Spec> =
            last_of_each(parse(SNAPSHOT.as_bytes()).expect("the built-in price table parses"))
                .into_iter()
                .collect();
        let n = over.len();
        for (name, spec) in over {
            let merged = match specs.remove(&name) {
                Some(base) => base.overlay(spec),
                None => spec,
            };
            if merged.rates().is_none() {
                anyhow::bail!(
                    "pricing file {}: `{name}` needs input_cost_per_token and \
                     output_cost_per_token (USD per token)",
                    path.display()
                );
            }
            specs.insert(name, merged);
        }
        let origin = format!("{} + {n} entries of {}", Table::builtin_origin(), path.display());
        Ok(Table::from_specs(specs.into_iter().collect(), origin))
    }

    /// Where the built-in table came from, in words.
    fn builtin_origin() -> String {
        let meta: Meta = serde_json::from_str(SNAPSHOT_META).expect("the price table's metadata");
        format!("{} {} price list of {}", meta.package, meta.version, meta.refreshed)
    }

    /// The table of `specs` (each name once).
    fn from_specs(mut specs: Vec<(String, Spec)>, origin: String) -> Table {
        // Sorted already when they come from `last_of_each`: a linear pass.
        specs.sort_by(|a, b| a.0.cmp(&b.0));
        let entries: Vec<(String, Rates)> =
            specs.into_iter().filter_map(|(k, s)| Some((k, s.rates()?))).collect();
        let exact =
            entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i as u32 + 1)).collect();
        let (names, rates) = entries.into_iter().unzip();
        Table { names, rates, exact, origin }
    }

    /// How many models are priced.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing is priced.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The rates of an entry.
    pub fn rates(&self, id: PriceId) -> Option<&Rates> {
        self.rates.get((id.0 as usize).checked_sub(1)?)
    }

    /// The name of an entry (a key of the price list, never a raw name).
    pub fn name(&self, id: PriceId) -> Option<&str> {
        self.names.get((id.0 as usize).checked_sub(1)?).map(String::as_str)
    }

    /// The entry named exactly `name`.
    pub fn by_name(&self, name: &str) -> PriceId {
        self.exact.get(name).map_or(PriceId::NONE, |i| PriceId(*i))
    }

    /// The entry a raw model name (and maybe its provider) matches; see
    /// the module docs.
    pub fn find(&self, provider: Option<&str>, model: &str) -> PriceId {
        let model = model.trim();
        if model.is_empty() {
            return PriceId::NONE;
        }
        let lower = model.to_ascii_lowercase();
        let norm = normalise(&lower);
        for m in [model, lower.as_str(), norm.as_str()] {
            if let Some(i) = self.exact.get(m) {
                return PriceId(*i);
            }
        }
        if let Some(p) = provider.map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(i) = self.exact.get(&format!("{}/{lower}", p.to_ascii_lowercase())) {
                return PriceId(*i);
            }
        }
        // A provider-prefixed name (`openai/gpt-5`, `anthropic/claude-
        // sonnet-4.5`) is its model's entry when the list has it as such.
        if let Some((_, tail)) = lower.rsplit_once('/') {
            for m in [tail.to_string(), normalise(tail)] {
                if let Some(i) = self.exact.get(&m) {
                    return PriceId(*i);
                }
            }
        }
        self.names
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                let cn = normalise(c);
                contains_key(&lower, c)
                    || contains_key(c, &lower)
                    || contains_key(&norm, &cn)
                    || contains_key(&cn, &norm)
            })
            .max_by(|(_, a), (_, b)| a.len().cmp(&b.len()).then_with(|| b.cmp(a)))
            .map_or(PriceId::NONE, |(i, _)| PriceId(i as u32 + 1))
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin)
    }
}

/// Parses a price list in LiteLLM's format (entries that are not objects,
/// like LiteLLM's `sample_spec` notes, are skipped).
fn parse(bytes: &[u8]) -> Result<Vec<(String, Option<Spec>)>, serde_json::Error> {
    serde_json::from_slice::<Specs>(bytes).map(|s| s.0)
}

/// The entries of a parsed list sorted by name: of a name given twice,
/// the last, none when that is not an entry. (The snapshot's names come
/// sorted: the sort is a linear pass.)
fn last_of_each(mut list: Vec<(String, Option<Spec>)>) -> Vec<(String, Spec)> {
    list.reverse();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list.dedup_by(|a, b| a.0 == b.0);
    list.into_iter().filter_map(|(k, s)| Some((k, s?))).collect()
}

/// `.` and `@` read as `-` (`claude-3.5-sonnet@20240620`).
fn normalise(s: &str) -> String {
    s.replace(['.', '@'], "-")
}

/// True when `key` occurs in `value` between word boundaries, and is not
/// followed by a further version number (`gpt-5` in `gpt-5-1`), though an
/// 8-digit date may follow.
fn contains_key(value: &str, key: &str) -> bool {
    if key.is_empty() || key.len() > value.len() {
        return false;
    }
    let boundary = |b: Option<&u8>| b.is_none_or(|b| !b.is_ascii_alphanumeric());
    value.match_indices(key).any(|(i, _)| {
        let bytes = value.as_bytes();
        let before = i.checked_sub(1).and_then(|j| bytes.get(j));
        let rest = &value[i + key.len()..];
        if !boundary(before) || !boundary(rest.as_bytes().first()) {
            return false;
        }
        let versioned = key.as_bytes().last().is_some_and(u8::is_ascii_digit)
            && matches!(rest.as_bytes().first(), Some(b'-' | b'.'));
        if !versioned {
            return true;
        }
        let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
        digits == 0 || (digits == 8 && boundary(rest.as_bytes().get(1 + digits)))
    })
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// Makes `table` the one every price comes from (`--pricing`); only
/// before any token was priced. Returns false when it was too late.
pub fn install(table: Table) -> bool {
    TABLE.set(table).is_ok()
}

/// Where the active prices come from, in words (without reading the
/// built-in table when nothing was priced yet).
pub fn origin() -> String {
    match TABLE.get() {
        Some(t) => t.origin.clone(),
        None => Table::builtin_origin(),
    }
}

/// The active table (the built-in one unless [`install`] said otherwise).
pub fn table() -> &'static Table {
    TABLE.get_or_init(Table::builtin)
}

thread_local! {
    /// Raw names already matched on this thread (matching scans the table),
    /// keyed `provider NUL model`, and the key being built (no allocation
    /// per record once warm).
    static FOUND: RefCell<(HashMap<String, PriceId>, String)> =
        RefCell::new((HashMap::new(), String::new()));
}

/// The price of a raw model name (see the module docs), cached per thread.
pub fn lookup(provider: Option<&str>, model: &str) -> PriceId {
    FOUND.with(|found| {
        let (map, key) = &mut *found.borrow_mut();
        key.clear();
        key.push_str(provider.unwrap_or(""));
        key.push('\0');
        key.push_str(model);
        if let Some(id) = map.get(key.as_str()) {
            return *id;
        }
        let id = table().find(provider, model);
        map.insert(key.clone(), id);
        id
    })
}

/// How a call's tokens are priced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cost {
    /// From the table. `cache_write_1h`: the part of the cache writes kept
    /// an hour; `per_call`: the tokens are one call's (so a context above
    /// a threshold is priced at the higher tier), not a sum of calls.
    Table { cache_write_1h: u64, per_call: bool },
    /// What the agent recorded, in USD (a recorded 0 is priced from the
    /// table instead, as ccusage does: agents write 0 when they did not
    /// price a call).
    Recorded(f64),
    /// Exactly this many pico-dollars (the growth of a cost the agent
    /// keeps as a running total).
    Picos(u64),
}

impl Cost {
    /// One call's tokens, priced from the table.
    pub const CALL: Cost = Cost::Table { cache_write_1h: 0, per_call: true };
    /// A sum of calls' tokens, priced from the table (no tiers).
    pub const SUM: Cost = Cost::Table { cache_write_1h: 0, per_call: false };
}

/// What `usage` costs at `rates`, in pico-dollars.
pub fn cost_picos(r: &Rates, u: &Usage, cache_write_1h: u64, per_call: bool) -> u64 {
    let context = u.input.saturating_add(u.cache_read).saturating_add(u.cache_write);
    let (input, output, cache_read, cache_write, cw_1h, reasoning) = match r.tier {
        Some(t) if per_call && context > t.above => {
            let ratio = if r.input > 0.0 { t.input / r.input } else { 1.0 };
            let reasoning =
                if r.output > 0.0 { r.reasoning * t.output / r.output } else { t.output };
            (t.input, t.output, t.cache_read, t.cache_write, r.cache_write_1h * ratio, reasoning)
        }
        _ => (r.input, r.output, r.cache_read, r.cache_write, r.cache_write_1h, r.reasoning),
    };
    let hour = cache_write_1h.min(u.cache_write);
    [
        (u.input, input),
        (u.output, output),
        (u.cache_read, cache_read),
        (u.cache_write - hour, cache_write),
        (hour, cw_1h),
        (u.reasoning, reasoning),
    ]
    .iter()
    .fold(0u64, |a, (n, rate)| a.saturating_add(n.saturating_mul(picos(*rate))))
}

/// USD as pico-dollars (negative and non-finite amounts are 0).
pub fn picos(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * crate::metrics::PICOS_PER_USD).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(input: u64, cache_read: u64, cache_write: u64, output: u64, reasoning: u64) -> Usage {
        Usage { input, cache_read, cache_write, output, reasoning }
    }

    /// The entries of a parsed list by name.
    fn by_name(list: Vec<(String, Option<Spec>)>) -> HashMap<String, Spec> {
        last_of_each(list).into_iter().collect()
    }

    /// What [`parse`] must make of a list, worked out from its JSON tree.
    fn parsed_from_the_tree(bytes: &[u8]) -> HashMap<String, Spec> {
        let tree: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let price = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        let mut out = HashMap::new();
        for (name, v) in tree.as_object().unwrap() {
            let Some(fields) = v.as_object().filter(|_| name != "sample_spec") else { continue };
            let rest = fields
                .iter()
                .filter(|(k, _)| k.contains("_above_") && k.ends_with("k_tokens"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.insert(
                name.clone(),
                Spec {
                    input_cost_per_token: price(v, "input_cost_per_token"),
                    output_cost_per_token: price(v, "output_cost_per_token"),
                    cache_read_input_token_cost: price(v, "cache_read_input_token_cost"),
                    cache_creation_input_token_cost: price(v, "cache_creation_input_token_cost"),
                    cache_creation_input_token_cost_above_1hr: price(
                        v,
                        "cache_creation_input_token_cost_above_1hr",
                    ),
                    output_cost_per_reasoning_token: price(v, "output_cost_per_reasoning_token"),
                    rest,
                },
            );
        }
        out
    }

    #[test]
    fn the_list_parses_to_what_its_json_says() {
        let builtin = by_name(parse(SNAPSHOT.as_bytes()).unwrap());
        assert!(builtin.len() > 3000, "{}", builtin.len());
        assert_eq!(builtin, parsed_from_the_tree(SNAPSHOT.as_bytes()));
        let tiers = builtin.values().filter(|s| !s.rest.is_empty()).count();
        assert!(tiers > 100, "{tiers}");
        // Notes, values that are not entries, escapes, nulls, other fields.
        let list = br#"{
            "sample_spec": {"input_cost_per_token": "a note", "max_tokens": "LEGACY"},
            "a-note": "text", "n": 3, "f": 1.5, "no": false, "none": null, "list": [1, {"x": 2}],
            "esc\u0061ped/m\"odel": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            "m": {"input_cost_per_token": 1e-6, "output_cost_per_token": null,
                  "mode": "chat", "supports": {"vision": true, "list": [1, 2]},
                  "input_cost_per_token_above_200k_tokens": 2e-6,
                  "output_cost_per\u005ftoken_above_200k_tokens": 3e-6,
                  "cache_creation_input_token_cost_above_1hr": 4e-6}
        }"#;
        let got = by_name(parse(list).unwrap());
        assert_eq!(got, parsed_from_the_tree(list));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got["m"].rest.len(), 2);
        assert!(got.contains_key("escaped/m\"odel"));
        // A price that is not a number is an error, as it was; of a price
        // given twice, the last (as a JSON tree has it).
        assert!(parse(br#"{"m": {"input_cost_per_token": "1e-6"}}"#).is_err());
        let twice = br#"{"m": {"input_cost_per_token": 2, "input_cost_per_token": null,
            "output_cost_per_token": 1, "input_cost_per_token": 3}}"#;
        let got = by_name(parse(twice).unwrap());
        assert_eq!(got, parsed_from_the_tree(twice));
        assert_eq!(got["m"].input_cost_per_token, Some(3.0));
        assert!(parse(br#"["m"]"#).is_err());
        // Of a name given twice, the last.
        let t = Table::from_specs(
            last_of_each(
                parse(
                    br#"{"b": {"input_cost_per_token": 1, "output_cost_per_token": 1},
                "a": {"input_cost_per_token": 2, "output_cost_per_token": 2},
                "b": {"input_cost_per_token": 3, "output_cost_per_token": 3}}"#,
                )
                .unwrap(),
            ),
            String::new(),
        );
        assert_eq!((t.len(), t.name(PriceId(1)), t.name(PriceId(2))), (2, Some("a"), Some("b")));
        assert_eq!(t.rates(t.by_name("b")).map(|r| r.input), Some(3.0));
        // A name given last as something else than an entry is not priced.
        let gone = br#"{"m": {"input_cost_per_token": 1, "output_cost_per_token": 1}, "m": null}"#;
        assert!(by_name(parse(gone).unwrap()).is_empty());
        assert!(Table::from_specs(last_of_each(parse(gone).unwrap()), String::new()).is_empty());
    }

    #[test]
    fn the_builtin_table_prices_the_common_models() {
        let t = table();
        assert!(t.len() > 1000, "{} models", t.len());
        for m in ["claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"] {
            assert!(!t.find(None, m).is_none(), "{m}");
        }
        assert!(t.origin.starts_with("litellm "), "{}", t.origin);
    }

    #[test]
    fn names_match_like_ccusage() {
        let t = table();
        let name = |p: Option<&str>, m: &str| t.name(t.find(p, m)).map(str::to_owned);
        // A dated id is its undated entry or a dated one, never another
        // version.
        let dated = name(None, "claude-sonnet-4-5-20250929").unwrap();
        assert!(dated.contains("claude-sonnet-4-5"), "{dated}");
        assert_eq!(name(None, "gpt-5").as_deref(), Some("gpt-5"));
        assert_ne!(name(None, "gpt-5.1").as_deref(), Some("gpt-5"));
        assert_eq!(name(None, "GPT-5").as_deref(), Some("gpt-5"));
        // A provider prefix the list does not have is dropped before any
        // fuzzy match (which would find a longer, other entry).
        assert_eq!(name(None, "openai/gpt-5").as_deref(), Some("gpt-5"));
        assert_eq!(name(None, "anthropic/claude-sonnet-4.5").as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(name(None, "CANARY-private-model-zz9"), None);
        assert_eq!(name(None, ""), None);
    }

    #[test]
    fn boundaries_and_versions() {
        assert!(contains_key("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"));
        assert!(contains_key("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"));
        assert!(!contains_key("claude-sonnet-4-5-1", "claude-sonnet-4-5"));
        assert!(!contains_key("gpt-5-1", "gpt-5"));
        assert!(!contains_key("xgpt-5", "gpt-5"));
        assert!(contains_key("gpt-5-mini", "gpt-5"));
    }

    #[test]
    fn cost_partitions_the_types_with_defaults() {
        let spec: Spec =
            serde_json::from_str(r#"{"input_cost_per_token":1e-6,"output_cost_per_token":4e-6}"#)
                .unwrap();
        let r = spec.rates().unwrap();
        let c = cost_picos(&r, &u(1_000, 1_000, 1_000, 1_000, 1_000), 400, true);
        // input 1e-3 + cache read 1e-4 + 600 × 1.25e-6 + 400 × 2e-6
        // + output 4e-3 + reasoning 4e-3 = 0.01065 USD
        assert_eq!(c, 10_650_000_000);
        // Split in two, the same to the pico-dollar.
        let a = cost_picos(&r, &u(333, 1, 999, 7, 500), 0, true);
        let b = cost_picos(&r, &u(667, 999, 1, 993, 500), 0, true);
        assert_eq!(a + b, cost_picos(&r, &u(1_000, 1_000, 1_000, 1_000, 1_000), 0, true));
    }

    #[test]
    fn a_call_above_the_threshold_is_priced_whole_at_the_tier() {
        let spec: Spec = serde_json::from_str(
            r#"{"input_cost_per_token":1e-6,"output_cost_per_token":2e-6,
                "input_cost_per_token_above_200k_tokens":2e-6,
                "output_cost_per_token_above_200k_tokens":3e-6}"#,
        )
        .unwrap();
        let r = spec.rates().unwrap();
        assert_eq!(r.tier.unwrap().above, 200_000);
        let usd = |p: u64| p as f64 / 1e12;
        let small = usd(cost_picos(&r, &u(200_000, 0, 0, 10, 0), 0, true));
        assert!((small - (0.2 + 20e-6)).abs() < 1e-9);
        let big = usd(cost_picos(&r, &u(150_000, 60_000, 0, 10, 0), 0, true));
        assert!((big - (0.3 + 60_000.0 * 0.2e-6 + 30e-6)).abs() < 1e-9, "{big}");
        // A sum of calls is never priced at the tier.
        let sum = usd(cost_picos(&r, &u(150_000, 60_000, 0, 10, 0), 0, false));
        assert!((sum - (0.15 + 60_000.0 * 0.1e-6 + 20e-6)).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn overrides_add_and_replace_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prices.json");
        std::fs::write(
            &p,
            r#"{"gpt-5":{"input_cost_per_token":9e-6},
                "acme-coder-1":{"input_cost_per_token":1e-6,"output_cost_per_token":2e-6}}"#,
        )
        .unwrap();
        let t = Table::with_overrides(&p).unwrap();
        let gpt = t.rates(t.by_name("gpt-5")).unwrap();
        assert_eq!((gpt.input, gpt.output), (9e-6, 1e-5));
        assert_eq!(t.rates(t.find(None, "acme-coder-1")).unwrap().output, 2e-6);
        assert!(t.origin.contains("2 entries"), "{}", t.origin);
        std::fs::write(&p, r#"{"acme-coder-2":{"input_cost_per_token":1e-6}}"#).unwrap();
        let e = Table::with_overrides(&p).unwrap_err().to_string();
        assert!(e.contains("acme-coder-2") && e.contains("output_cost_per_token"), "{e}");
        std::fs::write(&p, "[1,2]").unwrap();
        let e = Table::with_overrides(&p).unwrap_err().to_string();
        assert!(e.contains("prices.json") && e.contains("LiteLLM's format"), "{e}");
    }

    #[test]
    fn picos_are_rounded_and_never_negative() {
        assert_eq!(picos(1.5e-12), 2);
        assert_eq!(picos(-1.0), 0);
        assert_eq!(picos(f64::NAN), 0);
        assert_eq!(picos(0.01), 10_000_000_000);
        assert_eq!(picos(3.75e-6), 3_750_000);
    }
}
