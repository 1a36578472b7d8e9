//! The `gatehouse` binary's library half: CLI, config, wiring, telemetry and serving.
//! Integration tests drive it through [`app::build`] and [`app::serve`] or the real binary.

pub mod app;
pub mod breached;
pub mod cli;
pub mod config;
pub mod email;
pub mod housekeeping;
pub mod keys;
pub mod oauth;
pub mod queue;
pub mod secrets;
pub mod server;
pub mod telemetry;
pub mod webhooks;
pub mod worker;
