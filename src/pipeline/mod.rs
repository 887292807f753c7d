//! The stages of a scan, in order: [`discover`] lists every agent's
//! sources, [`count`] reads what was added to each since the last run and
//! counts it, [`batch`] turns the counts into the points one request sends.
//! Delivery is [`crate::export`]; the commit is [`crate::state`].

pub mod batch;
pub mod count;
pub mod discover;
pub mod stores;
