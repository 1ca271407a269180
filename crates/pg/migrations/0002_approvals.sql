-- tether's shared store, version 2: approvals any node may list and resolve.
CREATE TABLE tether_approvals (
    approval_id text PRIMARY KEY,
    state       text NOT NULL,              -- pending | allowed | denied | expired
    body        bytea NOT NULL,             -- the approval's JSON as the hooks domain wrote it
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tether_approvals_pending ON tether_approvals (created_at) WHERE state = 'pending';
