//! Workspaces (organisations): members with a role, invitations by email, and the rules that
//! decide who may do what.
//!
//! Roles are ordered `member < admin < owner`. Members read the workspace and its members; admins
//! also manage members and invitations below owner; owners also grant and take away ownership and
//! delete the workspace. A workspace always keeps an owner while it has other members: the last
//! owner cannot leave, be removed or demoted, or erase their account ([`MemberOutcome::LastOwner`]).
//! The store enforces that inside the transaction that makes the change, so two admins acting at
//! once cannot leave a workspace without one.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::EmailAddress;
use crate::audit::AuditEvent;
use crate::jobs::NewJob;
use crate::sessions::TokenHash;
use crate::store::StoreError;

pub const MAX_WORKSPACE_NAME_CHARS: usize = 100;
/// How long an invitation can be accepted.
pub const INVITATION_LIFETIME: time::Duration = time::Duration::days(7);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Member, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Whether someone with this role may give `role` to a person (by invitation or a change), or
    /// take it away: admins handle members and admins, only owners handle owners.
    pub fn may_assign(self, role: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => role != Role::Owner,
            Role::Member => false,
        }
    }
}

/// Trims a workspace name and checks it.
pub fn parse_workspace_name(input: &str) -> Result<String, &'static str> {
    let name = input.trim();
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.chars().count() > MAX_WORKSPACE_NAME_CHARS {
        return Err("is longer than 100 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("contains control characters");
    }
    Ok(name.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// How many members it has.
    pub members: u64,
}

/// A workspace as one of its members sees it in their list: with their own role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Membership {
    pub workspace_id: Uuid,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    #[schema(format = Email)]
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

/// A pending invitation. Its token exists only in the email; the store keeps its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[schema(format = Email)]
    pub email: String,
    pub role: Role,
    /// Who invited; `null` once that account is erased.
    pub invited_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An invitation about to be stored.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub invitation: Invitation,
    pub email: EmailAddress,
    pub token_hash: TokenHash,
}

/// The workspace a session acts in, with the session user's role there. Read with the session,
/// so a removed member's session has none from their next request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActiveWorkspace {
    pub id: Uuid,
    pub role: Role,
}

/// What a change to a membership did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOutcome {
    /// Done; the role the person had before.
    Done { previous: Role },
    /// The person is not a member.
    NotMember,
    /// Refused: it would leave a workspace that has other members without an owner.
    LastOwner,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// The person is now a member with this role (or already was one; their role is unchanged).
    Joined(Membership),
    /// No such pending invitation (unknown, expired or already used).
    Invalid,
}

#[async_trait]
pub trait WorkspaceStore: Send + Sync + std::fmt::Debug {
    /// Creates the workspace with `owner` as its owner.
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: Uuid,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<(), StoreError>;
    async fn workspace(&self, id: Uuid) -> Result<Option<Workspace>, StoreError>;
    /// Every workspace, by id, after `after`; for the admin API.
    async fn workspaces(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Workspace>, StoreError>;
    async fn rename_workspace(
        &self,
        id: Uuid,
        name: &str,
        at: OffsetDateTime,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;
    /// Deletes the workspace with its memberships and invitations; whether it existed, and the
    /// members it had (whose cached sessions must be forgotten).
    async fn delete_workspace(
        &self,
        id: Uuid,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// The user's role in the workspace, if they are a member.
    async fn role_of(&self, workspace_id: Uuid, user_id: Uuid) -> Result<Option<Role>, StoreError>;
    async fn memberships_of_user(&self, user_id: Uuid) -> Result<Vec<Membership>, StoreError>;
    async fn members(&self, workspace_id: Uuid) -> Result<Vec<Member>, StoreError>;
    async fn change_role(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
        role: Role,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<MemberOutcome, StoreError>;
    /// Removes a member (or lets one leave).
    async fn remove_member(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<MemberOutcome, StoreError>;

    /// Stores the invitation with the email that delivers it, replacing any pending invitation of
    /// the same address to the same workspace.
    async fn create_invitation(
        &self,
        invitation: &NewInvitation,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<(), StoreError>;
    async fn invitations(&self, workspace_id: Uuid) -> Result<Vec<Invitation>, StoreError>;
    /// The pending, unexpired invitation with this token hash, with its workspace's name.
    async fn invitation_by_token(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<(Invitation, String)>, StoreError>;
    async fn delete_invitation(&self, workspace_id: Uuid, id: Uuid, events: &[AuditEvent]) -> Result<bool, StoreError>;
    /// Spends the invitation and makes `user_id` a member, if the invitation is still pending and
    /// addressed to `email_normalized`; the address counts as verified from then (the invitation
    /// was read there).
    async fn accept_invitation(
        &self,
        token_hash: &TokenHash,
        user_id: Uuid,
        email_normalized: &str,
        now: OffsetDateTime,
        events: &[AuditEvent],
        jobs: &[NewJob],
    ) -> Result<Acceptance, StoreError>;

    /// Makes `workspace_id` the session's active workspace (or none); whether the session exists
    /// and, when one is named, its user is a member.
    async fn set_active_workspace(&self, session_id: Uuid, workspace_id: Option<Uuid>) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(Role::Member < Role::Admin && Role::Admin < Role::Owner);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_owners_handle_ownership() {
        assert!(Role::Owner.may_assign(Role::Owner));
        assert!(Role::Admin.may_assign(Role::Admin) && Role::Admin.may_assign(Role::Member));
        assert!(!Role::Admin.may_assign(Role::Owner));
        assert!(Role::ALL.iter().all(|role| !Role::Member.may_assign(*role)));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_workspace_name("  Acme  "), Ok("Acme".to_owned()));
        assert!(parse_workspace_name("   ").is_err());
        assert!(parse_workspace_name(&"a".repeat(101)).is_err());
        assert!(parse_workspace_name("a\u{7}b").is_err());
    }
}
