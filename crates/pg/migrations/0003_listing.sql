-- tether's shared store, version 3: runs listed across nodes, idempotency keys across nodes.
ALTER TABLE tether_runs ADD COLUMN list_key bigserial;
ALTER TABLE tether_runs ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX tether_runs_list_key ON tether_runs (list_key);
CREATE INDEX tether_runs_agent_list ON tether_runs (agent_id, list_key);
CREATE UNIQUE INDEX tether_runs_idempotency ON tether_runs (agent_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
