-- 0014: operator actions, one transaction per call (REFERENCE 7.4, 9, 12.15; DESIGN 4.1, 4.2, 4.7;
-- docs/sql-functions.md "Operator actions").
--
--   cancel_task             every non-terminal step -> cancelled, the task -> cancelled, and the
--                           task's worker messages that no worker holds are deleted.
--   reset_step_for_retry    error -> pending (attempts 0, backoff cleared), then re-evaluate the task.
--   resolve_step_manually   any non-terminal -> resolved_manually (satisfies dependents), re-evaluate.
--   complete_step_manually  any non-terminal -> complete with the operator's result wrapped as a
--                           successful StepExecutionResult, re-evaluate.
--
-- Locking, as 0012: the task row first (FOR UPDATE), then the worker messages (cancel only), then
-- the steps. Workers lock queue message -> step and never the task, so no cycle is possible; in
-- particular cancel deletes messages BEFORE it locks any step (a claim holds its message while it
-- waits for the step). "Re-evaluate" is advance_task in mode 'resume' under the same task lock: a
-- blocked_by_failures task whose failed steps are gone resumes, an `error` task re-opens
-- (OperatorResume), ready steps are enqueued with their worker messages in the same transaction.
-- Every transition made is reported in `transitions` (the 0012 format) for LifecycleEvents.
--
-- SQLSTATEs: TK001 the action does not apply to the step's current state; DETAIL is the JSON
-- {"entity":"step","entity_uuid","from","to"}. TK012 a CAS failed under the locks (a bug).

-- Transition metadata of an operator action: the caller's object (a non-object is kept under
-- "data") plus the processor and the action's name.
CREATE FUNCTION tasker.operator_metadata(p_metadata jsonb, p_processor_uuid uuid, p_action text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
           WHEN p_metadata IS NULL THEN '{}'::jsonb
           WHEN jsonb_typeof(p_metadata) = 'object' THEN p_metadata
           ELSE jsonb_build_object('data', p_metadata)
         END
         || jsonb_strip_nulls(jsonb_build_object('processor_uuid', p_processor_uuid, 'operator_action', p_action))
$$;

-- Deletes the task's messages from its worker queue that no worker holds (visible: vt has passed);
-- returns how many. A message a worker is processing stays: that worker's complete_step finds its
-- step moved on, writes nothing and deletes the message itself. A concurrent claim of a message
-- makes this DELETE wait for it and then skip the message (its vt is in the future by then).
-- Messages carry only ids, so the match is a scan of the queue table (operator actions are rare;
-- an index on message ->> 'task_uuid' would tax every send).
CREATE FUNCTION tasker.operator_delete_task_messages(p_queue text, p_task_uuid uuid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_table text := tasker.pgmq_queue_table_name(p_queue);
  v_count integer;
BEGIN
  IF to_regclass(format('pgmq.%I', v_table)) IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE format('DELETE FROM pgmq.%I WHERE message ->> ''task_uuid'' = $1 AND vt <= clock_timestamp()', v_table)
    USING p_task_uuid::text;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;

-- Cancels a task (REFERENCE 9 DELETE, 12.15). No row for an unknown task. A terminal task is
-- reported (outcome 'already_terminal', state = its state) and nothing changes. Otherwise, in one
-- transaction: lock the task; delete its unheld worker messages; lock its steps in key order and
-- move every non-terminal one to cancelled (Cancel, one set-based CAS); the task -> cancelled.
-- Afterwards nothing is enqueued for the task any more (advance_task is a no-op on terminal tasks,
-- claims drop messages of cancelled steps, apply_step_result skips results of cancelled steps).
CREATE FUNCTION tasker.cancel_task(
  p_task_uuid      uuid,
  p_processor_uuid uuid,
  p_metadata       jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
  previous_state   text,
  state            text,
  outcome          text,
  steps_cancelled  integer,
  messages_deleted integer,
  transitions      jsonb
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_state   text;
  v_queue   text;
  v_meta    jsonb := tasker.operator_metadata(p_metadata, p_processor_uuid, 'cancel_task');
  v_deleted integer;
  v_steps   uuid[];
  v_from    text[];
  v_moved   integer;
  v_trans   jsonb := '[]'::jsonb;
BEGIN
  SELECT t.current_state, 'worker_' || tns.name || '_queue' INTO v_state, v_queue
  FROM tasker.tasks t
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
  WHERE t.task_uuid = p_task_uuid
  FOR UPDATE OF t;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_state IN ('complete', 'error', 'cancelled', 'resolved_manually') THEN
    RETURN QUERY SELECT v_state, v_state, 'already_terminal'::text, 0, 0, '[]'::jsonb;
    RETURN;
  END IF;

  -- messages before steps: a claim holds its message while it waits for the step row
  v_deleted := tasker.operator_delete_task_messages(v_queue, p_task_uuid);

  -- lock every step (key order) and read the state it has once we hold it
  SELECT array_agg(s.workflow_step_uuid ORDER BY s.workflow_step_uuid),
         array_agg(s.current_state::text ORDER BY s.workflow_step_uuid)
    INTO v_steps, v_from
  FROM (
    SELECT ws.workflow_step_uuid, ws.current_state
    FROM tasker.workflow_steps ws
    WHERE ws.task_uuid = p_task_uuid
    ORDER BY ws.workflow_step_uuid
    FOR UPDATE
  ) s
  WHERE s.current_state NOT IN ('complete', 'cancelled', 'resolved_manually');

  IF v_steps IS NOT NULL THEN
    SELECT count(*) INTO v_moved FROM tasker.transition_steps_state(v_steps, NULL, 'cancelled', v_meta);
    IF v_moved <> cardinality(v_steps) THEN
      RAISE EXCEPTION 'cancel_task: % of % steps of task % cancelled under the locks', v_moved, cardinality(v_steps), p_task_uuid
        USING ERRCODE = 'TK012';
    END IF;
    SELECT jsonb_agg(jsonb_build_object('entity', 'step', 'task_uuid', p_task_uuid, 'step_uuid', x.s,
                                        'from_state', x.f, 'to_state', 'cancelled') ORDER BY x.s)
      INTO v_trans
    FROM unnest(v_steps, v_from) AS x(s, f);
  END IF;

  v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'cancelled', p_processor_uuid, v_meta);

  RETURN QUERY SELECT v_state, 'cancelled'::text, 'cancelled'::text, coalesce(cardinality(v_steps), 0), v_deleted, v_trans;
END
$$;

-- Shared body of the step actions. No row for an unknown task. outcome:
--   'task_terminal'  the task is complete / cancelled / resolved_manually: nothing changes
--                    (an `error` task is accepted and re-opened by the re-evaluation);
--   'step_not_found' the step does not exist or belongs to another task: nothing changes;
--   'applied'        the step moved to p_to_state and the task was re-evaluated.
-- The step must be in one of p_from_states (NULL: any state with a rule to p_to_state), else TK001
-- with DETAIL {"entity":"step","entity_uuid","from","to"}. step_state is the step's state when the
-- call returns (e.g. `enqueued` after a reset that the re-evaluation enqueued again).
CREATE FUNCTION tasker.operator_step_action(
  p_task_uuid      uuid,
  p_step_uuid      uuid,
  p_to_state       text,
  p_from_states    text[],
  p_processor_uuid uuid,
  p_metadata       jsonb,
  p_results        jsonb DEFAULT NULL
) RETURNS TABLE (
  outcome         text,
  step_from_state text,
  step_state      text,
  previous_state  text,
  state           text,
  action          text,
  steps_enqueued  integer,
  step_uuids      uuid[],
  transitions     jsonb
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_task_state text;
  v_from       text;
  v_now        text;
  v_adv        record;
BEGIN
  SELECT t.current_state INTO v_task_state FROM tasker.tasks t WHERE t.task_uuid = p_task_uuid FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_task_state IN ('complete', 'cancelled', 'resolved_manually') THEN
    RETURN QUERY SELECT 'task_terminal'::text, NULL::text, NULL::text, v_task_state, v_task_state, 'NoAction'::text,
                        0, '{}'::uuid[], '[]'::jsonb;
    RETURN;
  END IF;

  SELECT ws.current_state INTO v_from
  FROM tasker.workflow_steps ws
  WHERE ws.workflow_step_uuid = p_step_uuid AND ws.task_uuid = p_task_uuid
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'step_not_found'::text, NULL::text, NULL::text, v_task_state, v_task_state, 'NoAction'::text,
                        0, '{}'::uuid[], '[]'::jsonb;
    RETURN;
  END IF;

  IF NOT tasker.is_legal_step_transition(v_from, p_to_state)
     OR (p_from_states IS NOT NULL AND v_from <> ALL (p_from_states)) THEN
    RAISE EXCEPTION 'illegal step transition: % -> % (step %)', v_from, p_to_state, p_step_uuid
      USING ERRCODE = 'TK001',
            DETAIL = jsonb_build_object('entity', 'step', 'entity_uuid', p_step_uuid,
                                        'from', v_from, 'to', p_to_state)::text;
  END IF;

  IF NOT tasker.transition_step_state(p_step_uuid, v_from, p_to_state, p_metadata, p_results) THEN
    RAISE EXCEPTION 'step % is not in state % (transition to % under the locks)', p_step_uuid, v_from, p_to_state
      USING ERRCODE = 'TK012';
  END IF;

  SELECT * INTO v_adv FROM tasker.advance_task(p_task_uuid, p_processor_uuid, 'resume');
  SELECT ws.current_state INTO v_now FROM tasker.workflow_steps ws WHERE ws.workflow_step_uuid = p_step_uuid;

  RETURN QUERY
  SELECT 'applied'::text, v_from, v_now, v_adv.previous_state, v_adv.state, v_adv.action, v_adv.steps_enqueued,
         v_adv.step_uuids,
         jsonb_build_array(jsonb_build_object('entity', 'step', 'task_uuid', p_task_uuid, 'step_uuid', p_step_uuid,
                                              'from_state', v_from, 'to_state', p_to_state))
         || v_adv.transitions;
END
$$;

-- error -> pending (ResetForRetry: attempts = 0, backoff_request_seconds = NULL; the 0004
-- transition does it), then re-evaluate: the step is ready at once and enqueued again in this
-- transaction; a blocked_by_failures task resumes, an errored task re-opens. Only a step in
-- `error` can be reset (a waiting_for_retry step retries by itself): TK001 otherwise.
CREATE FUNCTION tasker.reset_step_for_retry(
  p_task_uuid      uuid,
  p_step_uuid      uuid,
  p_processor_uuid uuid,
  p_metadata       jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
  outcome text, step_from_state text, step_state text, previous_state text, state text, action text,
  steps_enqueued integer, step_uuids uuid[], transitions jsonb
)
LANGUAGE sql AS $$
  SELECT * FROM tasker.operator_step_action(
    p_task_uuid, p_step_uuid, 'pending', ARRAY['error'], p_processor_uuid,
    tasker.operator_metadata(p_metadata, p_processor_uuid, 'reset_for_retry'))
$$;

-- Any non-terminal state -> resolved_manually (satisfies dependents), then re-evaluate: children
-- whose parents are now all satisfied are enqueued; the task can complete.
CREATE FUNCTION tasker.resolve_step_manually(
  p_task_uuid      uuid,
  p_step_uuid      uuid,
  p_processor_uuid uuid,
  p_metadata       jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
  outcome text, step_from_state text, step_state text, previous_state text, state text, action text,
  steps_enqueued integer, step_uuids uuid[], transitions jsonb
)
LANGUAGE sql AS $$
  SELECT * FROM tasker.operator_step_action(
    p_task_uuid, p_step_uuid, 'resolved_manually', NULL, p_processor_uuid,
    tasker.operator_metadata(p_metadata, p_processor_uuid, 'resolve_manually'))
$$;

-- Any non-terminal state -> complete with results = a successful StepExecutionResult:
--   {step_uuid, success: true, status: "completed", result: p_result, error: null,
--    metadata: {execution_time_ms: 0, retryable: false, completed_at, context: {},
--               custom: p_extra_metadata + {manually_completed: true, completed_by, completion_reason}},
--    orchestration_metadata: null}
-- completed_by / completion_reason are p_metadata's "completed_by" / "reason". Then re-evaluate
-- (children become ready and are enqueued). The transition metadata names the event
-- CompleteManually (the rule event from enqueued_*_for_orchestration is Complete).
CREATE FUNCTION tasker.complete_step_manually(
  p_task_uuid        uuid,
  p_step_uuid        uuid,
  p_processor_uuid   uuid,
  p_metadata         jsonb,
  p_result           jsonb,
  p_extra_metadata   jsonb DEFAULT NULL
) RETURNS TABLE (
  outcome text, step_from_state text, step_state text, previous_state text, state text, action text,
  steps_enqueued integer, step_uuids uuid[], transitions jsonb
)
LANGUAGE sql AS $$
  SELECT * FROM tasker.operator_step_action(
    p_task_uuid, p_step_uuid, 'complete', NULL, p_processor_uuid,
    tasker.operator_metadata(p_metadata, p_processor_uuid, 'complete_manually')
      || jsonb_build_object('event', 'CompleteManually'),
    jsonb_build_object(
      'step_uuid', p_step_uuid,
      'success', true,
      'status', 'completed',
      'result', p_result,
      'error', NULL,
      'metadata', jsonb_build_object(
        'execution_time_ms', 0,
        'retryable', false,
        'completed_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'context', '{}'::jsonb,
        'custom', CASE WHEN jsonb_typeof(p_extra_metadata) = 'object' THEN p_extra_metadata ELSE '{}'::jsonb END
                  || jsonb_build_object('manually_completed', true,
                                        'completed_by', p_metadata ->> 'completed_by',
                                        'completion_reason', p_metadata ->> 'reason')),
      'orchestration_metadata', NULL))
$$;
