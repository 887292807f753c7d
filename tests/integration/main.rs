//! Integration tests: the real `telemetron` binary, run against temporary
//! homes and a loopback OTLP receiver. One test binary (see Cargo.toml).

mod agents;
mod batches;
mod cli;
mod contrib;
mod counting;
mod delivery;
mod detect;
mod enroll;
mod faults;
mod identity;
mod install;
mod lifecycle;
mod model;
mod model_identity;
mod network;
mod otel;
mod privacy;
mod privilege;
mod property;
mod readme;
mod report;
mod schedule;
mod setup;
mod status;
mod stores;
mod usage_agents;
mod util;
