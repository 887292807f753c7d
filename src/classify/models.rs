//! Model names and families.
//!
//! `model` on the wire is a name from [`KNOWN_MODELS`] or `other`; the raw
//! model id from a file is normalised (lower-cased, provider prefixes and
//! date/version suffixes removed) and must then match an entry exactly.
//! `model.family` is the model's maker: taken from the model name when it
//! is recognisable (so Claude on Bedrock is `anthropic`), else from the
//! provider, else `other` (a model we cannot place) or `unknown` (nothing
//! to go on).

use crate::metrics::{Family, ModelRef};

/// The bounded list of model names that may appear in `model`, with their
/// family. Documented in `docs/metrics.md`; extend both together.
pub const KNOWN_MODELS: &[(&str, Family)] = &[
    // Anthropic
    ("claude-opus-4-7", Family::Anthropic),
    ("claude-sonnet-4-7", Family::Anthropic),
    ("claude-haiku-4-7", Family::Anthropic),
    ("claude-haiku-4-6", Family::Anthropic),
    ("claude-opus-4-5", Family::Anthropic),
    ("claude-opus-4-6", Family::Anthropic),
    ("claude-opus-4-1", Family::Anthropic),
    ("claude-opus-4", Family::Anthropic),
    ("claude-sonnet-4-5", Family::Anthropic),
    ("claude-sonnet-4-6", Family::Anthropic),
    ("claude-sonnet-4", Family::Anthropic),
    ("claude-haiku-4-5", Family::Anthropic),
    ("claude-3-7-sonnet", Family::Anthropic),
    ("claude-3-5-sonnet", Family::Anthropic),
    ("claude-3-5-haiku", Family::Anthropic),
    ("claude-3-opus", Family::Anthropic),
    ("claude-3-haiku", Family::Anthropic),
    // OpenAI
    ("gpt-5", Family::Openai),
    ("gpt-5-mini", Family::Openai),
    ("gpt-5-nano", Family::Openai),
    ("gpt-5-pro", Family::Openai),
    ("gpt-5-codex", Family::Openai),
    ("gpt-5-codex-mini", Family::Openai),
    ("gpt-5.1", Family::Openai),
    ("gpt-5.1-codex", Family::Openai),
    ("gpt-5.1-codex-mini", Family::Openai),
    ("gpt-5.1-codex-max", Family::Openai),
    ("gpt-5.2", Family::Openai),
    ("gpt-5.2-codex", Family::Openai),
    ("gpt-5.2-pro", Family::Openai),
    ("gpt-5.3", Family::Openai),
    ("gpt-5.3-codex", Family::Openai),
    ("gpt-5.3-codex-spark", Family::Openai),
    ("gpt-5.4", Family::Openai),
    ("gpt-5.4-mini", Family::Openai),
    ("gpt-5.4-codex", Family::Openai),
    ("gpt-5.5", Family::Openai),
    ("gpt-5.5-codex", Family::Openai),
    ("codex-auto-review", Family::Openai),
    ("gpt-4.1", Family::Openai),
    ("gpt-4.1-mini", Family::Openai),
    ("gpt-4.1-nano", Family::Openai),
    ("gpt-4o", Family::Openai),
    ("gpt-4o-mini", Family::Openai),
    ("gpt-oss-120b", Family::Openai),
    ("gpt-oss-20b", Family::Openai),
    ("o1", Family::Openai),
    ("o3", Family::Openai),
    ("o3-mini", Family::Openai),
    ("o3-pro", Family::Openai),
    ("o4-mini", Family::Openai),
    ("codex-mini-latest", Family::Openai),
    // Google
    ("gemini-3.1-pro", Family::Google),
    ("gemini-3.1-flash", Family::Google),
    ("gemini-3.1-flash-lite", Family::Google),
    ("gemini-3-pro", Family::Google),
    ("gemini-3-flash", Family::Google),
    ("gemini-2.5-pro", Family::Google),
    ("gemini-2.5-flash", Family::Google),
    ("gemini-2.5-flash-lite", Family::Google),
    ("gemini-2.0-flash", Family::Google),
    ("gemini-2.0-flash-lite", Family::Google),
    ("gemma-3", Family::Google),
    // xAI
    ("grok-4.1", Family::Xai),
    ("grok-4.1-fast", Family::Xai),
    ("grok-4-1-fast", Family::Xai),
    ("grok-code-fast-2", Family::Xai),
    ("grok-5", Family::Xai),
    ("grok-4", Family::Xai),
    ("grok-4-fast", Family::Xai),
    ("grok-code-fast-1", Family::Xai),
    ("grok-3", Family::Xai),
    ("grok-3-mini", Family::Xai),
    // Meta
    ("llama-4-maverick", Family::Meta),
    ("llama-4-scout", Family::Meta),
    ("llama-3.3-70b", Family::Meta),
    ("llama-3.1-405b", Family::Meta),
    ("llama-3.1-70b", Family::Meta),
    ("llama-3.1-8b", Family::Meta),
    // Mistral
    ("mistral-large", Family::Mistral),
    ("mistral-large-3", Family::Mistral),
    ("devstral-2", Family::Mistral),
    ("mistral-medium", Family::Mistral),
    ("mistral-small", Family::Mistral),
    ("codestral", Family::Mistral),
    ("devstral", Family::Mistral),
    ("devstral-medium", Family::Mistral),
    ("devstral-small", Family::Mistral),
    ("magistral-medium", Family::Mistral),
    // DeepSeek
    ("deepseek-chat", Family::Deepseek),
    ("deepseek-reasoner", Family::Deepseek),
    ("deepseek-v3", Family::Deepseek),
    ("deepseek-v3.1", Family::Deepseek),
    ("deepseek-v3.2", Family::Deepseek),
    ("deepseek-r1", Family::Deepseek),
    ("deepseek-v4", Family::Deepseek),
    // Qwen
    ("qwen3-coder", Family::Qwen),
    ("qwen3-coder-plus", Family::Qwen),
    ("qwen3-max", Family::Qwen),
    ("qwen3.5-plus", Family::Qwen),
    ("qwen3-coder-next", Family::Qwen),
    ("qwen3-235b-a22b", Family::Qwen),
    ("qwen3-32b", Family::Qwen),
    ("qwen-max", Family::Qwen),
    ("qwen-plus", Family::Qwen),
    // Moonshot
    ("kimi-k2", Family::Moonshot),
    ("kimi-k2-thinking", Family::Moonshot),
    ("kimi-k2-turbo", Family::Moonshot),
    ("kimi-k2.5", Family::Moonshot),
    // Zhipu
    ("glm-4.5", Family::Zhipu),
    ("glm-4.5-air", Family::Zhipu),
    ("glm-4.6", Family::Zhipu),
    ("glm-4.7", Family::Zhipu),
    ("glm-5", Family::Zhipu),
    // Amazon
    ("nova-premier", Family::Amazon),
    ("nova-pro", Family::Amazon),
    ("nova-lite", Family::Amazon),
    ("nova-micro", Family::Amazon),
];

/// Name prefixes that identify a model's maker even when the exact model
/// is not in [`KNOWN_MODELS`] (it is then sent as `other` with this family).
const FAMILY_PREFIXES: &[(&str, Family)] = &[
    ("claude", Family::Anthropic),
    ("gpt-", Family::Openai),
    ("chatgpt", Family::Openai),
    ("codex", Family::Openai),
    ("o1", Family::Openai),
    ("o3", Family::Openai),
    ("o4", Family::Openai),
    ("gemini", Family::Google),
    ("gemma", Family::Google),
    ("grok", Family::Xai),
    ("llama", Family::Meta),
    ("mistral", Family::Mistral),
    ("mixtral", Family::Mistral),
    ("codestral", Family::Mistral),
    ("devstral", Family::Mistral),
    ("magistral", Family::Mistral),
    ("ministral", Family::Mistral),
    ("deepseek", Family::Deepseek),
    ("qwen", Family::Qwen),
    ("qwq", Family::Qwen),
    ("kimi", Family::Moonshot),
    ("moonshot", Family::Moonshot),
    ("glm", Family::Zhipu),
    ("nova", Family::Amazon),
];

/// Provider names (as agents write them) and the family they imply when
/// the model name says nothing. Hosting providers (Bedrock, OpenRouter,
/// Vertex) are absent on purpose: they host other makers' models.
const PROVIDERS: &[(&str, Family)] = &[
    ("anthropic", Family::Anthropic),
    ("openai", Family::Openai),
    ("openai-codex", Family::Openai),
    ("azure-openai-responses", Family::Openai),
    ("google", Family::Google),
    ("google-gemini-cli", Family::Google),
    ("google-vertex", Family::Google),
    ("gemini", Family::Google),
    ("xai", Family::Xai),
    ("meta", Family::Meta),
    ("mistral", Family::Mistral),
    ("deepseek", Family::Deepseek),
    ("qwen", Family::Qwen),
    ("alibaba", Family::Qwen),
    ("dashscope", Family::Qwen),
    ("moonshot", Family::Moonshot),
    ("moonshotai", Family::Moonshot),
    ("kimi", Family::Moonshot),
    ("zhipu", Family::Zhipu),
    ("zai", Family::Zhipu),
    ("z-ai", Family::Zhipu),
];

/// Vendor segments used by Bedrock-style ids (`us.anthropic.claude-…`).
const VENDOR_SEGMENTS: &[&str] =
    &["anthropic", "meta", "mistral", "amazon", "deepseek", "qwen", "openai", "moonshot"];

/// Region segments used by Bedrock cross-region inference profiles.
const REGION_SEGMENTS: &[&str] = &["us", "eu", "apac", "global", "jp", "au", "ca", "us-gov"];

/// Reduces a raw model id to the form the tables use: lower case, no
/// `provider/` path, no Bedrock region or vendor segment, no `:tag`,
/// `@version`, `-v1`, `-latest`, `-preview…` or date suffix.
fn normalise(raw: &str) -> String {
    let mut s = raw.trim().to_ascii_lowercase();
    if let Some(i) = s.rfind('/') {
        s = s[i + 1..].to_string();
    }
    for cut in [':', '@'] {
        if let Some(i) = s.find(cut) {
            s.truncate(i);
        }
    }
    // Bedrock: [region.]vendor.model
    let mut parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 2 && REGION_SEGMENTS.contains(&parts[0]) {
        parts.remove(0);
    }
    if parts.len() > 1 && VENDOR_SEGMENTS.contains(&parts[0]) {
        parts.remove(0);
    }
    let mut s = parts.join(".");
    loop {
        if is_known(&s) {
            return s;
        }
        let before = s.len();
        for suffix in ["-latest", "-thinking-exp", "-exp"] {
            if s.ends_with(suffix) {
                s.truncate(s.len() - suffix.len());
            }
        }
        strip_version_suffix(&mut s);
        if s.len() == before {
            return s;
        }
    }
}

/// Removes one trailing `-v<digits>`, `-<yyyymmdd>`, `-<yyyy-mm-dd>`,
/// `-<mmdd>` or `-preview[-…]` suffix.
fn strip_version_suffix(s: &mut String) {
    if let Some(i) = s.find("-preview") {
        s.truncate(i);
        return;
    }
    let Some(i) = s.rfind('-') else { return };
    let tail = &s[i + 1..];
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let is_version = tail.len() > 1 && tail.starts_with('v') && digits(&tail[1..]);
    let is_date = (tail.len() == 8 || tail.len() == 4) && digits(tail);
    if is_version || is_date {
        s.truncate(i);
        return;
    }
    // yyyy-mm-dd
    if s.len() >= 11 {
        let t = &s[s.len() - 11..];
        let b = t.as_bytes();
        if b[0] == b'-'
            && b[5] == b'-'
            && b[8] == b'-'
            && digits(&t[1..5])
            && digits(&t[6..8])
            && digits(&t[9..11])
        {
            let n = s.len() - 11;
            s.truncate(n);
        }
    }
}

/// True when `s` is exactly a name of [`KNOWN_MODELS`].
fn is_known(s: &str) -> bool {
    KNOWN_MODELS.iter().any(|(m, _)| *m == s)
}

/// The family implied by a provider name alone.
fn provider_family(provider: &str) -> Option<Family> {
    let p = provider.trim().to_ascii_lowercase();
    PROVIDERS.iter().find(|(name, _)| *name == p).map(|(_, f)| *f)
}

/// Classifies a (provider, model) pair, either of which may be missing,
/// and prices the raw model name ([`crate::pricing`]).
pub fn classify(provider: Option<&str>, model: Option<&str>) -> ModelRef {
    let r = classify_unpriced(provider, model);
    match model.map(str::trim).filter(|m| !m.is_empty()) {
        Some(raw) => r.priced(crate::pricing::lookup(provider.map(str::trim), raw)),
        None => r,
    }
}

/// [`classify`] without the price.
fn classify_unpriced(provider: Option<&str>, model: Option<&str>) -> ModelRef {
    let model = model.map(str::trim).filter(|m| !m.is_empty());
    let provider = provider.map(str::trim).filter(|p| !p.is_empty());
    let Some(raw) = model else {
        return match provider.and_then(provider_family) {
            Some(family) => ModelRef::new(family, "unknown"),
            None => ModelRef::UNKNOWN,
        };
    };
    let norm = normalise(raw);
    if let Some((name, family)) = KNOWN_MODELS.iter().find(|(m, _)| *m == norm) {
        return ModelRef::new(*family, name);
    }
    let family = FAMILY_PREFIXES
        .iter()
        .find(|(p, _)| norm.starts_with(p))
        .map(|(_, f)| *f)
        .or_else(|| provider.and_then(provider_family))
        .unwrap_or(Family::Other);
    ModelRef::new(family, "other")
}

/// Maps a stored `(family, name)` pair and the name of its price entry
/// back onto the tables. Values that are not members (a hand-edited state
/// file) become `other`/`unknown` (and unpriced).
pub fn from_stored(family: &str, name: &str, price: Option<&str>) -> ModelRef {
    let family =
        Family::ALL.iter().copied().find(|f| f.as_str() == family).unwrap_or(Family::Unknown);
    let name = match KNOWN_MODELS.iter().find(|(m, _)| *m == name) {
        Some((m, _)) => *m,
        None if name == "unknown" => "unknown",
        None => "other",
    };
    let price = price.map_or(crate::pricing::PriceId::NONE, |p| crate::pricing::table().by_name(p));
    ModelRef::new(family, name).priced(price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(p: &str, m: &str) -> (Family, &'static str) {
        let r = classify(Some(p).filter(|s| !s.is_empty()), Some(m).filter(|s| !s.is_empty()));
        (r.family, r.name)
    }

    #[test]
    fn anthropic_ids_with_dates_and_bedrock_prefixes() {
        assert_eq!(
            c("anthropic", "claude-sonnet-4-5-20250929"),
            (Family::Anthropic, "claude-sonnet-4-5")
        );
        assert_eq!(
            c("amazon-bedrock", "us.anthropic.claude-opus-4-6-v1"),
            (Family::Anthropic, "claude-opus-4-6")
        );
        assert_eq!(
            c("amazon-bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
            (Family::Anthropic, "claude-3-5-sonnet")
        );
        assert_eq!(
            c("openrouter", "anthropic/claude-haiku-4-5"),
            (Family::Anthropic, "claude-haiku-4-5")
        );
    }

    #[test]
    fn longest_names_do_not_collapse_into_shorter_ones() {
        assert_eq!(c("openai", "gpt-5-codex"), (Family::Openai, "gpt-5-codex"));
        assert_eq!(c("openai", "gpt-5"), (Family::Openai, "gpt-5"));
        assert_eq!(c("openai", "gpt-5.1-codex-max"), (Family::Openai, "gpt-5.1-codex-max"));
        assert_eq!(c("openai", "gpt-4.1-2025-04-14"), (Family::Openai, "gpt-4.1"));
    }

    #[test]
    fn other_vendors() {
        assert_eq!(c("google", "gemini-2.5-pro-preview-06-05"), (Family::Google, "gemini-2.5-pro"));
        assert_eq!(c("xai", "grok-code-fast-1"), (Family::Xai, "grok-code-fast-1"));
        assert_eq!(c("amazon-bedrock", "us.meta.llama-4-scout-17b"), (Family::Meta, "other"));
        assert_eq!(c("amazon-bedrock", "amazon.nova-pro-v1:0"), (Family::Amazon, "nova-pro"));
        assert_eq!(c("deepseek", "deepseek-reasoner"), (Family::Deepseek, "deepseek-reasoner"));
        assert_eq!(c("deepseek", "deepseek-v3"), (Family::Deepseek, "deepseek-v3"));
        assert_eq!(c("openai", "codex-mini-latest"), (Family::Openai, "codex-mini-latest"));
        assert_eq!(c("zai", "glm-4.6"), (Family::Zhipu, "glm-4.6"));
        assert_eq!(c("moonshot", "kimi-k2-0905-preview"), (Family::Moonshot, "kimi-k2"));
    }

    #[test]
    fn unlisted_models_become_other_and_never_echo_the_input() {
        assert_eq!(c("anthropic", "claude-9-ultra"), (Family::Anthropic, "other"));
        assert_eq!(c("my-proxy", "CANARY-secret-model"), (Family::Other, "other"));
        assert_eq!(c("openai", "totally-custom"), (Family::Openai, "other"));
    }

    #[test]
    fn missing_model_falls_back_to_provider_or_unknown() {
        assert_eq!(c("anthropic", ""), (Family::Anthropic, "unknown"));
        assert_eq!(c("", ""), (Family::Unknown, "unknown"));
        assert_eq!(c("some-router", ""), (Family::Unknown, "unknown"));
    }

    #[test]
    fn every_known_model_maps_to_itself() {
        for (name, family) in KNOWN_MODELS {
            assert_eq!(c("", name), (*family, *name), "{name}");
        }
    }
}
