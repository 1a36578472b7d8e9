-- Workspaces with members and invitations, the active workspace of a session, indexes for audit
-- queries, and tokens awaiting revocation after an account was erased. Times are Unix milliseconds.
CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE workspace_members (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) STRICT;
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id);

-- Only the SHA-256 of an invitation's token is stored. An erased inviter leaves no trace.
CREATE TABLE workspace_invitations (
    id               TEXT PRIMARY KEY NOT NULL,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash       BLOB NOT NULL,
    email            TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    role             TEXT NOT NULL,
    invited_by       TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX workspace_invitations_token_hash_key ON workspace_invitations (token_hash);
CREATE INDEX workspace_invitations_workspace_idx ON workspace_invitations (workspace_id);
CREATE INDEX workspace_invitations_email_idx ON workspace_invitations (email_normalized);

ALTER TABLE sessions ADD COLUMN workspace_id TEXT REFERENCES workspaces (id) ON DELETE SET NULL;

CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_target_idx ON audit_events (target, id);
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

-- A vault connection of an erased account, re-sealed without any link to the person, until its
-- `vault.revoke` job has revoked the tokens at the provider.
CREATE TABLE vault_revocations (
    id          TEXT PRIMARY KEY NOT NULL,
    provider    TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
