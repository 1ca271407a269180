-- tether's shared store, version 1.
-- Times come from the database's clock (now()), never from a node's.

CREATE TABLE tether_nodes (
    node_id     text PRIMARY KEY,            -- a fresh id per daemon process
    name        text NOT NULL,               -- stable across restarts (config `store.node_name`)
    addr        text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    state       text NOT NULL DEFAULT 'alive' CHECK (state IN ('alive', 'dead'))
);
CREATE INDEX tether_nodes_alive ON tether_nodes (lease_until) WHERE state = 'alive';

CREATE TABLE tether_runs (
    run_id      text PRIMARY KEY,
    agent_id    text NOT NULL,
    owner_node  text,                        -- NULL once ended
    fence       bigint NOT NULL DEFAULT 1,   -- +1 at every change of owner
    records     integer NOT NULL DEFAULT 0,  -- the next record's seq
    turns       integer NOT NULL DEFAULT 0,
    ended       boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);
CREATE INDEX tether_runs_open ON tether_runs (owner_node) WHERE NOT ended;

CREATE TABLE tether_records (
    run_id  text NOT NULL REFERENCES tether_runs (run_id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    kind    smallint NOT NULL,
    fence   bigint NOT NULL,                 -- the writer's fence, for audits
    payload bytea NOT NULL,                  -- the record's JSON, byte for byte
    PRIMARY KEY (run_id, seq)
);
