-- 0007: step readiness, task execution context and DAG helpers (REFERENCE 4.1, 4.2, 4.4).
--
-- All of these are LANGUAGE sql STABLE without SET clauses so the planner can inline
-- them into their callers; they read workflow_steps.current_state (denormalized) and
-- never join the transition log for state. The only transition-log read is the
-- last failure time (index idx_workflow_step_transitions_errors), needed by the
-- fallback backoff of calculate_step_next_retry_time.

-- next_retry_at: last_attempted_at + backoff_request_seconds when orchestration
-- recorded a backoff; else failure_time + min(multiplier ^ attempts, max) seconds;
-- else NULL (no wait).
CREATE FUNCTION tasker.calculate_step_next_retry_time(
  backoff_request_seconds integer,
  last_attempted_at       timestamptz,
  failure_time            timestamptz,
  attempts                integer,
  p_max_backoff_seconds   integer DEFAULT 60,
  p_backoff_multiplier    numeric DEFAULT 2.0
) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN backoff_request_seconds IS NOT NULL AND last_attempted_at IS NOT NULL
      THEN last_attempted_at + make_interval(secs => backoff_request_seconds)
    WHEN failure_time IS NOT NULL
      THEN failure_time + make_interval(secs => least(
             power(p_backoff_multiplier, coalesce(attempts, 1))::double precision,
             p_max_backoff_seconds::double precision))
  END
$$;

-- ready_for_execution. `retryable` is accepted for signature parity with the reference
-- but already folded into retry_eligible (attempts = 0 OR (retryable AND attempts < max)).
CREATE FUNCTION tasker.evaluate_step_state_readiness(
  current_state          text,
  processed              boolean,
  in_process             boolean,
  dependencies_satisfied boolean,
  retry_eligible         boolean,
  retryable              boolean,
  next_retry_time        timestamptz
) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(current_state, 'pending') IN ('pending', 'waiting_for_retry')
     AND NOT coalesce(processed, false)
     AND NOT coalesce(in_process, false)
     AND coalesce(dependencies_satisfied, false)
     AND coalesce(retry_eligible, false)
     AND (next_retry_time IS NULL OR next_retry_time <= now())
$$;

-- One row per step of the given tasks (optionally only the given steps), ordered by
-- task, step. retry_eligible = attempts = 0 OR (retryable AND attempts < max_attempts)
-- (our decision 4: the template's retryable gates every attempt after the first).
CREATE FUNCTION tasker.get_step_readiness_status_batch(
  input_task_uuids uuid[],
  step_uuids       uuid[] DEFAULT NULL
) RETURNS TABLE (
  workflow_step_uuid      uuid,
  task_uuid               uuid,
  named_step_uuid         uuid,
  name                    text,
  current_state           text,
  dependencies_satisfied  boolean,
  retry_eligible          boolean,
  ready_for_execution     boolean,
  last_failure_at         timestamptz,
  next_retry_at           timestamptz,
  total_parents           integer,
  completed_parents       integer,
  attempts                integer,
  max_attempts            integer,
  backoff_request_seconds integer,
  last_attempted_at       timestamptz
)
LANGUAGE sql STABLE AS $$
  SELECT
    ws.workflow_step_uuid,
    ws.task_uuid,
    ws.named_step_uuid,
    ns.name::text,
    ws.current_state::text,
    dep.total_parents = dep.completed_parents,
    ret.retry_eligible,
    tasker.evaluate_step_state_readiness(ws.current_state, ws.processed, ws.in_process,
                                         dep.total_parents = dep.completed_parents,
                                         ret.retry_eligible, ws.retryable, ret.next_retry_at),
    lf.failure_time,
    ret.next_retry_at,
    dep.total_parents,
    dep.completed_parents,
    ws.attempts,
    ws.max_attempts,
    ws.backoff_request_seconds,
    ws.last_attempted_at
  FROM tasker.workflow_steps ws
  JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  CROSS JOIN LATERAL (
    -- distinct parents: two edges of different names between the same pair count once
    SELECT count(DISTINCT e.from_step_uuid)::integer AS total_parents,
           count(DISTINCT e.from_step_uuid)
             FILTER (WHERE p.current_state IN ('complete', 'resolved_manually'))::integer AS completed_parents
    FROM tasker.workflow_step_edges e
    JOIN tasker.workflow_steps p ON p.workflow_step_uuid = e.from_step_uuid
    WHERE e.to_step_uuid = ws.workflow_step_uuid
  ) dep
  LEFT JOIN LATERAL (
    SELECT wst.created_at AS failure_time
    FROM tasker.workflow_step_transitions wst
    WHERE wst.workflow_step_uuid = ws.workflow_step_uuid AND wst.to_state = 'error'
    ORDER BY wst.sort_key DESC
    LIMIT 1
  ) lf ON true
  CROSS JOIN LATERAL (
    SELECT (ws.attempts = 0 OR (ws.retryable AND ws.attempts < ws.max_attempts)) AS retry_eligible,
           -- The failure-time fallback only applies to a step that has run (attempts > 0):
           -- ResetForRetry sets attempts = 0, and an operator reset means "run again now".
           tasker.calculate_step_next_retry_time(ws.backoff_request_seconds, ws.last_attempted_at,
                                                 CASE WHEN ws.attempts > 0 THEN lf.failure_time END,
                                                 ws.attempts) AS next_retry_at
  ) ret
  WHERE ws.task_uuid = ANY (input_task_uuids)
    AND (step_uuids IS NULL OR ws.workflow_step_uuid = ANY (step_uuids))
  ORDER BY ws.task_uuid, ws.workflow_step_uuid
$$;

CREATE FUNCTION tasker.get_step_readiness_status(
  input_task_uuid uuid,
  step_uuids      uuid[] DEFAULT NULL
) RETURNS TABLE (
  workflow_step_uuid      uuid,
  task_uuid               uuid,
  named_step_uuid         uuid,
  name                    text,
  current_state           text,
  dependencies_satisfied  boolean,
  retry_eligible          boolean,
  ready_for_execution     boolean,
  last_failure_at         timestamptz,
  next_retry_at           timestamptz,
  total_parents           integer,
  completed_parents       integer,
  attempts                integer,
  max_attempts            integer,
  backoff_request_seconds integer,
  last_attempted_at       timestamptz
)
LANGUAGE sql STABLE AS $$
  SELECT * FROM tasker.get_step_readiness_status_batch(ARRAY[input_task_uuid], step_uuids)
$$;

-- Execution context per task. Decision ladder, first match wins:
--   any step in error                              -> blocked_by_failures / handle_failures     / blocked
--   ready_steps > 0                                -> has_ready_steps     / execute_ready_steps
--   any step enqueued / in_progress / enqueued_*   -> processing          / wait_for_completion
--   completed = total > 0                          -> all_complete        / finalize_task
--   otherwise                                      -> waiting_for_dependencies / wait_for_dependencies
-- health_status: blocked (a step in error) > recovering (a step in waiting_for_retry)
-- > healthy.
CREATE FUNCTION tasker.get_task_execution_contexts_batch(input_task_uuids uuid[])
RETURNS TABLE (
  task_uuid             uuid,
  named_task_uuid       uuid,
  status                text,
  total_steps           bigint,
  pending_steps         bigint,
  in_progress_steps     bigint,
  completed_steps       bigint,
  failed_steps          bigint,
  ready_steps           bigint,
  execution_status      text,
  recommended_action    text,
  completion_percentage numeric,
  health_status         text,
  enqueued_steps        bigint
)
LANGUAGE sql STABLE AS $$
  WITH stats AS (
    SELECT
      r.task_uuid,
      count(*) AS total_steps,
      count(*) FILTER (WHERE r.current_state = 'pending') AS pending_steps,
      count(*) FILTER (WHERE r.current_state = 'in_progress') AS in_progress_steps,
      count(*) FILTER (WHERE r.current_state IN ('enqueued', 'enqueued_for_orchestration',
                                                 'enqueued_as_error_for_orchestration')) AS enqueued_steps,
      count(*) FILTER (WHERE r.current_state IN ('complete', 'resolved_manually')) AS completed_steps,
      count(*) FILTER (WHERE r.current_state = 'error') AS failed_steps,
      count(*) FILTER (WHERE r.current_state = 'waiting_for_retry') AS retrying_steps,
      count(*) FILTER (WHERE r.ready_for_execution) AS ready_steps
    FROM tasker.get_step_readiness_status_batch(input_task_uuids, NULL) r
    GROUP BY r.task_uuid
  ),
  ctx AS (
    SELECT
      t.task_uuid,
      t.named_task_uuid,
      t.current_state::text AS status,
      coalesce(s.total_steps, 0)       AS total_steps,
      coalesce(s.pending_steps, 0)     AS pending_steps,
      coalesce(s.in_progress_steps, 0) AS in_progress_steps,
      coalesce(s.completed_steps, 0)   AS completed_steps,
      coalesce(s.failed_steps, 0)      AS failed_steps,
      coalesce(s.ready_steps, 0)       AS ready_steps,
      coalesce(s.enqueued_steps, 0)    AS enqueued_steps,
      coalesce(s.retrying_steps, 0)    AS retrying_steps
    FROM tasker.tasks t
    LEFT JOIN stats s ON s.task_uuid = t.task_uuid
    WHERE t.task_uuid = ANY (input_task_uuids)
  ),
  decided AS (
    SELECT c.*,
      CASE
        WHEN c.failed_steps > 0 THEN 'blocked_by_failures'
        WHEN c.ready_steps > 0 THEN 'has_ready_steps'
        WHEN c.in_progress_steps > 0 OR c.enqueued_steps > 0 THEN 'processing'
        WHEN c.total_steps > 0 AND c.completed_steps = c.total_steps THEN 'all_complete'
        ELSE 'waiting_for_dependencies'
      END AS execution_status
    FROM ctx c
  )
  SELECT
    d.task_uuid,
    d.named_task_uuid,
    d.status,
    d.total_steps,
    d.pending_steps,
    d.in_progress_steps,
    d.completed_steps,
    d.failed_steps,
    d.ready_steps,
    d.execution_status,
    CASE d.execution_status
      WHEN 'blocked_by_failures' THEN 'handle_failures'
      WHEN 'has_ready_steps'     THEN 'execute_ready_steps'
      WHEN 'processing'          THEN 'wait_for_completion'
      WHEN 'all_complete'        THEN 'finalize_task'
      ELSE 'wait_for_dependencies'
    END,
    CASE WHEN d.total_steps = 0 THEN 0.00
         ELSE round(d.completed_steps::numeric / d.total_steps * 100, 2)
    END,
    CASE
      WHEN d.failed_steps > 0 THEN 'blocked'
      WHEN d.retrying_steps > 0 THEN 'recovering'
      ELSE 'healthy'
    END,
    d.enqueued_steps
  FROM decided d
  ORDER BY d.task_uuid
$$;

CREATE FUNCTION tasker.get_task_execution_context(input_task_uuid uuid)
RETURNS TABLE (
  task_uuid             uuid,
  named_task_uuid       uuid,
  status                text,
  total_steps           bigint,
  pending_steps         bigint,
  in_progress_steps     bigint,
  completed_steps       bigint,
  failed_steps          bigint,
  ready_steps           bigint,
  execution_status      text,
  recommended_action    text,
  completion_percentage numeric,
  health_status         text,
  enqueued_steps        bigint
)
LANGUAGE sql STABLE AS $$
  SELECT * FROM tasker.get_task_execution_contexts_batch(ARRAY[input_task_uuid])
$$;

-- Readiness + enqueue in one call (the step enqueuer's hot path): every ready step of
-- the given tasks goes waiting_for_retry -> pending -> enqueued (or pending ->
-- enqueued). Returns what this call enqueued, with what a worker message needs.
-- Concurrent callers are safe: the CAS inside enqueue_steps lets only one of them
-- move each step.
CREATE FUNCTION tasker.enqueue_ready_steps(
  p_task_uuids uuid[],
  p_metadata   jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
  task_uuid          uuid,
  workflow_step_uuid uuid,
  step_name          text,
  correlation_id     uuid
)
LANGUAGE plpgsql AS $$
DECLARE
  v_ready uuid[];
BEGIN
  SELECT array_agg(r.workflow_step_uuid) INTO v_ready
  FROM tasker.get_step_readiness_status_batch(p_task_uuids, NULL) r
  WHERE r.ready_for_execution;

  IF v_ready IS NULL THEN
    RETURN;
  END IF;

  RETURN QUERY
  SELECT ws.task_uuid, ws.workflow_step_uuid, ns.name::text, t.correlation_id
  FROM tasker.enqueue_steps(v_ready, p_metadata) AS e(step_uuid)
  JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = e.step_uuid
  JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
  ORDER BY ws.task_uuid, ws.workflow_step_uuid;
END
$$;

-- Retry timers (DESIGN decision 5): steps in waiting_for_retry that may run again,
-- earliest wake-up first. next_retry_at = last_attempted_at + backoff_request_seconds,
-- or now() when no backoff was recorded (ready at once). p_until limits the horizon.
-- Uses idx_workflow_steps_in_flight; no readiness join (the readiness functions decide).
CREATE FUNCTION tasker.get_step_retry_wakeups(
  p_until timestamptz DEFAULT NULL,
  p_limit integer DEFAULT 100
) RETURNS TABLE (
  task_uuid          uuid,
  workflow_step_uuid uuid,
  next_retry_at      timestamptz
)
LANGUAGE sql STABLE AS $$
  SELECT w.task_uuid, w.workflow_step_uuid, w.next_retry_at
  FROM (
    SELECT ws.task_uuid, ws.workflow_step_uuid,
           coalesce(tasker.calculate_step_next_retry_time(ws.backoff_request_seconds, ws.last_attempted_at,
                                                          NULL, ws.attempts),
                    now()) AS next_retry_at
    FROM tasker.workflow_steps ws
    WHERE ws.current_state = 'waiting_for_retry'
      AND (ws.attempts = 0 OR (ws.retryable AND ws.attempts < ws.max_attempts))
  ) w
  WHERE p_until IS NULL OR w.next_retry_at <= p_until
  ORDER BY w.next_retry_at, w.workflow_step_uuid
  LIMIT p_limit
$$;

-- Level of each step = longest path from a root (roots are level 0).
-- UNION (not UNION ALL) keeps one row per (step, level), so diamonds do not multiply.
CREATE FUNCTION tasker.calculate_dependency_levels(input_task_uuid uuid)
RETURNS TABLE (workflow_step_uuid uuid, dependency_level integer)
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE levels (step_uuid, level) AS (
    SELECT ws.workflow_step_uuid, 0
    FROM tasker.workflow_steps ws
    WHERE ws.task_uuid = input_task_uuid
      AND NOT EXISTS (SELECT 1 FROM tasker.workflow_step_edges e WHERE e.to_step_uuid = ws.workflow_step_uuid)
    UNION
    SELECT e.to_step_uuid, l.level + 1
    FROM levels l
    JOIN tasker.workflow_step_edges e ON e.from_step_uuid = l.step_uuid
    WHERE l.level < 1000
  )
  SELECT l.step_uuid, max(l.level)::integer
  FROM levels l
  GROUP BY l.step_uuid
  ORDER BY max(l.level), l.step_uuid
$$;

-- All ancestors of a step, each once, at its shortest distance (1 = direct parent),
-- recursion capped at 50. Workers turn this into the name -> result map for handlers.
CREATE FUNCTION tasker.get_step_transitive_dependencies(target_step_uuid uuid)
RETURNS TABLE (
  workflow_step_uuid uuid,
  task_uuid          uuid,
  named_step_uuid    uuid,
  step_name          character varying,
  results            jsonb,
  processed          boolean,
  distance           integer
)
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE ancestors (step_uuid, distance) AS (
    SELECT e.from_step_uuid, 1
    FROM tasker.workflow_step_edges e
    WHERE e.to_step_uuid = target_step_uuid
    UNION
    SELECT e.from_step_uuid, a.distance + 1
    FROM ancestors a
    JOIN tasker.workflow_step_edges e ON e.to_step_uuid = a.step_uuid
    WHERE a.distance < 50
  ),
  nearest AS (
    SELECT a.step_uuid, min(a.distance) AS distance
    FROM ancestors a
    GROUP BY a.step_uuid
  )
  SELECT ws.workflow_step_uuid, ws.task_uuid, ws.named_step_uuid, ns.name,
         ws.results, ws.processed, n.distance
  FROM nearest n
  JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = n.step_uuid
  JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  ORDER BY n.distance, ws.workflow_step_uuid
$$;

-- Would adding the edge from -> to close a cycle? True for a self-edge or when `from`
-- is reachable from `to` (searched up to depth 100, as the reference).
CREATE FUNCTION tasker.would_create_cycle(p_from_step_uuid uuid, p_to_step_uuid uuid)
RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_from_step_uuid = p_to_step_uuid
      OR EXISTS (
        WITH RECURSIVE reachable (step_uuid, depth) AS (
          SELECT p_to_step_uuid, 0
          UNION
          SELECT e.to_step_uuid, r.depth + 1
          FROM reachable r
          JOIN tasker.workflow_step_edges e ON e.from_step_uuid = r.step_uuid
          WHERE r.depth < 100
        )
        SELECT 1 FROM reachable WHERE step_uuid = p_from_step_uuid
      )
$$;

-- Record an orchestration backoff: next_retry_at becomes now() + p_backoff_seconds.
-- Returns false when the step does not exist.
CREATE FUNCTION tasker.set_step_backoff_atomic(p_step_uuid uuid, p_backoff_seconds integer)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE tasker.workflow_steps
  SET backoff_request_seconds = p_backoff_seconds,
      last_attempted_at       = now(),
      updated_at              = now()
  WHERE workflow_step_uuid = p_step_uuid;
  RETURN FOUND;
END
$$;
