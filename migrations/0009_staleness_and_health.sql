-- 0009: staleness detection, DLQ entry creation, stuck-task and health queries
-- (REFERENCE 4.5, 4.6; our decision 8: staleness covers EVERY non-terminal task state).
--
-- Thresholds (minutes in the current state):
--   waiting_for_dependencies  lifecycle.max_waiting_for_dependencies_minutes, default 60
--   waiting_for_retry         lifecycle.max_waiting_for_retry_minutes,        default 30
--   steps_in_process          lifecycle.max_steps_in_process_minutes,         default 30
--   any other non-terminal    lifecycle.max_<state>_minutes, else the template's
--                             max_steps_in_process_minutes, else the in-process default
--   terminal states           NULL (never stale)
-- plus a maximum task lifetime: lifecycle.max_duration_minutes, default 24 h.
-- lifecycle.staleness_action: 'dlq' (default: DLQ entry + error), 'error' (error only),
-- 'none' (never swept).

-- A whole number of minutes from the template's lifecycle block (a JSON number or a
-- digit string), NULL when absent or malformed: a bad template must not break the sweep.
CREATE FUNCTION tasker.lifecycle_minutes(p_template_config jsonb, p_key text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN jsonb_typeof(p_template_config -> 'lifecycle' -> p_key) = 'number'
      THEN least(floor((p_template_config -> 'lifecycle' ->> p_key)::numeric), 2147483647)::integer
    WHEN (p_template_config -> 'lifecycle' ->> p_key) ~ '^\s*\d{1,9}\s*$'
      THEN btrim(p_template_config -> 'lifecycle' ->> p_key)::integer
  END
$$;

CREATE FUNCTION tasker.calculate_staleness_threshold(
  p_task_state             character varying,
  p_template_config        jsonb,
  p_default_waiting_deps   integer DEFAULT 60,
  p_default_waiting_retry  integer DEFAULT 30,
  p_default_steps_process  integer DEFAULT 30
) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_task_state = 'waiting_for_dependencies'
      THEN coalesce(tasker.lifecycle_minutes(p_template_config, 'max_waiting_for_dependencies_minutes'), p_default_waiting_deps)
    WHEN p_task_state = 'waiting_for_retry'
      THEN coalesce(tasker.lifecycle_minutes(p_template_config, 'max_waiting_for_retry_minutes'), p_default_waiting_retry)
    WHEN p_task_state = 'steps_in_process'
      THEN coalesce(tasker.lifecycle_minutes(p_template_config, 'max_steps_in_process_minutes'), p_default_steps_process)
    WHEN p_task_state IN ('complete', 'error', 'cancelled', 'resolved_manually')
      THEN NULL
    ELSE coalesce(tasker.lifecycle_minutes(p_template_config, 'max_' || p_task_state || '_minutes'),
                  tasker.lifecycle_minutes(p_template_config, 'max_steps_in_process_minutes'),
                  p_default_steps_process)
  END
$$;

CREATE FUNCTION tasker.calculate_task_max_lifetime_minutes(
  p_template_config    jsonb,
  p_max_lifetime_hours integer DEFAULT 24
) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(tasker.lifecycle_minutes(p_template_config, 'max_duration_minutes'), p_max_lifetime_hours * 60)
$$;

-- 'dlq' | 'error' | 'none' (unknown values read as the default 'dlq').
CREATE FUNCTION tasker.staleness_action(p_template_config jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE lower(p_template_config -> 'lifecycle' ->> 'staleness_action')
    WHEN 'error' THEN 'error'
    WHEN 'none' THEN 'none'
    ELSE 'dlq'
  END
$$;

-- Every non-terminal task with its threshold and health: stale (>= threshold, or task
-- older than its max lifetime), warning (>= 80% of either), healthy. Default thresholds.
CREATE VIEW tasker.v_task_staleness_monitoring AS
SELECT
  x.task_uuid,
  x.namespace_name,
  x.task_name,
  x.current_state,
  x.time_in_state_minutes,
  x.task_age_minutes,
  x.staleness_threshold_minutes,
  x.max_lifetime_minutes,
  CASE
    WHEN x.time_in_state_minutes >= x.staleness_threshold_minutes
      OR x.task_age_minutes >= x.max_lifetime_minutes THEN 'stale'
    WHEN x.time_in_state_minutes >= x.staleness_threshold_minutes * 0.8
      OR x.task_age_minutes >= x.max_lifetime_minutes * 0.8 THEN 'warning'
    ELSE 'healthy'
  END AS health_status,
  x.staleness_action,
  x.priority
FROM (
  SELECT
    tsa.*,
    tasker.calculate_staleness_threshold(tsa.current_state, tsa.template_config, 60, 30, 30) AS staleness_threshold_minutes,
    tasker.calculate_task_max_lifetime_minutes(tsa.template_config, 24) AS max_lifetime_minutes,
    tasker.staleness_action(tsa.template_config) AS staleness_action
  FROM tasker.v_task_state_analysis tsa
) x;

-- Stale tasks without an open (pending) DLQ entry, oldest in state first.
-- Any non-terminal state; templates with staleness_action 'none' are skipped.
CREATE FUNCTION tasker.get_stale_tasks_for_dlq(
  p_default_waiting_deps  integer DEFAULT 60,
  p_default_waiting_retry integer DEFAULT 30,
  p_default_steps_process integer DEFAULT 30,
  p_max_lifetime_hours    integer DEFAULT 24,
  p_batch_size            integer DEFAULT 100
) RETURNS TABLE (
  task_uuid             uuid,
  namespace_name        character varying,
  task_name             character varying,
  current_state         character varying,
  time_in_state_minutes numeric,
  threshold_minutes     integer,
  task_age_minutes      numeric,
  staleness_action      text
)
LANGUAGE sql STABLE AS $$
  SELECT s.task_uuid, s.namespace_name, s.task_name, s.current_state,
         s.time_in_state_minutes, s.threshold_minutes, s.task_age_minutes, s.staleness_action
  FROM (
    SELECT
      tsa.task_uuid, tsa.namespace_name, tsa.task_name, tsa.current_state,
      tsa.time_in_state_minutes, tsa.task_age_minutes,
      tasker.calculate_staleness_threshold(tsa.current_state, tsa.template_config,
        p_default_waiting_deps, p_default_waiting_retry, p_default_steps_process) AS threshold_minutes,
      tasker.calculate_task_max_lifetime_minutes(tsa.template_config, p_max_lifetime_hours) AS lifetime_minutes,
      tasker.staleness_action(tsa.template_config) AS staleness_action
    FROM tasker.v_task_state_analysis tsa
    WHERE NOT EXISTS (SELECT 1 FROM tasker.tasks_dlq d
                      WHERE d.task_uuid = tsa.task_uuid AND d.resolution_status = 'pending')
  ) s
  WHERE s.staleness_action <> 'none'
    AND (s.time_in_state_minutes >= s.threshold_minutes
         OR s.task_age_minutes >= s.lifetime_minutes)
  ORDER BY s.time_in_state_minutes DESC, s.task_uuid
  LIMIT p_batch_size
$$;

-- Open a DLQ investigation with a snapshot of the task. Returns the entry id, or NULL
-- when the task already has a pending entry (ON CONFLICT on the partial unique index)
-- or anything else fails: it never raises (the sweep must go on).
CREATE FUNCTION tasker.create_dlq_entry(
  p_task_uuid             uuid,
  p_namespace_name        character varying,
  p_task_name             character varying,
  p_current_state         character varying,
  p_time_in_state_minutes integer,
  p_threshold_minutes     integer,
  p_dlq_reason            character varying DEFAULT 'staleness_timeout'
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
  v_entry uuid;
BEGIN
  INSERT INTO tasker.tasks_dlq (task_uuid, original_state, dlq_reason, task_snapshot, metadata)
  SELECT
    t.task_uuid,
    p_current_state,
    p_dlq_reason::tasker.dlq_reason,
    jsonb_build_object(
      'task_uuid', t.task_uuid,
      'namespace', p_namespace_name,
      'task_name', p_task_name,
      'current_state', p_current_state,
      'time_in_state_minutes', p_time_in_state_minutes,
      'threshold_minutes', p_threshold_minutes,
      'snapshot_timestamp', now(),
      'task_details', jsonb_build_object(
        'correlation_id', t.correlation_id,
        'priority', t.priority,
        'requested_at', t.requested_at,
        'created_at', t.created_at)),
    jsonb_build_object(
      'detection_method', CASE WHEN p_dlq_reason = 'staleness_timeout' THEN 'automatic_staleness' ELSE 'manual' END,
      'time_in_state_minutes', p_time_in_state_minutes,
      'threshold_minutes', p_threshold_minutes)
  FROM tasker.tasks t
  WHERE t.task_uuid = p_task_uuid
  ON CONFLICT (task_uuid) WHERE resolution_status = 'pending' DO NOTHING
  RETURNING dlq_entry_uuid INTO v_entry;

  RETURN v_entry;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'create_dlq_entry(%) failed: %', p_task_uuid, SQLERRM;
  RETURN NULL;
END
$$;

-- CAS the task from p_current_state to error. The rule table names the event
-- (blocked_by_failures: GiveUp, enqueuing_steps: EnqueueFailed, otherwise Fail).
-- false when the task moved on meanwhile; never raises.
CREATE FUNCTION tasker.transition_stale_task_to_error(
  p_task_uuid      uuid,
  p_current_state  character varying,
  p_namespace_name character varying,
  p_task_name      character varying
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  RETURN tasker.transition_task_state(
    p_task_uuid, p_current_state, 'error', NULL,
    jsonb_build_object(
      'reason', 'staleness_timeout',
      'namespace', p_namespace_name,
      'task_name', p_task_name,
      'stale_state', p_current_state,
      'detected_at', now()));
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'transition_stale_task_to_error(%) failed: %', p_task_uuid, SQLERRM;
  RETURN false;
END
$$;

-- The staleness sweep. One discovery query, then per task (isolated: one failure does
-- not stop the batch): DLQ entry (unless staleness_action = 'error') + CAS to error.
-- action_taken: would_transition_to_dlq_and_error (dry run) | transitioned_to_dlq_and_error
-- | moved_to_dlq_only | transitioned_to_error_only | transition_failed.
CREATE FUNCTION tasker.detect_and_transition_stale_tasks(
  p_dry_run                            boolean DEFAULT true,
  p_batch_size                         integer DEFAULT 100,
  p_default_waiting_deps_threshold     integer DEFAULT 60,
  p_default_waiting_retry_threshold    integer DEFAULT 30,
  p_default_steps_in_process_threshold integer DEFAULT 30,
  p_default_task_max_lifetime_hours    integer DEFAULT 24
) RETURNS TABLE (
  task_uuid                   uuid,
  namespace_name              character varying,
  task_name                   character varying,
  current_state               character varying,
  time_in_state_minutes       integer,
  staleness_threshold_minutes integer,
  action_taken                character varying,
  moved_to_dlq                boolean,
  transition_success          boolean
)
LANGUAGE plpgsql AS $$
DECLARE
  v_task  record;
  v_entry uuid;
  v_moved boolean;
BEGIN
  FOR v_task IN
    SELECT * FROM tasker.get_stale_tasks_for_dlq(
      p_default_waiting_deps_threshold, p_default_waiting_retry_threshold,
      p_default_steps_in_process_threshold, p_default_task_max_lifetime_hours, p_batch_size)
  LOOP
    task_uuid                   := v_task.task_uuid;
    namespace_name              := v_task.namespace_name;
    task_name                   := v_task.task_name;
    current_state               := v_task.current_state;
    time_in_state_minutes       := floor(v_task.time_in_state_minutes)::integer;
    staleness_threshold_minutes := v_task.threshold_minutes;

    IF p_dry_run THEN
      action_taken       := 'would_transition_to_dlq_and_error';
      moved_to_dlq       := false;
      transition_success := false;
    ELSE
      v_entry := NULL;
      IF v_task.staleness_action = 'dlq' THEN
        v_entry := tasker.create_dlq_entry(v_task.task_uuid, v_task.namespace_name, v_task.task_name,
                                           v_task.current_state, floor(v_task.time_in_state_minutes)::integer,
                                           v_task.threshold_minutes, 'staleness_timeout');
      END IF;
      v_moved := tasker.transition_stale_task_to_error(v_task.task_uuid, v_task.current_state,
                                                       v_task.namespace_name, v_task.task_name);
      moved_to_dlq       := v_entry IS NOT NULL;
      transition_success := v_moved;
      action_taken := CASE
        WHEN v_entry IS NOT NULL AND v_moved THEN 'transitioned_to_dlq_and_error'
        WHEN v_entry IS NOT NULL THEN 'moved_to_dlq_only'
        WHEN v_moved THEN 'transitioned_to_error_only'
        ELSE 'transition_failed'
      END;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;

-- Tasks resting in an active state (initializing, enqueuing_steps, steps_in_process,
-- evaluating_results) for longer than p_timeout_minutes.
CREATE FUNCTION tasker.find_stuck_tasks(p_timeout_minutes integer DEFAULT 10)
RETURNS TABLE (
  task_uuid              uuid,
  current_state          character varying,
  processor_uuid         uuid,
  stuck_duration_minutes integer
)
LANGUAGE sql STABLE AS $$
  SELECT t.task_uuid, t.current_state, tt.processor_uuid,
         floor(extract(epoch FROM (now() - tt.created_at)) / 60)::integer
  FROM tasker.tasks t
  JOIN tasker.task_transitions tt ON tt.task_uuid = t.task_uuid AND tt.most_recent
  WHERE t.current_state IN ('initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results')
    AND tt.created_at < now() - make_interval(mins => p_timeout_minutes)
  ORDER BY tt.created_at
$$;

-- Count of tasks per each of the 12 task states and of steps per each of the 10 step
-- states, plus totals (from the denormalized current_state columns).
CREATE FUNCTION tasker.get_system_health_counts()
RETURNS TABLE (
  pending_tasks                             bigint,
  initializing_tasks                        bigint,
  enqueuing_steps_tasks                     bigint,
  steps_in_process_tasks                    bigint,
  evaluating_results_tasks                  bigint,
  waiting_for_dependencies_tasks            bigint,
  waiting_for_retry_tasks                   bigint,
  blocked_by_failures_tasks                 bigint,
  complete_tasks                            bigint,
  error_tasks                               bigint,
  cancelled_tasks                           bigint,
  resolved_manually_tasks                   bigint,
  total_tasks                               bigint,
  pending_steps                             bigint,
  enqueued_steps                            bigint,
  in_progress_steps                         bigint,
  enqueued_for_orchestration_steps          bigint,
  enqueued_as_error_for_orchestration_steps bigint,
  waiting_for_retry_steps                   bigint,
  complete_steps                            bigint,
  error_steps                               bigint,
  cancelled_steps                           bigint,
  resolved_manually_steps                   bigint,
  total_steps                               bigint
)
LANGUAGE sql STABLE AS $$
  WITH tc AS (
    SELECT
      count(*) FILTER (WHERE current_state = 'pending')                  AS pending,
      count(*) FILTER (WHERE current_state = 'initializing')             AS initializing,
      count(*) FILTER (WHERE current_state = 'enqueuing_steps')          AS enqueuing_steps,
      count(*) FILTER (WHERE current_state = 'steps_in_process')         AS steps_in_process,
      count(*) FILTER (WHERE current_state = 'evaluating_results')       AS evaluating_results,
      count(*) FILTER (WHERE current_state = 'waiting_for_dependencies') AS waiting_for_dependencies,
      count(*) FILTER (WHERE current_state = 'waiting_for_retry')        AS waiting_for_retry,
      count(*) FILTER (WHERE current_state = 'blocked_by_failures')      AS blocked_by_failures,
      count(*) FILTER (WHERE current_state = 'complete')                 AS complete,
      count(*) FILTER (WHERE current_state = 'error')                    AS error,
      count(*) FILTER (WHERE current_state = 'cancelled')                AS cancelled,
      count(*) FILTER (WHERE current_state = 'resolved_manually')        AS resolved_manually,
      count(*)                                                           AS total
    FROM tasker.tasks
  ),
  sc AS (
    SELECT
      count(*) FILTER (WHERE current_state = 'pending')                             AS pending,
      count(*) FILTER (WHERE current_state = 'enqueued')                            AS enqueued,
      count(*) FILTER (WHERE current_state = 'in_progress')                         AS in_progress,
      count(*) FILTER (WHERE current_state = 'enqueued_for_orchestration')          AS enqueued_for_orchestration,
      count(*) FILTER (WHERE current_state = 'enqueued_as_error_for_orchestration') AS enqueued_as_error_for_orchestration,
      count(*) FILTER (WHERE current_state = 'waiting_for_retry')                   AS waiting_for_retry,
      count(*) FILTER (WHERE current_state = 'complete')                            AS complete,
      count(*) FILTER (WHERE current_state = 'error')                               AS error,
      count(*) FILTER (WHERE current_state = 'cancelled')                           AS cancelled,
      count(*) FILTER (WHERE current_state = 'resolved_manually')                   AS resolved_manually,
      count(*)                                                                      AS total
    FROM tasker.workflow_steps
  )
  SELECT tc.pending, tc.initializing, tc.enqueuing_steps, tc.steps_in_process, tc.evaluating_results,
         tc.waiting_for_dependencies, tc.waiting_for_retry, tc.blocked_by_failures,
         tc.complete, tc.error, tc.cancelled, tc.resolved_manually, tc.total,
         sc.pending, sc.enqueued, sc.in_progress, sc.enqueued_for_orchestration,
         sc.enqueued_as_error_for_orchestration, sc.waiting_for_retry,
         sc.complete, sc.error, sc.cancelled, sc.resolved_manually, sc.total
  FROM tc CROSS JOIN sc
$$;
