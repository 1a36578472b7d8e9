//! Gatehouse's one integration-test binary. Suites that need PostgreSQL run when
//! `GATEHOUSE_TEST_DATABASE_URL` is set (and must be, in CI).

mod account_pages;
mod accounts;
mod admin;
mod api_keys;
mod binary;
mod cli;
mod coherence;
mod config;
mod csrf;
mod email;
mod forward_auth;
mod health;
mod http;
mod jobs;
mod limits;
mod metrics;
mod mfa;
mod oauth;
mod openapi;
mod outages;
mod pages;
mod passkeys;
mod privacy;
mod profile;
mod rate_limit;
mod redis;
mod secrets;
mod store_contract;
mod support;
mod tokens;
mod vault;
mod webhooks;
mod worker;
mod workspaces;
