-- 0005: step result audit trail and the task DLQ (investigation log).

-- ---------------------------------------------------------------------------
-- workflow_step_result_audit: one row per worker result (a transition into
-- enqueued_for_orchestration / enqueued_as_error_for_orchestration). Lightweight:
-- the result itself stays on workflow_steps.results; this is the attributable history.
-- ---------------------------------------------------------------------------

CREATE TABLE tasker.workflow_step_result_audit (
  workflow_step_result_audit_uuid uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  workflow_step_uuid              uuid NOT NULL REFERENCES tasker.workflow_steps (workflow_step_uuid) ON DELETE CASCADE,
  workflow_step_transition_uuid   uuid NOT NULL REFERENCES tasker.workflow_step_transitions (workflow_step_transition_uuid) ON DELETE CASCADE,
  task_uuid                       uuid NOT NULL REFERENCES tasker.tasks (task_uuid) ON DELETE CASCADE,
  recorded_at                     timestamptz NOT NULL DEFAULT now(),
  worker_uuid                     uuid,
  correlation_id                  uuid,
  success                         boolean NOT NULL,
  execution_time_ms               bigint,
  created_at                      timestamptz NOT NULL DEFAULT now(),
  updated_at                      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT workflow_step_result_audit_key UNIQUE (workflow_step_uuid, workflow_step_transition_uuid)
);

CREATE INDEX idx_step_result_audit_task ON tasker.workflow_step_result_audit (task_uuid);
CREATE INDEX idx_step_result_audit_recorded_at ON tasker.workflow_step_result_audit (recorded_at);
CREATE INDEX idx_step_result_audit_worker ON tasker.workflow_step_result_audit (worker_uuid)
  WHERE worker_uuid IS NOT NULL;
CREATE INDEX idx_step_result_audit_transition ON tasker.workflow_step_result_audit (workflow_step_transition_uuid);

-- Attribution comes from the transition metadata keys `worker_uuid` / `correlation_id`
-- (falling back to the task's correlation_id). success: metadata.success, else the
-- result written on the step row (`results.success`, the StepExecutionResult), else
-- "to_state = enqueued_for_orchestration". execution_time_ms: metadata.execution_time_ms,
-- else results.metadata.execution_time_ms. The transition functions update the step
-- row before they insert the transition row, so the trigger sees the new results.
CREATE FUNCTION tasker.create_step_result_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_task_uuid      uuid;
  v_correlation_id uuid;
  v_results        jsonb;
  v_success        boolean;
  v_exec_ms        bigint;
  v_ms_text        text;
BEGIN
  SELECT ws.task_uuid, ws.results, t.correlation_id
    INTO v_task_uuid, v_results, v_correlation_id
  FROM tasker.workflow_steps ws
  JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
  WHERE ws.workflow_step_uuid = NEW.workflow_step_uuid;

  v_success := CASE
    WHEN jsonb_typeof(NEW.metadata -> 'success') = 'boolean' THEN (NEW.metadata ->> 'success')::boolean
    WHEN jsonb_typeof(v_results -> 'success') = 'boolean' THEN (v_results ->> 'success')::boolean
    ELSE NEW.to_state = 'enqueued_for_orchestration'
  END;

  v_ms_text := coalesce(NEW.metadata ->> 'execution_time_ms', v_results -> 'metadata' ->> 'execution_time_ms');
  IF v_ms_text ~ '^\d{1,18}(\.\d+)?$' THEN
    v_exec_ms := round(v_ms_text::numeric)::bigint;
  END IF;

  INSERT INTO tasker.workflow_step_result_audit
    (workflow_step_uuid, workflow_step_transition_uuid, task_uuid, recorded_at,
     worker_uuid, correlation_id, success, execution_time_ms)
  VALUES
    (NEW.workflow_step_uuid, NEW.workflow_step_transition_uuid, v_task_uuid, NEW.created_at,
     tasker.try_uuid(NEW.metadata ->> 'worker_uuid'),
     coalesce(tasker.try_uuid(NEW.metadata ->> 'correlation_id'), v_correlation_id),
     v_success, v_exec_ms)
  ON CONFLICT (workflow_step_uuid, workflow_step_transition_uuid) DO NOTHING;

  RETURN NULL;
END
$$;

CREATE TRIGGER trg_step_result_audit
  AFTER INSERT ON tasker.workflow_step_transitions
  FOR EACH ROW
  WHEN (NEW.to_state IN ('enqueued_for_orchestration', 'enqueued_as_error_for_orchestration'))
  EXECUTE FUNCTION tasker.create_step_result_audit();

-- ---------------------------------------------------------------------------
-- tasks_dlq: investigation log. Tasks never move out of tasks; at most one open
-- (pending) investigation per task, history kept.
-- ---------------------------------------------------------------------------

CREATE TYPE tasker.dlq_reason AS ENUM (
  'staleness_timeout', 'max_retries_exceeded', 'dependency_cycle_detected',
  'worker_unavailable', 'manual_dlq');

CREATE TYPE tasker.dlq_resolution_status AS ENUM (
  'pending', 'manually_resolved', 'permanently_failed', 'cancelled');

CREATE TABLE tasker.tasks_dlq (
  dlq_entry_uuid       uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  task_uuid            uuid NOT NULL REFERENCES tasker.tasks (task_uuid) ON DELETE CASCADE,
  original_state       varchar(64) NOT NULL,
  dlq_reason           tasker.dlq_reason NOT NULL,
  dlq_timestamp        timestamptz NOT NULL DEFAULT now(),
  resolution_status    tasker.dlq_resolution_status NOT NULL DEFAULT 'pending',
  resolution_timestamp timestamptz,
  resolution_notes     text,
  resolved_by          varchar(255),
  task_snapshot        jsonb NOT NULL,
  metadata             jsonb,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX idx_tasks_dlq_unique_pending_task ON tasker.tasks_dlq (task_uuid)
  WHERE resolution_status = 'pending';
CREATE INDEX idx_tasks_dlq_task ON tasker.tasks_dlq (task_uuid);
CREATE INDEX idx_tasks_dlq_status_time ON tasker.tasks_dlq (resolution_status, dlq_timestamp);
CREATE INDEX idx_tasks_dlq_reason ON tasker.tasks_dlq (dlq_reason);

CREATE TRIGGER trg_tasks_dlq_updated_at BEFORE UPDATE ON tasker.tasks_dlq
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
