//! `gatehouse audit query` and `gatehouse export user`.

use clap::{Args, Subcommand};
use gatehouse_core::audit::{Actor, AuditFilter};
use gatehouse_core::sessions::ClientContext;
use time::OffsetDateTime;
use uuid::Uuid;

use super::output::{json, table, time};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Events matching every given filter, newest first.
    Query(QueryArgs),
}

fn rfc3339(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("`{text}` is not an RFC 3339 time such as 2026-12-03T10:00:00Z"))
}

#[derive(Debug, Args)]
pub(super) struct QueryArgs {
    /// Events by this user or API key id.
    #[arg(long)]
    actor: Option<Uuid>,
    #[arg(long)]
    action: Option<String>,
    /// Exactly this target, such as user:<id>.
    #[arg(long)]
    target: Option<String>,
    #[arg(long)]
    workspace: Option<Uuid>,
    /// At or after this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    from: Option<OffsetDateTime>,
    /// Before this time (RFC 3339).
    #[arg(long, value_parser = rfc3339)]
    to: Option<OffsetDateTime>,
    /// Only events with a smaller id (for the next page).
    #[arg(long)]
    before: Option<i64>,
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(app: &App, AuditCommand::Query(args): AuditCommand) -> anyhow::Result<()> {
    let filter = AuditFilter {
        actor_id: args.actor,
        action: args.action,
        target: args.target,
        workspace_id: args.workspace,
        from: args.from,
        to: args.to,
        subject: None,
        before_id: args.before,
        limit: args.limit,
    };
    let events = app.state.services().audit_query.query(&filter).await?;
    if args.json {
        return json(&events);
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let actor = match e.actor_id {
                Some(id) => format!("{}:{id}", e.actor_kind),
                None => e.actor_kind.clone(),
            };
            vec![e.id.to_string(), time(e.occurred_at), e.action.clone(), actor, e.target.clone().unwrap_or_default()]
        })
        .collect();
    print!("{}", table(&["ID", "AT", "ACTION", "ACTOR", "TARGET"], &rows));
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(super) enum ExportCommand {
    /// Print everything held about a user (by id or address) as the personal data document.
    User { user: String },
}

pub(super) async fn export(app: &App, ExportCommand::User { user }: ExportCommand) -> anyhow::Result<()> {
    let id = super::users::resolve(app, &user).await?;
    let data = gatehouse_http::privacy::export_user(&app.state, id, Actor::Operator, &ClientContext::default())
        .await
        .map_err(|error| anyhow::anyhow!("{error} ({})", error.code()))?;
    json(&data)
}
