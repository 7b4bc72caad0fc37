-- 0008: ready-task discovery and task summaries (REFERENCE 4.3, 4.6).

-- Tasks the readiness poller should continue, best first, locked FOR UPDATE SKIP LOCKED
-- (two concurrent transactions never receive the same task; the state transition that
-- follows remains the real mutual exclusion).
--  * candidates: current_state in pending / waiting_for_dependencies (<= 60 min in state)
--    / waiting_for_retry (<= 30 min in state); longer waits are left to staleness;
--  * computed_priority: < 1 h in state: priority + age_hours * 0.1;
--    < 24 h: priority * exp(-time_in_state / 12 h); else 0.1;
--  * the top p_limit * 10 candidates get an execution context; pending tasks and tasks
--    whose execution_status is has_ready_steps are returned, top p_limit.
-- Cheap pre-filter (ours): a non-pending candidate needs at least one step in
-- pending / waiting_for_retry, otherwise it cannot have ready steps. This only drops
-- tasks the context step would drop anyway, so the 10x window is spent on real candidates.
CREATE FUNCTION tasker.get_next_ready_tasks(p_limit integer DEFAULT 5)
RETURNS TABLE (
  task_uuid         uuid,
  task_name         character varying,
  priority          integer,
  namespace_name    character varying,
  ready_steps_count bigint,
  computed_priority numeric,
  current_state     character varying
)
LANGUAGE sql VOLATILE AS $$
  WITH candidates AS (
    SELECT
      t.task_uuid,
      t.created_at,
      t.current_state,
      (CASE
        WHEN tt.created_at > now() - interval '1 hour'
          THEN t.priority + extract(epoch FROM (now() - t.created_at)) / 3600 * 0.1
        WHEN tt.created_at > now() - interval '24 hours'
          THEN t.priority * exp(-extract(epoch FROM (now() - tt.created_at)) / (12 * 3600))
        ELSE 0.1
      END)::numeric AS computed_priority
    FROM tasker.tasks t
    JOIN tasker.task_transitions tt ON tt.task_uuid = t.task_uuid AND tt.most_recent
    WHERE t.current_state IN ('pending', 'waiting_for_dependencies', 'waiting_for_retry')
      AND (t.current_state = 'pending'
           OR (t.current_state = 'waiting_for_dependencies' AND tt.created_at >= now() - interval '60 minutes')
           OR (t.current_state = 'waiting_for_retry' AND tt.created_at >= now() - interval '30 minutes'))
      AND (t.current_state = 'pending'
           OR EXISTS (SELECT 1 FROM tasker.workflow_steps s
                      WHERE s.task_uuid = t.task_uuid
                        AND s.current_state IN ('pending', 'waiting_for_retry')))
    ORDER BY computed_priority DESC, t.created_at ASC
    LIMIT greatest(p_limit, 0) * 10
  ),
  eligible AS (
    SELECT c.task_uuid, c.created_at, c.computed_priority, coalesce(x.ready_steps, 0) AS ready_steps
    FROM candidates c
    LEFT JOIN tasker.get_task_execution_contexts_batch(ARRAY(SELECT c2.task_uuid FROM candidates c2)) x
      ON x.task_uuid = c.task_uuid
    WHERE c.current_state = 'pending' OR x.execution_status = 'has_ready_steps'
  )
  SELECT t.task_uuid, nt.name, t.priority, tns.name, e.ready_steps, e.computed_priority, t.current_state
  FROM eligible e
  JOIN tasker.tasks t ON t.task_uuid = e.task_uuid
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
  -- re-checked on the locked row version: a task another transaction moved on is skipped
  WHERE t.current_state IN ('pending', 'waiting_for_dependencies', 'waiting_for_retry')
  ORDER BY e.computed_priority DESC, e.created_at ASC
  LIMIT greatest(p_limit, 0)
  FOR UPDATE OF t SKIP LOCKED
$$;

CREATE FUNCTION tasker.get_next_ready_task()
RETURNS TABLE (
  task_uuid         uuid,
  task_name         character varying,
  priority          integer,
  namespace_name    character varying,
  ready_steps_count bigint,
  computed_priority numeric,
  current_state     character varying
)
LANGUAGE sql VOLATILE AS $$
  SELECT * FROM tasker.get_next_ready_tasks(1)
$$;

-- Same columns for one task in any state, no lock; computed_priority = priority +
-- age_hours * 0.1. Used right after creation and by the finalizer.
CREATE FUNCTION tasker.get_task_ready_info(p_task_uuid uuid)
RETURNS TABLE (
  task_uuid         uuid,
  task_name         character varying,
  priority          integer,
  namespace_name    character varying,
  ready_steps_count bigint,
  computed_priority numeric,
  current_state     character varying
)
LANGUAGE sql STABLE AS $$
  SELECT t.task_uuid, nt.name, t.priority, tns.name,
         coalesce(x.ready_steps, 0),
         (t.priority + extract(epoch FROM (now() - t.created_at)) / 3600 * 0.1)::numeric,
         t.current_state
  FROM tasker.tasks t
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
  LEFT JOIN tasker.get_task_execution_context(p_task_uuid) x ON x.task_uuid = t.task_uuid
  WHERE t.task_uuid = p_task_uuid
$$;

-- Rich summary for the API / visualisation: task metadata, template configuration,
-- step summaries (JSON array, in creation order), execution context (JSON object) and
-- open-DLQ status.
CREATE FUNCTION tasker.get_task_summaries(input_task_uuids uuid[])
RETURNS TABLE (
  task_uuid              uuid,
  named_task_uuid        uuid,
  task_name              text,
  task_version           text,
  namespace_name         text,
  task_status            text,
  created_at             timestamptz,
  updated_at             timestamptz,
  completed_at           timestamptz,
  initiator              text,
  source_system          text,
  reason                 text,
  correlation_id         uuid,
  template_configuration jsonb,
  step_summaries         jsonb,
  execution_context      jsonb,
  dlq_status             jsonb
)
LANGUAGE sql STABLE AS $$
  WITH steps AS (
    SELECT r.task_uuid,
           jsonb_agg(jsonb_build_object(
             'step_uuid', r.workflow_step_uuid,
             'name', r.name,
             'current_state', r.current_state,
             'created_at', ws.created_at,
             'completed_at', ws.processed_at,
             'last_attempted_at', ws.last_attempted_at,
             'attempts', r.attempts,
             'max_attempts', r.max_attempts,
             'retryable', ws.retryable,
             'dependencies_satisfied', r.dependencies_satisfied,
             'retry_eligible', r.retry_eligible,
             'ready_for_execution', r.ready_for_execution,
             'next_retry_at', r.next_retry_at,
             'error_type', ws.results -> 'error' ->> 'type',
             'error_retryable', CASE WHEN jsonb_typeof(ws.results -> 'error' -> 'retryable') = 'boolean'
                                     THEN (ws.results -> 'error' ->> 'retryable')::boolean END,
             'error_status_code', CASE WHEN jsonb_typeof(ws.results -> 'error' -> 'status_code') = 'number'
                                       THEN (ws.results -> 'error' -> 'status_code') END
           ) ORDER BY ws.created_at, ws.workflow_step_uuid) AS step_summaries
    FROM tasker.get_step_readiness_status_batch(input_task_uuids, NULL) r
    JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = r.workflow_step_uuid
    GROUP BY r.task_uuid
  )
  SELECT
    t.task_uuid,
    t.named_task_uuid,
    nt.name::text,
    nt.version::text,
    tns.name::text,
    t.current_state::text,
    t.created_at,
    t.updated_at,
    t.completed_at,
    t.initiator::text,
    t.source_system::text,
    t.reason::text,
    t.correlation_id,
    nt.configuration,
    coalesce(s.step_summaries, '[]'::jsonb),
    jsonb_build_object(
      'total_steps', x.total_steps,
      'pending_steps', x.pending_steps,
      'in_progress_steps', x.in_progress_steps,
      'enqueued_steps', x.enqueued_steps,
      'completed_steps', x.completed_steps,
      'failed_steps', x.failed_steps,
      'ready_steps', x.ready_steps,
      'completion_percentage', x.completion_percentage,
      'execution_status', x.execution_status,
      'recommended_action', x.recommended_action,
      'health_status', x.health_status),
    CASE WHEN d.dlq_entry_uuid IS NULL
      THEN jsonb_build_object('in_dlq', false, 'dlq_entry_uuid', NULL, 'dlq_reason', NULL, 'resolution_status', NULL)
      ELSE jsonb_build_object('in_dlq', true, 'dlq_entry_uuid', d.dlq_entry_uuid,
                              'dlq_reason', d.dlq_reason::text, 'resolution_status', d.resolution_status::text)
    END
  FROM tasker.tasks t
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
  LEFT JOIN steps s ON s.task_uuid = t.task_uuid
  LEFT JOIN tasker.get_task_execution_contexts_batch(input_task_uuids) x ON x.task_uuid = t.task_uuid
  LEFT JOIN tasker.tasks_dlq d ON d.task_uuid = t.task_uuid AND d.resolution_status = 'pending'
  WHERE t.task_uuid = ANY (input_task_uuids)
  ORDER BY t.task_uuid
$$;

CREATE FUNCTION tasker.get_task_summary(input_task_uuid uuid)
RETURNS TABLE (
  task_uuid              uuid,
  named_task_uuid        uuid,
  task_name              text,
  task_version           text,
  namespace_name         text,
  task_status            text,
  created_at             timestamptz,
  updated_at             timestamptz,
  completed_at           timestamptz,
  initiator              text,
  source_system          text,
  reason                 text,
  correlation_id         uuid,
  template_configuration jsonb,
  step_summaries         jsonb,
  execution_context      jsonb,
  dlq_status             jsonb
)
LANGUAGE sql STABLE AS $$
  SELECT * FROM tasker.get_task_summaries(ARRAY[input_task_uuid])
$$;
