//! `gatehouse workspace`: reading workspaces and their members.

use clap::Subcommand;
use uuid::Uuid;

use super::output::{json, table, time};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub(super) enum WorkspaceCommand {
    /// List workspaces by id.
    List {
        #[arg(long)]
        after: Option<Uuid>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one workspace with its members and pending invitations.
    Show {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(app: &App, command: WorkspaceCommand) -> anyhow::Result<()> {
    let store = &app.state.services().workspaces;
    match command {
        WorkspaceCommand::List { after, limit, json: as_json } => {
            let workspaces = store.workspaces(after, limit).await?;
            if as_json {
                return json(&workspaces);
            }
            let rows: Vec<Vec<String>> = workspaces
                .iter()
                .map(|w| vec![w.id.to_string(), w.name.clone(), w.members.to_string(), time(w.created_at)])
                .collect();
            print!("{}", table(&["ID", "NAME", "MEMBERS", "CREATED"], &rows));
        }
        WorkspaceCommand::Show { id, json: as_json } => {
            let workspace = store.workspace(id).await?.ok_or_else(|| anyhow::anyhow!("no workspace has id {id}"))?;
            let members = store.members(id).await?;
            let invitations = store.invitations(id).await?;
            if as_json {
                return json(
                    &serde_json::json!({ "workspace": workspace, "members": members, "invitations": invitations }),
                );
            }
            println!("{} ({}), created {}", workspace.name, workspace.id, time(workspace.created_at));
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| vec![m.user_id.to_string(), m.email.clone(), m.role.as_str().to_owned(), time(m.joined_at)])
                .collect();
            print!("\n{}", table(&["USER", "EMAIL", "ROLE", "JOINED"], &rows));
            if !invitations.is_empty() {
                let rows: Vec<Vec<String>> = invitations
                    .iter()
                    .map(|i| vec![i.id.to_string(), i.email.clone(), i.role.as_str().to_owned(), time(i.expires_at)])
                    .collect();
                print!("\n{}", table(&["INVITATION", "EMAIL", "ROLE", "EXPIRES"], &rows));
            }
        }
    }
    Ok(())
}
