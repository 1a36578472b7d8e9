//! `gatehouse keys`: access-token signing keys.

use clap::Subcommand;
use gatehouse_core::audit::Actor;

use super::database;
use crate::app;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// Make a new signing key active. The old public keys stay in the JWKS until every token they
    /// signed has expired, so nothing breaks.
    Rotate,
}

pub(super) async fn rotate_keys(config: Config) -> anyhow::Result<()> {
    let database = database(&config).await?;
    let master = app::master_secret(&config, &database).await?;
    let keyring = gatehouse_core::sealing::Keyring::new(master, config.master_secret_previous.clone());
    let encryption =
        gatehouse_core::sealing::KeyEncryption::for_purpose(&keyring, gatehouse_core::sealing::SIGNING_KEY_PURPOSE);
    let store = database.signing_keys();
    let kid = crate::keys::rotate(store.as_ref(), &encryption, config.tokens.algorithm, Actor::Operator).await?;
    println!("new signing key {kid} is active; running instances pick it up within a minute");
    database.close().await;
    Ok(())
}
