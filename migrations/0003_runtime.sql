-- 0003: runtime tables (what is running): tasks, workflow steps, step edges.
--
-- current_state on tasks and workflow_steps is DENORMALIZED: it mirrors the to_state of
-- the entity's most_recent transition row and is written ONLY by the transition
-- functions of 0004 (together with the transition row, in the same transaction).
-- Compare-and-swap and every readiness query read it, so hot paths never join the
-- transition tables. Inserts must leave it at its default 'pending'; an AFTER INSERT
-- trigger (0004) writes the initial `pending` transition row (sort_key 0).

CREATE TABLE tasker.tasks (
  task_uuid             uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  named_task_uuid       uuid NOT NULL REFERENCES tasker.named_tasks (named_task_uuid),
  current_state         varchar(64) NOT NULL DEFAULT 'pending',
  complete              boolean NOT NULL DEFAULT false,   -- true only once the task reached `complete`
  requested_at          timestamptz NOT NULL DEFAULT now(),
  completed_at          timestamptz,                      -- set on entering any terminal state
  initiator             varchar(128),
  source_system         varchar(128),
  reason                varchar(128),
  tags                  jsonb,                             -- array of strings
  context               jsonb NOT NULL DEFAULT '{}'::jsonb, -- the task input
  identity_hash         varchar(128) NOT NULL,
  idempotency_key       varchar(255),
  priority              integer NOT NULL DEFAULT 0,
  correlation_id        uuid NOT NULL,
  parent_correlation_id uuid,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tasks_identity_hash_key UNIQUE (identity_hash),
  CONSTRAINT tasks_context_is_object CHECK (jsonb_typeof(context) = 'object'),
  CONSTRAINT tasks_tags_is_array CHECK (tags IS NULL OR jsonb_typeof(tags) = 'array'),
  CONSTRAINT tasks_current_state_check CHECK (current_state IN (
    'pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
    'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures',
    'complete', 'error', 'cancelled', 'resolved_manually'))
);

CREATE INDEX idx_tasks_named_task ON tasker.tasks (named_task_uuid);
CREATE INDEX idx_tasks_correlation_id ON tasker.tasks (correlation_id);
CREATE INDEX idx_tasks_parent_correlation_id ON tasker.tasks (parent_correlation_id)
  WHERE parent_correlation_id IS NOT NULL;
CREATE INDEX idx_tasks_created_at ON tasker.tasks (created_at);
CREATE INDEX idx_tasks_idempotency_key ON tasker.tasks (named_task_uuid, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- Discovery and staleness only ever look at non-terminal tasks; terminal rows (the bulk
-- of a long-lived table) stay out of this index.
CREATE INDEX idx_tasks_active_state ON tasker.tasks (current_state, priority DESC, created_at)
  WHERE current_state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually');

CREATE TABLE tasker.workflow_steps (
  workflow_step_uuid      uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  task_uuid               uuid NOT NULL REFERENCES tasker.tasks (task_uuid) ON DELETE CASCADE,
  named_step_uuid         uuid NOT NULL REFERENCES tasker.named_steps (named_step_uuid),
  current_state           varchar(64) NOT NULL DEFAULT 'pending',
  retryable               boolean NOT NULL DEFAULT true,    -- template retry.retryable
  max_attempts            integer NOT NULL DEFAULT 3,       -- total executions incl. the first
  in_process              boolean NOT NULL DEFAULT false,   -- true exactly while in_progress
  processed               boolean NOT NULL DEFAULT false,   -- complete / cancelled / resolved_manually
  processed_at            timestamptz,
  attempts                integer NOT NULL DEFAULT 0,       -- incremented on claim (Start / Reclaim)
  last_attempted_at       timestamptz,
  backoff_request_seconds integer,                          -- set by the orchestration backoff calculator
  inputs                  jsonb,
  results                 jsonb,
  priority                integer NOT NULL DEFAULT 0,
  checkpoint              jsonb,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  -- One step per step name per task: the idempotency anchor of dynamic step creation.
  CONSTRAINT workflow_steps_task_named_step_key UNIQUE (task_uuid, named_step_uuid),
  CONSTRAINT workflow_steps_attempts_check CHECK (attempts >= 0),
  CONSTRAINT workflow_steps_max_attempts_check CHECK (max_attempts >= 0),
  CONSTRAINT workflow_steps_backoff_check CHECK (backoff_request_seconds IS NULL OR backoff_request_seconds >= 0),
  CONSTRAINT workflow_steps_current_state_check CHECK (current_state IN (
    'pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
    'enqueued_as_error_for_orchestration', 'waiting_for_retry',
    'complete', 'error', 'cancelled', 'resolved_manually'))
);

-- (task_uuid, ...) lookups use the unique index above.
CREATE INDEX idx_workflow_steps_named_step ON tasker.workflow_steps (named_step_uuid);
-- In-flight steps: lease sweeps, retry wake-ups and health counts without a full scan.
CREATE INDEX idx_workflow_steps_in_flight ON tasker.workflow_steps (current_state, last_attempted_at)
  WHERE current_state IN ('enqueued', 'in_progress', 'enqueued_for_orchestration',
                          'enqueued_as_error_for_orchestration', 'waiting_for_retry');
-- Steps that may become ready: discovery's "has a pending / waiting step" pre-filter.
CREATE INDEX idx_workflow_steps_awaiting ON tasker.workflow_steps (task_uuid)
  WHERE current_state IN ('pending', 'waiting_for_retry');

-- Parent (from) -> child (to). name: provides | batch_dependency | worker_to_convergence.
CREATE TABLE tasker.workflow_step_edges (
  workflow_step_edge_uuid uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  from_step_uuid          uuid NOT NULL REFERENCES tasker.workflow_steps (workflow_step_uuid) ON DELETE CASCADE,
  to_step_uuid            uuid NOT NULL REFERENCES tasker.workflow_steps (workflow_step_uuid) ON DELETE CASCADE,
  name                    varchar(128) NOT NULL DEFAULT 'provides',
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT workflow_step_edges_key UNIQUE (from_step_uuid, to_step_uuid, name),
  CONSTRAINT workflow_step_edges_no_self_edge CHECK (from_step_uuid <> to_step_uuid)
);

-- "parents of step X" (readiness); "children of X" uses the unique index's leading column.
CREATE INDEX idx_workflow_step_edges_to_step ON tasker.workflow_step_edges (to_step_uuid, from_step_uuid);

CREATE TRIGGER trg_tasks_updated_at BEFORE UPDATE ON tasker.tasks
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
CREATE TRIGGER trg_workflow_steps_updated_at BEFORE UPDATE ON tasker.workflow_steps
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
CREATE TRIGGER trg_workflow_step_edges_updated_at BEFORE UPDATE ON tasker.workflow_step_edges
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
