-- tether's shared store, version 5: when an approval was settled, so retention can
-- delete it (`hooks.approval_retention_ms`, counted from the settlement as on a node).
ALTER TABLE tether_approvals ADD COLUMN settled_at timestamptz;
CREATE INDEX tether_approvals_settled ON tether_approvals (settled_at) WHERE state <> 'pending';
