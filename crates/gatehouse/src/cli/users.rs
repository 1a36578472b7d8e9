//! `gatehouse user`: accounts, worked on the database directly (no running server needed).
//!
//! Each command goes through the same functions as the admin API (`gatehouse_http::admin`,
//! `gatehouse_http::privacy`), so audit events, webhooks and cache invalidation are the same: with
//! Redis configured, a change drops the user's cached sessions, and every running instance sees it
//! on its next request.

use std::io::Read as _;

use clap::Subcommand;
use gatehouse_core::audit::Actor;
use gatehouse_core::sessions::ClientContext;
use gatehouse_http::admin::{NewAccount, create_user, revoke_sessions, set_disabled};
use gatehouse_http::privacy::erase_user;
use uuid::Uuid;

use super::output::{json, progress, table, time};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create an account (no session, no verification email).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Read a password from standard input (otherwise the account has none until reset).
        #[arg(long)]
        password_stdin: bool,
        /// Mark the address verified.
        #[arg(long)]
        verified: bool,
        #[arg(long)]
        json: bool,
    },
    /// List accounts by id.
    List {
        /// Only addresses starting with this.
        #[arg(long)]
        email_prefix: Option<String>,
        /// Start after this id (the last one of the page before).
        #[arg(long)]
        after: Option<Uuid>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one account (by id or address) with its workspaces.
    Show {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable accounts and end their sessions on every instance.
    Disable { users: Vec<String> },
    /// Let disabled accounts sign in again.
    Enable { users: Vec<String> },
    /// Erase accounts and everything tied to them, for good.
    Erase {
        users: Vec<String>,
        /// Required: erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// End every session of these accounts, on every instance.
    RevokeSessions { users: Vec<String> },
}

/// An id, or an address looked up.
pub(super) async fn resolve(app: &App, user: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(user.trim()) {
        return Ok(id);
    }
    let email = gatehouse_core::accounts::EmailAddress::parse(user)
        .map_err(|_| anyhow::anyhow!("`{user}` is neither a user id nor an email address"))?;
    let found = app.state.services().accounts.credentials_by_email(email.normalized()).await?;
    found.map(|c| c.user.id).ok_or_else(|| anyhow::anyhow!("no account has the address {}", email.as_str()))
}

fn api(error: gatehouse_http::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", error, error.code())
}

pub(super) async fn run(app: &App, command: UserCommand) -> anyhow::Result<()> {
    let services = app.state.services();
    let operator = ClientContext::default();
    match command {
        UserCommand::Create { email, name, password_stdin, verified, json: as_json } => {
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                Some(text.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let account = NewAccount { email, name, password, email_verified: verified };
            let user = create_user(&app.state, &account, Actor::Operator, &operator).await.map_err(api)?;
            if as_json { json(&user)? } else { println!("created user {} ({})", user.id, user.email.as_str()) }
        }
        UserCommand::List { email_prefix, after, limit, json: as_json } => {
            let page = services.user_admin.users(email_prefix.as_deref(), after, limit).await?;
            if as_json {
                json(&page)?;
            } else {
                let rows: Vec<Vec<String>> = page
                    .users
                    .iter()
                    .map(|u| {
                        vec![
                            u.id.to_string(),
                            u.email.as_str().to_owned(),
                            u.name.clone().unwrap_or_default(),
                            if u.email_verified { "yes" } else { "no" }.to_owned(),
                            if u.disabled { "disabled" } else { "active" }.to_owned(),
                            time(u.created_at),
                        ]
                    })
                    .collect();
                print!("{}", table(&["ID", "EMAIL", "NAME", "VERIFIED", "STATE", "CREATED"], &rows));
                if let Some(next) = page.next {
                    eprintln!("more: --after {next}");
                }
            }
        }
        UserCommand::Show { user, json: as_json } => {
            let id = resolve(app, &user).await?;
            let found = services.user_admin.user(id).await?.ok_or_else(|| anyhow::anyhow!("no user has id {id}"))?;
            let workspaces = services.workspaces.memberships_of_user(id).await?;
            let sessions = services.sessions.sessions_of_user(id).await?.len();
            if as_json {
                json(&serde_json::json!({ "user": found, "workspaces": workspaces, "sessions": sessions }))?;
            } else {
                let rows = vec![
                    vec!["id".to_owned(), found.id.to_string()],
                    vec!["email".to_owned(), found.email.as_str().to_owned()],
                    vec!["name".to_owned(), found.name.clone().unwrap_or_default()],
                    vec!["verified".to_owned(), found.email_verified.to_string()],
                    vec!["disabled".to_owned(), found.disabled.to_string()],
                    vec!["created".to_owned(), time(found.created_at)],
                    vec!["sessions".to_owned(), sessions.to_string()],
                ];
                print!("{}", table(&["FIELD", "VALUE"], &rows));
                let rows: Vec<Vec<String>> = workspaces
                    .iter()
                    .map(|m| vec![m.workspace_id.to_string(), m.name.clone(), m.role.as_str().to_owned()])
                    .collect();
                if !rows.is_empty() {
                    print!("\n{}", table(&["WORKSPACE", "NAME", "ROLE"], &rows));
                }
            }
        }
        UserCommand::Disable { users } => {
            each(app, &users, "disabled", |id| async move {
                set_disabled(&app.state, id, true, Actor::Operator, &ClientContext::default()).await.map(|_| ())
            })
            .await?
        }
        UserCommand::Enable { users } => {
            each(app, &users, "enabled", |id| async move {
                set_disabled(&app.state, id, false, Actor::Operator, &ClientContext::default()).await.map(|_| ())
            })
            .await?
        }
        UserCommand::Erase { users, yes } => {
            anyhow::ensure!(yes, "erasure cannot be undone: pass --yes to erase {} account(s)", users.len());
            each(app, &users, "erased", |id| async move {
                erase_user(&app.state, id, Actor::Operator, &ClientContext::default()).await
            })
            .await?;
        }
        UserCommand::RevokeSessions { users } => {
            each(app, &users, "sessions ended", |id| async move {
                revoke_sessions(&app.state, id, Actor::Operator, &ClientContext::default()).await.map(|_| ())
            })
            .await?
        }
    }
    Ok(())
}

/// Applies `action` to each user in turn, with a progress bar, reporting each failure and failing
/// at the end if any did.
async fn each<F, Fut>(app: &App, users: &[String], done: &str, action: F) -> anyhow::Result<()>
where
    F: Fn(Uuid) -> Fut,
    Fut: Future<Output = Result<(), gatehouse_http::ApiError>>,
{
    anyhow::ensure!(!users.is_empty(), "name at least one user, by id or address");
    let bar = progress(users.len(), done);
    let mut failed = 0;
    for user in users {
        let outcome = match resolve(app, user).await {
            Ok(id) => action(id).await.map_err(api).map(|()| id),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(id) => bar.println(format!("{id}: {done}")),
            Err(error) => {
                failed += 1;
                bar.println(format!("{user}: {error:#}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    anyhow::ensure!(failed == 0, "{failed} of {} failed", users.len());
    Ok(())
}
