//! [`Boxed`]: a format's context in a file state, kept out of line.
//!
//! A [`FileState`](crate::state::FileState) has one field per format's
//! context, and a file has at most one format, so inline fields would cost
//! every file the sum of them all (about 850 bytes). Out of line, an unused
//! context costs a null pointer; reading it gives the format's empty value,
//! and the first write allocates it.

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value of `T` that is the default (`None`) or boxed.
#[derive(Clone, Debug, Default)]
pub struct Boxed<T>(Option<Box<T>>);

/// A type with a shared empty value, which an empty [`Boxed`] reads as.
pub trait Empty: Default + PartialEq + Send + Sync + 'static {
    /// The shared default value.
    fn empty() -> &'static Self;
}

/// Gives each listed type its shared empty value.
macro_rules! empty {
    ($($t:ty),* $(,)?) => {$(
        impl Empty for $t {
            fn empty() -> &'static Self {
                static EMPTY: OnceLock<$t> = OnceLock::new();
                EMPTY.get_or_init(<$t>::default)
            }
        }
    )*};
}

empty!(
    crate::agents::pi::records::PiState,
    crate::agents::claude_code::records::ClaudeState,
    crate::agents::codex::records::CodexState,
    crate::agents::gemini_cli::records::GeminiState,
    crate::agents::hermes::records::HermesState,
    crate::agents::usage::UsageState,
);

impl<T: Empty> Boxed<T> {
    /// Wraps a value (an empty one takes no allocation).
    pub fn new(v: T) -> Boxed<T> {
        if v == T::default() {
            Boxed(None)
        } else {
            Boxed(Some(Box::new(v)))
        }
    }

    /// The value, leaving this empty.
    pub fn take(&mut self) -> T {
        self.0.take().map(|b| *b).unwrap_or_default()
    }
}

impl<T: Empty> From<T> for Boxed<T> {
    fn from(v: T) -> Boxed<T> {
        Boxed::new(v)
    }
}

impl<T: Empty> Deref for Boxed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or_else(|| T::empty())
    }
}

impl<T: Empty> DerefMut for Boxed<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: Empty> PartialEq for Boxed<T> {
    fn eq(&self, other: &Boxed<T>) -> bool {
        **self == **other
    }
}

impl<T: Empty + Eq> Eq for Boxed<T> {}

impl<T: Empty + Serialize> Serialize for Boxed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: Empty + Deserialize<'de>> Deserialize<'de> for Boxed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Boxed<T>, D::Error> {
        T::deserialize(d).map(Boxed::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::pi::records::PiState;

    #[test]
    fn empty_reads_as_default_and_takes_no_allocation_until_written() {
        let mut b: Boxed<PiState> = Boxed::default();
        assert!(b.0.is_none());
        assert_eq!(*b, PiState::default());
        assert_eq!(b, Boxed::new(PiState::default()));
        b.session = Some(7);
        assert!(b.0.is_some());
        assert_eq!(b.session, Some(7));
        assert_ne!(b, Boxed::default());
        let json = serde_json::to_string(&b).unwrap();
        let back: Boxed<PiState> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        let empty: Boxed<PiState> = serde_json::from_str("{}").unwrap();
        assert!(empty.0.is_none());
        assert_eq!(b.take().session, Some(7));
        assert!(b.0.is_none());
    }
}
