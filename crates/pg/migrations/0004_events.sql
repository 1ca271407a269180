-- tether's shared store, version 4: events every node's subscribers see.
CREATE TABLE tether_events (
    seq        bigserial PRIMARY KEY,
    node       text NOT NULL,
    body       bytea NOT NULL,                 -- the event's JSON
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tether_events_created ON tether_events (created_at);
