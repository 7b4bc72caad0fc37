-- 0012: the orchestration lifecycle, one round trip per operation (REFERENCE 1.3, 6.3-6.5, 12.1,
-- 12.7, 12.8; DESIGN 2, 4.4, 6; docs/sql-functions.md "Lifecycle functions").
--
--   advance_task       the state handlers of the step enqueuer (6.5) + the finalizer (6.4): moves a
--                      task from the state it rests in as far as its execution context allows,
--                      enqueuing ready steps with their worker messages in the same transaction.
--   finalize_task      advance_task in 'finalize' mode + the execution context afterwards.
--   create_task        task + initial steps + edges (cycle refused) + advance, one transaction.
--   apply_step_result  complete / error / waiting_for_retry (with backoff) for a step result,
--                      optionally followed by advance_task.
--
-- Locking: every function locks the task row FOR UPDATE before touching its steps, so
-- orchestrators working on one task serialize, and the lock order is always task -> steps
-- (workers lock queue message -> step and never the task, so no cycle is possible).
-- Transitions go through the CAS functions of 0004; with the task locked a failed CAS is a bug
-- (TK012). Every transition made is reported in `transitions` (jsonb array of
-- {entity:"task",task_uuid,from_state,to_state} | {entity:"step",task_uuid,step_uuid,from_state,to_state})
-- so the caller can publish lifecycle events after commit.
--
-- SQLSTATEs: TK010 dependency cycle among the steps of a new task (message names the steps),
-- TK011 an edge names a step that is not in the step list, TK012 a CAS failed under the task lock.

-- The template `type` of a step (configuration = named_tasks.configuration), default standard.
-- Dynamically created steps that are not in the template (batch workers `{template}_{id}`) are
-- standard, as the reference clones them.
CREATE FUNCTION tasker.template_step_type(p_configuration jsonb, p_step_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(
    (SELECT s ->> 'type'
     FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_configuration -> 'steps') = 'array'
                                    THEN p_configuration -> 'steps' ELSE '[]'::jsonb END) AS s
     WHERE s ->> 'name' = p_step_name
     LIMIT 1),
    'standard')
$$;

-- One task CAS under the caller's task lock; returns the transition as reported in `transitions`.
CREATE FUNCTION tasker.lifecycle_move_task(
  p_task_uuid      uuid,
  p_from_state     text,
  p_to_state       text,
  p_processor_uuid uuid,
  p_metadata       jsonb DEFAULT '{}'::jsonb
) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT tasker.transition_task_state(p_task_uuid, p_from_state, p_to_state, p_processor_uuid, p_metadata) THEN
    RAISE EXCEPTION 'task % is not in state % (transition to % under the task lock)', p_task_uuid, p_from_state, p_to_state
      USING ERRCODE = 'TK012';
  END IF;
  RETURN jsonb_build_object('entity', 'task', 'task_uuid', p_task_uuid,
                            'from_state', p_from_state, 'to_state', p_to_state);
END
$$;

-- Enqueues every ready step of one task (tasker.enqueue_ready_steps: Retry + Enqueue, set-based)
-- and sends their worker messages {task_uuid, step_uuid, correlation_id} with ONE
-- pgmq_send_batch_with_notify to p_queue, in the caller's transaction. The queue is created
-- if missing (one index probe when it exists).
CREATE FUNCTION tasker.lifecycle_enqueue_ready_steps(
  p_task_uuid   uuid,
  p_queue       text,
  OUT step_uuids  uuid[],
  OUT transitions jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
  v_retrying uuid[];
  v_messages jsonb[];
BEGIN
  -- steps that will take the Retry transition first (the only other readiness candidate is pending)
  SELECT coalesce(array_agg(ws.workflow_step_uuid), '{}') INTO v_retrying
  FROM tasker.workflow_steps ws
  WHERE ws.task_uuid = p_task_uuid AND ws.current_state = 'waiting_for_retry';

  SELECT coalesce(array_agg(e.workflow_step_uuid ORDER BY e.workflow_step_uuid), '{}'),
         coalesce(array_agg(jsonb_build_object('task_uuid', e.task_uuid, 'step_uuid', e.workflow_step_uuid,
                                               'correlation_id', e.correlation_id)
                            ORDER BY e.workflow_step_uuid), '{}')
    INTO step_uuids, v_messages
  FROM tasker.enqueue_ready_steps(ARRAY[p_task_uuid]) e;

  IF cardinality(step_uuids) = 0 THEN
    transitions := '[]'::jsonb;
    RETURN;
  END IF;

  SELECT jsonb_agg(x.t ORDER BY x.step_uuid, x.ord) INTO transitions
  FROM (
    SELECT s AS step_uuid, 0 AS ord,
           jsonb_build_object('entity', 'step', 'task_uuid', p_task_uuid, 'step_uuid', s,
                              'from_state', 'waiting_for_retry', 'to_state', 'pending') AS t
    FROM unnest(step_uuids) AS s
    WHERE s = ANY (v_retrying)
    UNION ALL
    SELECT s, 1,
           jsonb_build_object('entity', 'step', 'task_uuid', p_task_uuid, 'step_uuid', s,
                              'from_state', 'pending', 'to_state', 'enqueued')
    FROM unnest(step_uuids) AS s
  ) x;

  PERFORM tasker.pgmq_ensure_queues(ARRAY[p_queue]);
  PERFORM tasker.pgmq_send_batch_with_notify(p_queue, v_messages, 0);
END
$$;

-- Moves a task from the state it rests in as far as its execution context allows
-- (REFERENCE 6.5 state handlers + 6.4 finalizer), in one transaction holding the task row lock:
--   pending                  -> initializing (Start), continue
--   initializing             no steps -> complete (NoStepsFound); ready -> enqueuing_steps
--                            (ReadyStepsFound) -> enqueue; else -> waiting_for_dependencies
--   enqueuing_steps          enqueue -> steps_in_process (StepsEnqueued); stop when steps were sent
--   steps_in_process         context processing -> stop; else -> evaluating_results (StepCompleted)
--   evaluating_results       blocked_by_failures -> blocked_by_failures (PermanentFailure), stop;
--                            has_ready_steps -> enqueuing_steps (ReadyStepsFound) -> enqueue;
--                            processing -> steps_in_process (StepsStillProcessing), stop;
--                            all_complete -> complete (AllStepsSuccessful), stop;
--                            waiting_for_dependencies -> waiting_for_dependencies (NoDependenciesReady)
--   waiting_for_dependencies still waiting -> stop; else -> evaluating_results (DependenciesReady)
--   waiting_for_retry        has_ready_steps -> enqueuing_steps (RetryReady) -> enqueue; else stop
--   blocked_by_failures      still blocked: p_mode 'finalize' -> error (GiveUp), else stop;
--                            no longer blocked (an operator fixed the step) -> evaluating_results
--                            (OperatorResume), any mode
--   error                    p_mode 'resume' -> evaluating_results (OperatorResume); else stop
--   complete / cancelled / resolved_manually: nothing.
-- p_mode: 'evaluate' (result processing, readiness, creation), 'finalize' (finalization request:
-- also gives a blocked task up), 'resume' (DLQ resolution: re-opens an errored task).
-- action: Enqueued | Completed | Blocked | Failed | Waiting | Processing | NoAction.
-- No row when the task does not exist.
CREATE FUNCTION tasker.advance_task(
  p_task_uuid      uuid,
  p_processor_uuid uuid,
  p_mode           text DEFAULT 'evaluate'
) RETURNS TABLE (
  previous_state text,
  state          text,
  action         text,
  steps_enqueued integer,
  step_uuids     uuid[],
  transitions    jsonb
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_state    text;
  v_prev     text;
  v_queue    text;
  v_ctx      record;
  v_have_ctx boolean := false;
  v_action   text := 'NoAction';
  v_trans    jsonb := '[]'::jsonb;
  v_uuids    uuid[] := '{}';
  v_enq      record;
  v_iter     integer := 0;
BEGIN
  IF p_mode IS NULL OR p_mode NOT IN ('evaluate', 'finalize', 'resume') THEN
    RAISE EXCEPTION 'advance_task: unknown mode % (evaluate | finalize | resume)', coalesce(p_mode, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT t.current_state, 'worker_' || tns.name || '_queue' INTO v_state, v_queue
  FROM tasker.tasks t
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
  WHERE t.task_uuid = p_task_uuid
  FOR UPDATE OF t;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  v_prev := v_state;

  <<advance>>
  LOOP
    v_iter := v_iter + 1;
    IF v_iter > 10 THEN
      -- unreachable in practice; every state is a legal resting state, the next call continues
      RAISE WARNING 'advance_task: task % still moving after 10 steps, resting in %', p_task_uuid, v_state;
      EXIT advance;
    END IF;

    IF NOT v_have_ctx AND v_state IN ('initializing', 'steps_in_process', 'evaluating_results',
                                      'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures') THEN
      SELECT c.total_steps, c.ready_steps, c.execution_status INTO v_ctx
      FROM tasker.get_task_execution_context(p_task_uuid) c;
      v_have_ctx := true;
    END IF;

    CASE v_state
      WHEN 'pending' THEN
        v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, 'pending', 'initializing', p_processor_uuid);
        v_state := 'initializing';

      WHEN 'initializing' THEN
        IF v_ctx.total_steps = 0 THEN
          v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'complete', p_processor_uuid);
          v_state := 'complete'; v_action := 'Completed';
          EXIT advance;
        ELSIF v_ctx.ready_steps > 0 THEN
          v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'enqueuing_steps', p_processor_uuid,
                                                           jsonb_build_object('ready_steps', v_ctx.ready_steps));
          v_state := 'enqueuing_steps';
        ELSE
          v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'waiting_for_dependencies', p_processor_uuid);
          v_state := 'waiting_for_dependencies'; v_action := 'Waiting';
          EXIT advance;
        END IF;

      WHEN 'enqueuing_steps' THEN
        SELECT * INTO v_enq FROM tasker.lifecycle_enqueue_ready_steps(p_task_uuid, v_queue);
        v_uuids := v_uuids || v_enq.step_uuids;
        v_trans := v_trans || v_enq.transitions
                   || tasker.lifecycle_move_task(p_task_uuid, 'enqueuing_steps', 'steps_in_process', p_processor_uuid,
                                                 jsonb_build_object('steps_enqueued', cardinality(v_enq.step_uuids)));
        v_state := 'steps_in_process';
        v_have_ctx := false;
        IF cardinality(v_enq.step_uuids) > 0 THEN
          v_action := 'Enqueued';
          EXIT advance;
        END IF;
        -- nothing was ready after all (a step moved meanwhile): re-evaluate

      WHEN 'steps_in_process' THEN
        IF v_ctx.execution_status = 'processing' THEN
          v_action := CASE WHEN cardinality(v_uuids) > 0 THEN 'Enqueued' ELSE 'Processing' END;
          EXIT advance;
        END IF;
        v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'evaluating_results', p_processor_uuid);
        v_state := 'evaluating_results';

      WHEN 'evaluating_results' THEN
        CASE v_ctx.execution_status
          WHEN 'blocked_by_failures' THEN
            v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'blocked_by_failures', p_processor_uuid);
            v_state := 'blocked_by_failures'; v_action := 'Blocked';
            EXIT advance;
          WHEN 'has_ready_steps' THEN
            v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'enqueuing_steps', p_processor_uuid,
                                                             jsonb_build_object('ready_steps', v_ctx.ready_steps));
            v_state := 'enqueuing_steps';
          WHEN 'processing' THEN
            v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'steps_in_process', p_processor_uuid);
            v_state := 'steps_in_process'; v_action := 'Processing';
            EXIT advance;
          WHEN 'all_complete' THEN
            v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'complete', p_processor_uuid);
            v_state := 'complete'; v_action := 'Completed';
            EXIT advance;
          ELSE
            v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'waiting_for_dependencies', p_processor_uuid);
            v_state := 'waiting_for_dependencies'; v_action := 'Waiting';
            EXIT advance;
        END CASE;

      WHEN 'waiting_for_dependencies' THEN
        IF v_ctx.execution_status = 'waiting_for_dependencies' THEN
          v_action := 'Waiting';
          EXIT advance;
        END IF;
        v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'evaluating_results', p_processor_uuid);
        v_state := 'evaluating_results';

      WHEN 'waiting_for_retry' THEN
        IF v_ctx.execution_status <> 'has_ready_steps' THEN
          v_action := 'Waiting';
          EXIT advance;
        END IF;
        v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'enqueuing_steps', p_processor_uuid);
        v_state := 'enqueuing_steps';

      WHEN 'blocked_by_failures' THEN
        IF v_ctx.execution_status = 'blocked_by_failures' THEN
          IF p_mode = 'finalize' THEN
            v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'error', p_processor_uuid);
            v_state := 'error'; v_action := 'Failed';
          ELSE
            v_action := 'Blocked';
          END IF;
          EXIT advance;
        END IF;
        v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'evaluating_results', p_processor_uuid);
        v_state := 'evaluating_results';

      WHEN 'error' THEN
        IF p_mode = 'resume' AND v_iter = 1 THEN
          v_trans := v_trans || tasker.lifecycle_move_task(p_task_uuid, v_state, 'evaluating_results', p_processor_uuid);
          v_state := 'evaluating_results';
        ELSE
          EXIT advance;
        END IF;

      ELSE
        -- complete, cancelled, resolved_manually
        EXIT advance;
    END CASE;
  END LOOP;

  RETURN QUERY SELECT v_prev, v_state, v_action, cardinality(v_uuids), v_uuids, v_trans;
END
$$;

-- Finalization (REFERENCE 6.4): advance_task in 'finalize' mode, then the execution context the
-- finalizer reports (a second statement, so it sees the transitions). No row for an unknown task.
CREATE FUNCTION tasker.finalize_task(p_task_uuid uuid, p_processor_uuid uuid)
RETURNS TABLE (
  previous_state        text,
  state                 text,
  action                text,
  steps_enqueued        integer,
  step_uuids            uuid[],
  transitions           jsonb,
  total_steps           integer,
  completed_steps       integer,
  failed_steps          integer,
  enqueued_steps        integer,
  execution_status      text,
  completion_percentage double precision,
  health_status         text
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_adv record;
BEGIN
  SELECT * INTO v_adv FROM tasker.advance_task(p_task_uuid, p_processor_uuid, 'finalize');
  IF NOT FOUND THEN
    RETURN;
  END IF;
  RETURN QUERY
  SELECT v_adv.previous_state, v_adv.state, v_adv.action, v_adv.steps_enqueued, v_adv.step_uuids, v_adv.transitions,
         c.total_steps::integer, c.completed_steps::integer, c.failed_steps::integer,
         c.enqueued_steps::integer, c.execution_status,
         c.completion_percentage::double precision, c.health_status
  FROM tasker.get_task_execution_context(p_task_uuid) c;
END
$$;

-- Task creation (REFERENCE 1.3 step 2, 12.1), one transaction:
--  * refuses a dependency cycle among p_edges (TK010, naming the steps on a cycle) and edges naming
--    a step outside p_steps (TK011) before anything is written;
--  * inserts the task; a task with the same identity_hash already exists -> created = false and
--    existing_task_uuid, nothing written (ON CONFLICT DO NOTHING: no error, no aborted transaction);
--  * find-or-creates the named steps, inserts the steps (initial `pending` transitions come from
--    the 0004 triggers) and the `provides` edges;
--  * advance_task: the task ends in steps_in_process with its root steps enqueued and one message
--    each on worker_{namespace}_queue (or complete when it has no steps).
-- p_steps: [{name, retryable, max_attempts, inputs}] (the initial step set, template order);
-- p_edges: [{from_step, to_step}] by name (from_step is the dependency of to_step).
CREATE FUNCTION tasker.create_task(
  p_named_task_uuid       uuid,
  p_identity_hash         text,
  p_context               jsonb,
  p_steps                 jsonb,
  p_edges                 jsonb,
  p_processor_uuid        uuid,
  p_correlation_id        uuid,
  p_initiator             text DEFAULT NULL,
  p_source_system         text DEFAULT NULL,
  p_reason                text DEFAULT NULL,
  p_tags                  jsonb DEFAULT NULL,
  p_priority              integer DEFAULT 0,
  p_parent_correlation_id uuid DEFAULT NULL,
  p_idempotency_key       text DEFAULT NULL,
  p_requested_at          timestamptz DEFAULT NULL
) RETURNS TABLE (
  task_uuid          uuid,
  created            boolean,
  existing_task_uuid uuid,
  steps_created      integer,
  previous_state     text,
  state              text,
  action             text,
  steps_enqueued     integer,
  step_uuids         uuid[],
  transitions        jsonb
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_cycle   text[];
  v_unknown text[];
  v_task    uuid;
  v_count   integer;
  v_adv     record;
BEGIN
  -- Cycle check on the names: the transitive closure of the edges (UNION dedupes the (start,
  -- node) pairs, so it terminates); a step reaching itself is on a cycle.
  WITH RECURSIVE e AS (
    SELECT DISTINCT x.from_step AS f, x.to_step AS t
    FROM jsonb_to_recordset(coalesce(p_edges, '[]'::jsonb)) AS x(from_step text, to_step text)
  ),
  reach (start, node) AS (
    SELECT e.f, e.t FROM e
    UNION
    SELECT r.start, e.t FROM reach r JOIN e ON e.f = r.node
  )
  SELECT array_agg(DISTINCT r.start ORDER BY r.start) INTO v_cycle FROM reach r WHERE r.start = r.node;
  IF v_cycle IS NOT NULL THEN
    RAISE EXCEPTION 'dependency cycle among steps: %', array_to_string(v_cycle, ', ')
      USING ERRCODE = 'TK010', DETAIL = array_to_string(v_cycle, ','),
            HINT = 'the stored template configuration has a cycle; fix and re-register the template';
  END IF;

  SELECT array_agg(DISTINCT n ORDER BY n) INTO v_unknown
  FROM jsonb_to_recordset(coalesce(p_edges, '[]'::jsonb)) AS x(from_step text, to_step text)
  CROSS JOIN LATERAL (VALUES (x.from_step), (x.to_step)) AS v(n)
  WHERE n IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_steps) s WHERE s ->> 'name' = n);
  IF v_unknown IS NOT NULL THEN
    RAISE EXCEPTION 'edge names a step that is not created: %', array_to_string(v_unknown, ', ')
      USING ERRCODE = 'TK011';
  END IF;

  INSERT INTO tasker.tasks AS t
    (named_task_uuid, identity_hash, context, initiator, source_system, reason, tags, priority,
     correlation_id, parent_correlation_id, idempotency_key, requested_at)
  VALUES (p_named_task_uuid, p_identity_hash, coalesce(p_context, '{}'::jsonb), p_initiator, p_source_system,
          p_reason, p_tags, coalesce(p_priority, 0), p_correlation_id, p_parent_correlation_id,
          p_idempotency_key, coalesce(p_requested_at, now()))
  ON CONFLICT (identity_hash) DO NOTHING
  RETURNING t.task_uuid INTO v_task;

  IF v_task IS NULL THEN
    RETURN QUERY
    SELECT NULL::uuid, false, x.task_uuid, 0, NULL::text, NULL::text, 'NoAction'::text, 0, '{}'::uuid[], '[]'::jsonb
    FROM tasker.tasks x WHERE x.identity_hash = p_identity_hash;
    RETURN;
  END IF;

  -- find-or-create (names are global; normally registration created them already)
  INSERT INTO tasker.named_steps (name)
  SELECT DISTINCT s ->> 'name' FROM jsonb_array_elements(p_steps) s
  WHERE NOT EXISTS (SELECT 1 FROM tasker.named_steps ns WHERE ns.name = s ->> 'name')
  ORDER BY 1
  ON CONFLICT (name) DO NOTHING;

  INSERT INTO tasker.workflow_steps (task_uuid, named_step_uuid, retryable, max_attempts, inputs)
  SELECT v_task, ns.named_step_uuid, coalesce((x.s ->> 'retryable')::boolean, true),
         coalesce((x.s ->> 'max_attempts')::integer, 3), x.s -> 'inputs'
  FROM jsonb_array_elements(p_steps) WITH ORDINALITY AS x(s, ord)
  JOIN tasker.named_steps ns ON ns.name = x.s ->> 'name'
  ORDER BY x.ord;
  GET DIAGNOSTICS v_count = ROW_COUNT;

  INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid, name)
  SELECT DISTINCT fs.workflow_step_uuid, ts.workflow_step_uuid, 'provides'
  FROM jsonb_to_recordset(coalesce(p_edges, '[]'::jsonb)) AS x(from_step text, to_step text)
  JOIN tasker.named_steps fn ON fn.name = x.from_step
  JOIN tasker.named_steps tn ON tn.name = x.to_step
  JOIN tasker.workflow_steps fs ON fs.task_uuid = v_task AND fs.named_step_uuid = fn.named_step_uuid
  JOIN tasker.workflow_steps ts ON ts.task_uuid = v_task AND ts.named_step_uuid = tn.named_step_uuid;

  SELECT * INTO v_adv FROM tasker.advance_task(v_task, p_processor_uuid, 'evaluate');

  RETURN QUERY
  SELECT v_task, true, NULL::uuid, v_count, v_adv.previous_state, v_adv.state, v_adv.action,
         v_adv.steps_enqueued, v_adv.step_uuids, v_adv.transitions;
END
$$;

-- Applies the result a worker wrote to a step (REFERENCE 6.3 step 2, 12.7; DESIGN 4.4), under the
-- task lock:
--   enqueued_for_orchestration, results.success = true  -> complete (results kept, processed)
--   enqueued_for_orchestration, otherwise               -> error
--   enqueued_as_error_for_orchestration: retry iff the template's retryable AND the worker's verdict
--     (results.metadata.retryable or results.error.retryable) AND attempts < max_attempts
--     -> waiting_for_retry with backoff_request_seconds = p_backoff_seconds, last_attempted_at = now()
--     (next_retry_at = now() + backoff); else -> error
--   any other state -> outcome 'skipped' (a duplicate result message): nothing changes.
-- With p_advance the task is then advanced (advance_task 'evaluate'), same transaction; a skipped
-- result never advances. Without it (decision / batchable steps: the caller creates dynamic steps
-- first, then calls advance_task in its transaction) the task columns describe the task as it is.
-- outcome: complete | error | waiting_for_retry | skipped (reason says why).
CREATE FUNCTION tasker.apply_step_result(
  p_step_uuid       uuid,
  p_processor_uuid  uuid,
  p_backoff_seconds integer DEFAULT NULL,
  p_advance         boolean DEFAULT true
) RETURNS TABLE (
  task_uuid       uuid,
  outcome         text,
  reason          text,
  step_type       text,
  step_name       text,
  step_from_state text,
  attempts        integer,
  backoff_seconds integer,
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
  v_task      uuid;
  v_task_state text;
  v_step      record;
  v_to        text;
  v_reason    text;
  v_worker    boolean;
  v_backoff   integer;
  v_trans     jsonb;
  v_adv       record;
BEGIN
  SELECT ws.task_uuid INTO v_task FROM tasker.workflow_steps ws WHERE ws.workflow_step_uuid = p_step_uuid;
  IF v_task IS NULL THEN
    RETURN QUERY SELECT NULL::uuid, 'skipped'::text, 'step not found'::text, NULL::text, NULL::text, NULL::text,
                        0, NULL::integer, NULL::text, NULL::text, 'NoAction'::text, 0, '{}'::uuid[], '[]'::jsonb;
    RETURN;
  END IF;

  -- lock order: task, then step
  SELECT t.current_state INTO v_task_state FROM tasker.tasks t WHERE t.task_uuid = v_task FOR UPDATE;

  SELECT ws.current_state, ws.attempts, ws.max_attempts, ws.retryable, ws.results, ns.name,
         tasker.template_step_type(nt.configuration, ns.name) AS step_type
    INTO v_step
  FROM tasker.workflow_steps ws
  JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  WHERE ws.workflow_step_uuid = p_step_uuid
  FOR UPDATE OF ws;

  IF v_step.current_state = 'enqueued_for_orchestration' THEN
    IF v_step.results -> 'success' = 'true'::jsonb THEN
      v_to := 'complete';
    ELSE
      v_to := 'error'; v_reason := 'the result reports success = false';
    END IF;
  ELSIF v_step.current_state = 'enqueued_as_error_for_orchestration' THEN
    v_worker := coalesce(v_step.results #> '{metadata,retryable}' = 'true'::jsonb, false)
             OR coalesce(v_step.results #> '{error,retryable}' = 'true'::jsonb, false);
    IF NOT v_step.retryable THEN
      v_to := 'error'; v_reason := 'the step is not retryable (template)';
    ELSIF NOT v_worker THEN
      v_to := 'error'; v_reason := 'the worker reported a permanent failure';
    ELSIF v_step.attempts >= v_step.max_attempts THEN
      v_to := 'error'; v_reason := format('retries exhausted (%s of %s attempts)', v_step.attempts, v_step.max_attempts);
    ELSE
      v_to := 'waiting_for_retry'; v_backoff := greatest(p_backoff_seconds, 0);
    END IF;
  ELSE
    RETURN QUERY SELECT v_task, 'skipped'::text,
                        format('step is %s, not awaiting orchestration (duplicate or stale result)', v_step.current_state),
                        v_step.step_type, v_step.name::text, v_step.current_state::text, v_step.attempts, NULL::integer,
                        v_task_state::text, v_task_state::text, 'NoAction'::text, 0, '{}'::uuid[], '[]'::jsonb;
    RETURN;
  END IF;

  IF NOT tasker.transition_step_state(
       p_step_uuid, v_step.current_state, v_to,
       jsonb_strip_nulls(jsonb_build_object('processor_uuid', p_processor_uuid, 'reason', v_reason,
                                            'backoff_seconds', v_backoff))) THEN
    RAISE EXCEPTION 'step % is not in state % (transition to % under the task lock)', p_step_uuid, v_step.current_state, v_to
      USING ERRCODE = 'TK012';
  END IF;
  IF v_to = 'waiting_for_retry' THEN
    UPDATE tasker.workflow_steps ws
    SET backoff_request_seconds = v_backoff, last_attempted_at = now()
    WHERE ws.workflow_step_uuid = p_step_uuid;
  END IF;
  v_trans := jsonb_build_array(jsonb_build_object('entity', 'step', 'task_uuid', v_task, 'step_uuid', p_step_uuid,
                                                  'from_state', v_step.current_state, 'to_state', v_to));

  IF p_advance THEN
    SELECT * INTO v_adv FROM tasker.advance_task(v_task, p_processor_uuid, 'evaluate');
    RETURN QUERY SELECT v_task, v_to, v_reason, v_step.step_type, v_step.name::text, v_step.current_state::text,
                        v_step.attempts, v_backoff, v_adv.previous_state, v_adv.state, v_adv.action,
                        v_adv.steps_enqueued, v_adv.step_uuids, v_trans || v_adv.transitions;
  ELSE
    RETURN QUERY SELECT v_task, v_to, v_reason, v_step.step_type, v_step.name::text, v_step.current_state::text,
                        v_step.attempts, v_backoff, v_task_state::text, v_task_state::text, 'NoAction'::text,
                        0, '{}'::uuid[], v_trans;
  END IF;
END
$$;
