-- One-time links mailed to users (verify an email, reset a password, sign in). Only the SHA-256 of
-- a link's token is stored; the email job names the link by id. Times are Unix milliseconds.
CREATE TABLE email_links (
    id               TEXT PRIMARY KEY NOT NULL,
    token_hash       BLOB NOT NULL,
    purpose          TEXT NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_normalized TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER
) STRICT;
CREATE UNIQUE INDEX email_links_token_hash_key ON email_links (token_hash);
CREATE INDEX email_links_user_id_idx ON email_links (user_id);
CREATE INDEX email_links_expires_at_idx ON email_links (expires_at);
