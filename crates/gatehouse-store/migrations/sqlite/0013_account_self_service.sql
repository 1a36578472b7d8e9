-- Account self-service: changing the email address, and the devices an account has signed in from.

-- An email-change link carries the address it changes to (`target_email`, as typed); the undo
-- link carries the address it restores. Other links leave it empty.
ALTER TABLE email_links ADD COLUMN target_email TEXT;

-- The devices an account has signed in from, so a sign-in from a new one can be told to its
-- owner once. `cookie_hash` is the SHA-256 of the long-lived device cookie (the cookie alone
-- names no one); `user_agent` and `network` (the /24 or /64 the sign-in came from) recognise a
-- browser that does not keep cookies.
CREATE TABLE known_devices (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cookie_hash  BLOB,
    user_agent   TEXT,
    network      TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX known_devices_user_idx ON known_devices (user_id);
CREATE UNIQUE INDEX known_devices_cookie_key ON known_devices (user_id, cookie_hash);
