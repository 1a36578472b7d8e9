//! Gatehouse's domain logic and the storage traits (ports) that adapters implement.
//!
//! Invariants: this crate does no IO. It knows nothing of HTTP, SQL drivers or Redis; time comes in
//! through a [`clock::Clock`], randomness through the caller, and persistence through the traits
//! in [`store`]. That keeps every rule here testable without a server or a sleep.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod breached;
pub mod circuit;
pub mod clock;
pub mod csrf;
pub mod devices;
pub mod email;
pub mod forward_auth;
pub mod health;
pub mod jobs;
pub mod mfa;
pub mod mode;
pub mod oauth;
pub mod password;
pub mod privacy;
pub mod rate_limit;
pub mod redact;
pub mod sealing;
pub mod secret;
pub mod sessions;
pub mod store;
pub mod tokens;
pub mod vault;
pub mod webhooks;
pub mod workspaces;
