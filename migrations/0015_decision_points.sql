-- 0015: decision points (REFERENCE 8.2, 12.12; docs/workflows.md "Decision points").
--
--   create_decision_steps  creates a decision's creation set (computed in TS from the template:
--                          DecisionPoints.ts) with its `provides` edges, one call, idempotent.
--   fail_decision_step     records an invalid decision outcome on the decision step: the step
--                          moves to `error` with the reason in its results, so the task blocks.
--
-- Both run inside the result processor's transaction, after apply_step_result (no advance) moved
-- the decision step to `complete` and before advance_task; they lock the task row first (already
-- held by that transaction), so the lock order task -> steps of 0012 is kept.
--
-- SQLSTATE TK013: a dynamic edge would close a cycle (raised and caught inside
-- create_decision_steps, which then fails the decision step instead).

-- Records an invalid dynamic-step outcome (decision or batch; REFERENCE 8.2/8.3 with our fix: the
-- reference only logs it). p_error_type names the error ("InvalidDecisionOutcome"), p_key the
-- field under orchestration_metadata.custom and in the transition metadata ("decision_error").
-- The step was moved enqueued_for_orchestration -> complete by apply_step_result IN THIS
-- TRANSACTION (its `complete` transition row is uncommitted, nobody else has seen it): that move
-- is taken back (the row deleted, the previous row most_recent again, the step row restored) and
-- replaced by the legal enqueued_for_orchestration -> error (Fail), so the transition log stays
-- gapless and legal. results: success false, status "error", error {message, error_type
-- p_error_type, retryable false, context p_error}, orchestration_metadata.custom
-- [p_key] = p_error; the handler's `result` is kept. outcome: 'failed' | 'recorded' (the step was not
-- completed in this transaction: only orchestration_metadata.custom[p_key] is added to its
-- results, its state and success are left alone)
-- | 'not_found'. transitions: the 0012 format.
CREATE FUNCTION tasker.fail_dynamic_step(
  p_step_uuid      uuid,
  p_processor_uuid uuid,
  p_message        text,
  p_error          jsonb,
  p_error_type     text,
  p_key            text
) RETURNS TABLE (outcome text, transitions jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_task    uuid;
  v_state   text;
  v_last    record;
  v_results jsonb;
  v_error   jsonb := jsonb_build_object('message', p_message, 'error_type', p_error_type,
                                        'retryable', false, 'context', coalesce(p_error, '{}'::jsonb));
BEGIN
  SELECT ws.task_uuid INTO v_task FROM tasker.workflow_steps ws WHERE ws.workflow_step_uuid = p_step_uuid;
  IF v_task IS NULL THEN
    RETURN QUERY SELECT 'not_found'::text, '[]'::jsonb;
    RETURN;
  END IF;
  PERFORM 1 FROM tasker.tasks t WHERE t.task_uuid = v_task FOR UPDATE;
  SELECT ws.current_state, ws.results INTO v_state, v_results
  FROM tasker.workflow_steps ws WHERE ws.workflow_step_uuid = p_step_uuid FOR UPDATE;

  v_results := coalesce(v_results, '{}'::jsonb);
  v_results := v_results
    || jsonb_build_object(
         'orchestration_metadata',
         coalesce(nullif(v_results -> 'orchestration_metadata', 'null'::jsonb), '{"headers": {}, "custom": {}}'::jsonb)
           || jsonb_build_object('custom',
                coalesce(v_results #> '{orchestration_metadata,custom}', '{}'::jsonb)
                || jsonb_build_object(p_key, v_error)));

  SELECT wst.workflow_step_transition_uuid AS uuid, wst.from_state, wst.sort_key INTO v_last
  FROM tasker.workflow_step_transitions wst
  WHERE wst.workflow_step_uuid = p_step_uuid AND wst.most_recent
    AND wst.to_state = 'complete' AND wst.from_state = 'enqueued_for_orchestration'
    AND wst.created_at = now();  -- now() is the transaction's start: written by this transaction

  IF v_state <> 'complete' OR v_last.uuid IS NULL THEN
    UPDATE tasker.workflow_steps ws SET results = v_results WHERE ws.workflow_step_uuid = p_step_uuid;
    RETURN QUERY SELECT 'recorded'::text, '[]'::jsonb;
    RETURN;
  END IF;

  DELETE FROM tasker.workflow_step_transitions wst WHERE wst.workflow_step_transition_uuid = v_last.uuid;
  UPDATE tasker.workflow_step_transitions wst SET most_recent = true
  WHERE wst.workflow_step_uuid = p_step_uuid AND wst.sort_key = v_last.sort_key - 1;
  UPDATE tasker.workflow_steps ws
  SET current_state = 'enqueued_for_orchestration', processed = false, processed_at = NULL
  WHERE ws.workflow_step_uuid = p_step_uuid;

  IF NOT tasker.transition_step_state(
       p_step_uuid, 'enqueued_for_orchestration', 'error',
       jsonb_build_object('processor_uuid', p_processor_uuid, 'reason', p_message, p_key, v_error),
       v_results || jsonb_build_object('success', false, 'status', 'error', 'error', v_error)) THEN
    RAISE EXCEPTION 'step % could not move to error under the task lock', p_step_uuid USING ERRCODE = 'TK012';
  END IF;

  RETURN QUERY SELECT 'failed'::text,
    jsonb_build_array(jsonb_build_object('entity', 'step', 'task_uuid', v_task, 'step_uuid', p_step_uuid,
                                         'from_state', 'enqueued_for_orchestration', 'to_state', 'error'));
END
$$;

-- A decision step's invalid outcome: fail_dynamic_step with InvalidDecisionOutcome / decision_error.
CREATE FUNCTION tasker.fail_decision_step(
  p_step_uuid      uuid,
  p_processor_uuid uuid,
  p_message        text,
  p_error          jsonb
) RETURNS TABLE (outcome text, transitions jsonb)
LANGUAGE sql AS $$
  SELECT * FROM tasker.fail_dynamic_step(p_step_uuid, p_processor_uuid, p_message, p_error,
                                         'InvalidDecisionOutcome', 'decision_error')
$$;

-- Creates a decision's creation set, set-based, in the caller's transaction:
-- p_steps = [{name, type, retryable, max_attempts, inputs, dependencies: [names]}] (the set, in
-- dependency order). In order:
--  * named steps find-or-create; steps find-or-create on (task, named_step) (ON CONFLICT DO
--    NOTHING: re-processing creates nothing; new steps get their `pending` row from the 0004 trigger);
--  * `provides` edges, for every step of the set and each declared dependency: from the task's step
--    of that name when it exists (created now or before); a deferred_convergence step skips a
--    dependency that does not exist (intersection semantics); any other step is wired to the
--    decision step instead. ON CONFLICT DO NOTHING;
--  * cycle check over the task's edges from the set's steps; a cycle (TK013) undoes the steps and
--    edges of this call and fails the decision step (fail_decision_step): outcome 'refused'.
-- outcome: 'created' | 'refused' | 'not_found' (the decision step is not a step of the task).
-- step_uuids: steps inserted by this call (not the pre-existing ones).
CREATE FUNCTION tasker.create_decision_steps(
  p_task_uuid          uuid,
  p_decision_step_uuid uuid,
  p_processor_uuid     uuid,
  p_steps              jsonb
) RETURNS TABLE (outcome text, step_uuids uuid[], edges_created integer, message text, transitions jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_uuids uuid[];
  v_edges integer;
  v_cycle text[];
  v_msg   text;
  v_fail  record;
BEGIN
  PERFORM 1 FROM tasker.tasks t WHERE t.task_uuid = p_task_uuid FOR UPDATE;
  IF NOT EXISTS (SELECT 1 FROM tasker.workflow_steps ws
                 WHERE ws.workflow_step_uuid = p_decision_step_uuid AND ws.task_uuid = p_task_uuid) THEN
    RETURN QUERY SELECT 'not_found'::text, '{}'::uuid[], 0, 'decision step not found in task'::text, '[]'::jsonb;
    RETURN;
  END IF;

  BEGIN
    INSERT INTO tasker.named_steps (name)
    SELECT DISTINCT s ->> 'name' FROM jsonb_array_elements(p_steps) s
    WHERE NOT EXISTS (SELECT 1 FROM tasker.named_steps ns WHERE ns.name = s ->> 'name')
    ORDER BY 1
    ON CONFLICT (name) DO NOTHING;

    WITH inserted AS (
      INSERT INTO tasker.workflow_steps AS ws (task_uuid, named_step_uuid, retryable, max_attempts, inputs)
      SELECT p_task_uuid, ns.named_step_uuid, coalesce((x.s ->> 'retryable')::boolean, true),
             coalesce((x.s ->> 'max_attempts')::integer, 3), x.s -> 'inputs'
      FROM jsonb_array_elements(p_steps) WITH ORDINALITY AS x(s, ord)
      JOIN tasker.named_steps ns ON ns.name = x.s ->> 'name'
      ORDER BY x.ord
      ON CONFLICT ON CONSTRAINT workflow_steps_task_named_step_key DO NOTHING
      RETURNING ws.workflow_step_uuid
    )
    SELECT coalesce(array_agg(i.workflow_step_uuid ORDER BY i.workflow_step_uuid), '{}') INTO v_uuids FROM inserted i;

    WITH task_steps AS (
      SELECT ws.workflow_step_uuid, ns.name
      FROM tasker.workflow_steps ws JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
      WHERE ws.task_uuid = p_task_uuid
    ),
    wanted AS (
      SELECT DISTINCT CASE WHEN d.workflow_step_uuid IS NOT NULL THEN d.workflow_step_uuid
                           ELSE p_decision_step_uuid END AS from_uuid,
             t.workflow_step_uuid AS to_uuid
      FROM jsonb_array_elements(p_steps) s
      JOIN task_steps t ON t.name = s ->> 'name'
      CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(s -> 'dependencies', '[]'::jsonb)) AS dep(name)
      LEFT JOIN task_steps d ON d.name = dep.name
      WHERE d.workflow_step_uuid IS NOT NULL OR s ->> 'type' IS DISTINCT FROM 'deferred_convergence'
    ),
    inserted AS (
      INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid, name)
      SELECT w.from_uuid, w.to_uuid, 'provides' FROM wanted w WHERE w.from_uuid <> w.to_uuid
      ON CONFLICT ON CONSTRAINT workflow_step_edges_key DO NOTHING
      RETURNING 1
    )
    SELECT count(*)::integer INTO v_edges FROM inserted;

    -- a step of the set that reaches itself is on a cycle (UNION dedupes, so this terminates)
    WITH RECURSIVE starts AS (
      SELECT ws.workflow_step_uuid AS uuid
      FROM jsonb_array_elements(p_steps) s
      JOIN tasker.named_steps ns ON ns.name = s ->> 'name'
      JOIN tasker.workflow_steps ws ON ws.task_uuid = p_task_uuid AND ws.named_step_uuid = ns.named_step_uuid
    ),
    reach (start, node) AS (
      SELECT e.from_step_uuid, e.to_step_uuid
      FROM tasker.workflow_step_edges e JOIN starts st ON st.uuid = e.from_step_uuid
      UNION
      SELECT r.start, e.to_step_uuid FROM reach r JOIN tasker.workflow_step_edges e ON e.from_step_uuid = r.node
    )
    SELECT array_agg(DISTINCT ns.name::text ORDER BY ns.name::text) INTO v_cycle
    FROM reach r
    JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = r.start
    JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
    WHERE r.start = r.node;
    IF v_cycle IS NOT NULL THEN
      RAISE EXCEPTION 'decision steps would close a dependency cycle through: %', array_to_string(v_cycle, ', ')
        USING ERRCODE = 'TK013';
    END IF;
  EXCEPTION WHEN SQLSTATE 'TK013' THEN
    GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
    SELECT * INTO v_fail FROM tasker.fail_decision_step(
      p_decision_step_uuid, p_processor_uuid, v_msg, jsonb_build_object('reason', 'cycle'));
    RETURN QUERY SELECT 'refused'::text, '{}'::uuid[], 0, v_msg, v_fail.transitions;
    RETURN;
  END;

  RETURN QUERY SELECT 'created'::text, v_uuids, v_edges, NULL::text, '[]'::jsonb;
END
$$;
