//! `gatehouse api-key`: service API keys.

use clap::Subcommand;
use gatehouse_core::api_keys::{ApiKey, ApiKeySecret, parse_scopes};
use gatehouse_core::audit::{Actor, AuditAction, AuditEvent};
use gatehouse_core::sessions::ClientContext;

use super::database;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum ApiKeyCommand {
    /// Create a key and print it. It is shown this once; only a hash is stored.
    Create {
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// A scope the key holds (admin, audit, rate_limit, vault, webhooks); repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List keys (never the secrets).
    List,
    /// Revoke a key by id. Running instances stop accepting it within `api_keys.cache_ttl_secs`.
    Revoke {
        /// The key's id, from `api-key list`.
        id: String,
    },
}

pub(super) async fn run(config: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let database = database(&config).await?;
    let store = database.api_keys();
    let now = gatehouse_core::clock::to_millis(time::OffsetDateTime::now_utc());
    let operator = ClientContext::default();
    match command {
        ApiKeyCommand::Create { name, scopes } => {
            let scopes = parse_scopes(scopes.iter().flat_map(|s| s.split(',')))?;
            let name = name.trim().to_owned();
            anyhow::ensure!(!name.is_empty() && name.chars().count() <= 100, "--name must be 1 to 100 characters");
            let mut bytes = [0_u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
            let secret = ApiKeySecret::from_random(bytes);
            let key = ApiKey {
                id: uuid::Uuid::new_v4(),
                name,
                prefix: secret.display_prefix(),
                scopes,
                created_at: now,
                last_used_at: None,
                revoked_at: None,
            };
            let event = AuditEvent::new(AuditAction::ApiKeyCreated, Actor::Operator, now, &operator)
                .target("api_key", key.id)
                .detail("name", key.name.clone())
                .detail("scopes", key.scopes.join(" "));
            store.create_api_key(&key, &secret.hash(), &[event]).await?;
            eprintln!("created API key {} ({}) with scopes: {}", key.id, key.name, key.scopes.join(", "));
            eprintln!("store it now; it is not shown again:");
            println!("{}", secret.encode());
        }
        ApiKeyCommand::List => {
            for key in store.api_keys().await? {
                let state = if key.revoked_at.is_some() { "revoked" } else { "active" };
                let last_used = key.last_used_at.map_or_else(|| "never".to_owned(), |t| t.to_string());
                println!(
                    "{}  {}…  {:8}  {}  [{}]  last used: {}",
                    key.id,
                    key.prefix,
                    state,
                    key.name,
                    key.scopes.join(" "),
                    last_used
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| anyhow::anyhow!("`{id}` is not a key id"))?;
            let event =
                AuditEvent::new(AuditAction::ApiKeyRevoked, Actor::Operator, now, &operator).target("api_key", id);
            anyhow::ensure!(store.revoke_api_key(id, now, &[event]).await?, "no active API key has id {id}");
            println!(
                "revoked API key {id}; running instances stop accepting it within {} s",
                config.api_key_cache_ttl.as_secs()
            );
        }
    }
    database.close().await;
    Ok(())
}
