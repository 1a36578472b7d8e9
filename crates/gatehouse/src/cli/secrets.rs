//! `gatehouse secrets`: moving sealed values to a new master secret.

use clap::Subcommand;
use gatehouse_core::audit::Actor;
use gatehouse_core::sessions::ClientContext;

use super::database;
use crate::app;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum SecretsCommand {
    /// Re-seal every sealed value (signing keys, webhook secrets, vault data keys) under
    /// master_secret, while servers run. Afterwards master_secret_previous can be removed.
    Rewrap,
}

pub(super) async fn rewrap_secrets(config: Config) -> anyhow::Result<()> {
    let database = database(&config).await?;
    let master = app::master_secret(&config, &database).await?;
    let keyring = gatehouse_core::sealing::Keyring::new(master, config.master_secret_previous.clone());
    let store = database.sealed_values();
    let pending = crate::secrets::remaining(store.as_ref(), &keyring).await?;
    // indicatif draws only on a terminal; elsewhere the count at the end is the whole report.
    let bar = indicatif::ProgressBar::new(pending);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} sealed values re-sealed")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let outcome = crate::secrets::rewrap(store.as_ref(), &keyring, || bar.inc(1)).await?;
    bar.finish_and_clear();
    let event = gatehouse_core::audit::AuditEvent::new(
        gatehouse_core::audit::AuditAction::SecretsRewrapped,
        Actor::Operator,
        time::OffsetDateTime::now_utc(),
        &ClientContext::default(),
    )
    .detail("resealed", outcome.resealed)
    .detail("already_current", outcome.already_current)
    .detail("unopenable", outcome.unopenable.len());
    database.audit().append(&[event]).await?;
    println!(
        "re-sealed {} values under master_secret ({} already were, {} changed meanwhile)",
        outcome.resealed, outcome.already_current, outcome.changed_meanwhile
    );
    database.close().await;
    if !outcome.unopenable.is_empty() {
        for (kind, key) in &outcome.unopenable {
            eprintln!("gatehouse: {kind} {key} opens under neither master_secret nor master_secret_previous");
        }
        anyhow::bail!("{} sealed values could not be re-sealed; keep master_secret_previous", outcome.unopenable.len());
    }
    println!("nothing needs master_secret_previous any more: remove it and restart");
    Ok(())
}
