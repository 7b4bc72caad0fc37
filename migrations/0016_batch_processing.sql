-- 0016: batch processing (REFERENCE 8.3, 12.13; docs/workflows.md "Batch processing").
--
--   create_batch_workers   the fan-out of a completed batchable step: batch workers cloned from the
--                          batch_worker template, the deferred_convergence steps and their edges,
--                          set-based, idempotent (a batch_dependency edge already there = no-op).
--   fail_batchable_step    an invalid batch_processing_outcome: the batchable step moves to `error`.
--   checkpoint_step        a worker's checkpoint, written only while it holds the lease.
--   readiness              a batch worker is ready only while fewer than `batch_metadata.parallelism`
--                          of its siblings are enqueued / in progress (get_step_readiness_status_batch).
--   execution context      a continue_on_failure worker in `error` blocks the task only once no other
--                          step is ready or running (get_task_execution_contexts_batch).
--   trg_step_batch_failure fail_fast cancels the pending siblings of a worker entering `error`;
--                          isolate resolves the failed worker (error -> resolved_manually).
--
-- The first two run inside the result processor's transaction (after apply_step_result without
-- advance, before advance_task) and lock the task row first: lock order task -> steps (0012).

-- Records an invalid batch outcome on the batchable step: fail_dynamic_step (0015) with
-- InvalidBatchOutcome / batch_error (its uncommitted `complete` replaced by a legal `error`).
CREATE FUNCTION tasker.fail_batchable_step(
  p_step_uuid      uuid,
  p_processor_uuid uuid,
  p_message        text,
  p_error          jsonb
) RETURNS TABLE (outcome text, transitions jsonb)
LANGUAGE sql AS $$
  SELECT * FROM tasker.fail_dynamic_step(p_step_uuid, p_processor_uuid, p_message, p_error,
                                         'InvalidBatchOutcome', 'batch_error')
$$;

-- The fan-out of a completed batchable step (REFERENCE 8.3), in the caller's transaction.
-- p_outcome: the decoded batch_processing_outcome ({type: no_batches} | {type: create_batches,
-- worker_template_name, cursor_configs: [{batch_id, start_cursor, end_cursor, batch_size}], ...}).
-- Workers `{template}_{batch_id}` (no_batches: one no-op `{template}_000`, cursor 0..0) get the
-- template's retry settings and inputs = handler.initialization + {cursor, batch_metadata
-- {cursor_field, failure_strategy, parallelism, batchable_step}, is_no_op, __template_step_name};
-- parallelism = least(p_max_parallel, batch_config.parallelism). Every deferred_convergence step
-- listing the worker template is created (find-or-create). Edges: batchable -> worker
-- (batch_dependency), worker -> convergence (worker_to_convergence), and `provides` from the
-- convergence's other declared dependencies that exist in the task.
-- outcome: created | exists (a batch_dependency edge already leaves the step: nothing done)
-- | invalid (reason says why: nothing done) | not_found.
CREATE FUNCTION tasker.create_batch_workers(
  p_step_uuid    uuid,
  p_outcome      jsonb,
  p_max_parallel integer
) RETURNS TABLE (outcome text, reason text, step_uuids uuid[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_task     uuid;
  v_name     text;
  v_config   jsonb;
  v_steps    jsonb;
  v_batch    jsonb;
  v_worker   jsonb;
  v_template text;
  v_bc       jsonb;
  v_cursors  jsonb;
  v_no_op    boolean := p_outcome ->> 'type' = 'no_batches';
  v_created  uuid[];
  v_new      jsonb;
BEGIN
  SELECT ws.task_uuid, ns.name, nt.configuration INTO v_task, v_name, v_config
  FROM tasker.workflow_steps ws
  JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  WHERE ws.workflow_step_uuid = p_step_uuid;
  IF v_task IS NULL THEN
    RETURN QUERY SELECT 'not_found'::text, 'step not found'::text, '{}'::uuid[];
    RETURN;
  END IF;
  PERFORM 1 FROM tasker.tasks t WHERE t.task_uuid = v_task FOR UPDATE;

  IF EXISTS (SELECT 1 FROM tasker.workflow_step_edges e
             WHERE e.from_step_uuid = p_step_uuid AND e.name = 'batch_dependency') THEN
    RETURN QUERY SELECT 'exists'::text, 'batch workers already created'::text, '{}'::uuid[];
    RETURN;
  END IF;

  v_steps := CASE WHEN jsonb_typeof(v_config -> 'steps') = 'array' THEN v_config -> 'steps' ELSE '[]'::jsonb END;
  SELECT s INTO v_batch FROM jsonb_array_elements(v_steps) s WHERE s ->> 'name' = v_name LIMIT 1;
  v_template := CASE WHEN v_no_op
    THEN coalesce(v_batch #>> '{handler,initialization,worker_template_name}',
                  v_batch #>> '{batch_config,worker_template}',
                  (SELECT s ->> 'name' FROM jsonb_array_elements(v_steps) s
                   WHERE s ->> 'type' = 'batch_worker' AND coalesce(s -> 'dependencies', '[]'::jsonb) ? v_name
                   LIMIT 1))
    ELSE p_outcome ->> 'worker_template_name' END;
  SELECT s INTO v_worker FROM jsonb_array_elements(v_steps) s
  WHERE s ->> 'name' = v_template AND s ->> 'type' = 'batch_worker' LIMIT 1;
  IF v_worker IS NULL THEN
    RETURN QUERY SELECT 'invalid'::text,
      format('worker template %s is not a batch_worker step of the template', coalesce(v_template, '(none)')),
      '{}'::uuid[];
    RETURN;
  END IF;

  v_bc := coalesce(v_worker -> 'batch_config', v_batch -> 'batch_config', '{}'::jsonb);
  v_cursors := CASE WHEN v_no_op
    THEN '[{"batch_id": "000", "start_cursor": 0, "end_cursor": 0, "batch_size": 0}]'::jsonb
    ELSE p_outcome -> 'cursor_configs' END;

  SELECT coalesce(jsonb_agg(jsonb_build_object('name', x.name, 'inputs', x.inputs, 'retryable', x.retryable,
                                               'max_attempts', x.max_attempts, 'kind', x.kind)), '[]'::jsonb)
    INTO v_new
  FROM (
  SELECT v_template || '_' || (c ->> 'batch_id') AS name,
         coalesce(v_worker #> '{handler,initialization}', '{}'::jsonb) || jsonb_build_object(
           'cursor', jsonb_build_object('batch_id', c -> 'batch_id', 'start_cursor', c -> 'start_cursor',
                                        'end_cursor', c -> 'end_cursor', 'batch_size', c -> 'batch_size'),
           'batch_metadata', jsonb_build_object(
             'cursor_field', coalesce(v_bc ->> 'cursor_field', 'id'),
             'failure_strategy', coalesce(v_bc ->> 'failure_strategy', 'continue_on_failure'),
             'parallelism', least(greatest(p_max_parallel, 1), coalesce((v_bc ->> 'parallelism')::integer, 10)),
             'batchable_step', v_name),
           'is_no_op', v_no_op,
           '__template_step_name', v_template) AS inputs,
         coalesce((v_worker #>> '{retry,retryable}')::boolean, true) AS retryable,
         coalesce((v_worker #>> '{retry,max_attempts}')::integer, 3) AS max_attempts,
         'worker' AS kind
  FROM jsonb_array_elements(v_cursors) c
  UNION ALL
  SELECT s ->> 'name', coalesce(s #> '{handler,initialization}', '{}'::jsonb),
         coalesce((s #>> '{retry,retryable}')::boolean, true), coalesce((s #>> '{retry,max_attempts}')::integer, 3),
         'convergence'
  FROM jsonb_array_elements(v_steps) s
  WHERE s ->> 'type' = 'deferred_convergence' AND coalesce(s -> 'dependencies', '[]'::jsonb) ? v_template
  ) x;

  INSERT INTO tasker.named_steps (name)
  SELECT n.name FROM jsonb_to_recordset(v_new) AS n(name text) ORDER BY n.name
  ON CONFLICT (name) DO NOTHING;

  WITH inserted AS (
    INSERT INTO tasker.workflow_steps (task_uuid, named_step_uuid, retryable, max_attempts, inputs)
    SELECT v_task, ns.named_step_uuid, n.retryable, n.max_attempts, n.inputs
    FROM jsonb_to_recordset(v_new) AS n(name text, inputs jsonb, retryable boolean, max_attempts integer, kind text)
    JOIN tasker.named_steps ns ON ns.name = n.name
    ORDER BY n.kind DESC, n.name
    ON CONFLICT (task_uuid, named_step_uuid) DO NOTHING
    RETURNING workflow_step_uuid
  )
  SELECT coalesce(array_agg(i.workflow_step_uuid), '{}') INTO v_created FROM inserted i;

  INSERT INTO tasker.workflow_step_edges (from_step_uuid, to_step_uuid, name)
  WITH made AS (
    SELECT n.kind, ws.workflow_step_uuid AS uuid
    FROM jsonb_to_recordset(v_new) AS n(name text, kind text)
    JOIN tasker.named_steps ns ON ns.name = n.name
    JOIN tasker.workflow_steps ws ON ws.task_uuid = v_task AND ws.named_step_uuid = ns.named_step_uuid
  )
  SELECT e.from_uuid, e.to_uuid, e.name
  FROM (
    SELECT p_step_uuid AS from_uuid, w.uuid AS to_uuid, 'batch_dependency' AS name
    FROM made w WHERE w.kind = 'worker'
    UNION ALL
    SELECT w.uuid, c.uuid, 'worker_to_convergence'
    FROM made w CROSS JOIN made c WHERE w.kind = 'worker' AND c.kind = 'convergence'
    UNION ALL
    SELECT dep.workflow_step_uuid, conv.workflow_step_uuid, 'provides'
    FROM jsonb_array_elements(v_steps) s
    CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(s -> 'dependencies', '[]'::jsonb)) d(name)
    JOIN tasker.named_steps cn ON cn.name = s ->> 'name'
    JOIN tasker.workflow_steps conv ON conv.task_uuid = v_task AND conv.named_step_uuid = cn.named_step_uuid
    JOIN tasker.named_steps dn ON dn.name = d.name
    JOIN tasker.workflow_steps dep ON dep.task_uuid = v_task AND dep.named_step_uuid = dn.named_step_uuid
    WHERE s ->> 'type' = 'deferred_convergence' AND coalesce(s -> 'dependencies', '[]'::jsonb) ? v_template
      AND d.name <> v_template
  ) e
  ORDER BY e.from_uuid, e.to_uuid
  ON CONFLICT ON CONSTRAINT workflow_step_edges_key DO NOTHING;

  RETURN QUERY SELECT 'created'::text, NULL::text, v_created;
END
$$;

-- A checkpoint of a running batch worker (REFERENCE 8.3 checkpoint_yield): written only while the
-- caller holds the lease (the worker message exists with p_read_ct, the step is in_progress).
-- checkpoint = p_checkpoint ({cursor, items_processed, accumulated_results}) + timestamp + history
-- (the previous checkpoints' {cursor, items_processed, timestamp}, the last 20). false = lease lost.
CREATE FUNCTION tasker.checkpoint_step(
  p_queue      text,
  p_msg_id     bigint,
  p_step_uuid  uuid,
  p_read_ct    integer,
  p_checkpoint jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_message jsonb;
  v_read_ct integer;
BEGIN
  IF p_checkpoint IS NULL OR jsonb_typeof(p_checkpoint) <> 'object' THEN
    RAISE EXCEPTION 'checkpoint_step: p_checkpoint must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  EXECUTE format('SELECT message, read_ct FROM pgmq.%I WHERE msg_id = $1 FOR UPDATE',
                 tasker.pgmq_queue_table_name(p_queue))
    INTO v_message, v_read_ct
    USING p_msg_id;
  IF v_read_ct IS NULL OR v_read_ct <> p_read_ct
     OR tasker.try_uuid(v_message ->> 'step_uuid') IS DISTINCT FROM p_step_uuid THEN
    RETURN false;
  END IF;
  UPDATE tasker.workflow_steps ws
  SET checkpoint = p_checkpoint || jsonb_build_object(
        'timestamp', now(),
        'history', coalesce((
          SELECT jsonb_agg(h.e ORDER BY h.ord)
          FROM (SELECT x.e, x.ord
                FROM jsonb_array_elements(
                       coalesce(ws.checkpoint -> 'history', '[]'::jsonb)
                       || CASE WHEN ws.checkpoint IS NULL THEN '[]'::jsonb
                               ELSE jsonb_build_array(jsonb_build_object(
                                 'cursor', ws.checkpoint -> 'cursor',
                                 'items_processed', ws.checkpoint -> 'items_processed',
                                 'timestamp', ws.checkpoint -> 'timestamp')) END
                     ) WITH ORDINALITY AS x(e, ord)
                ORDER BY x.ord DESC LIMIT 20) h), '[]'::jsonb))
  WHERE ws.workflow_step_uuid = p_step_uuid AND ws.current_state = 'in_progress';
  RETURN FOUND;
END
$$;

-- Readiness with the batch throttle (0007 + one join). A batch worker (inputs.batch_metadata
-- .parallelism set) of batchable parent P is ready only if
--   (siblings of P enqueued / in progress / awaiting orchestration)
--   + (its rank among P's pending / waiting_for_retry workers, by step uuid, 0-based) < parallelism,
-- so one enqueue never brings more than `parallelism` of P's workers in flight. A waiting_for_retry
-- worker keeps its place in the line. Other steps are unaffected (the join finds nothing).
CREATE OR REPLACE FUNCTION tasker.get_step_readiness_status_batch(
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
  WITH throttle AS (
    SELECT b.uuid,
           b.active + b.waiting_rank < b.parallelism AS within_limit
    FROM (
      SELECT w.workflow_step_uuid AS uuid,
             (w.inputs #>> '{batch_metadata,parallelism}')::integer AS parallelism,
             count(*) FILTER (WHERE w.current_state IN ('enqueued', 'in_progress', 'enqueued_for_orchestration',
                                                        'enqueued_as_error_for_orchestration'))
               OVER (PARTITION BY e.from_step_uuid) AS active,
             row_number() OVER (PARTITION BY e.from_step_uuid, w.current_state IN ('pending', 'waiting_for_retry')
                                ORDER BY w.workflow_step_uuid) - 1 AS waiting_rank
      FROM tasker.workflow_steps w
      JOIN tasker.workflow_step_edges e ON e.to_step_uuid = w.workflow_step_uuid AND e.name = 'batch_dependency'
      WHERE w.task_uuid = ANY (input_task_uuids)
        AND w.inputs #> '{batch_metadata,parallelism}' IS NOT NULL
    ) b
  )
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
                                         ret.retry_eligible, ws.retryable, ret.next_retry_at)
      AND coalesce(th.within_limit, true),
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
           tasker.calculate_step_next_retry_time(ws.backoff_request_seconds, ws.last_attempted_at,
                                                 CASE WHEN ws.attempts > 0 THEN lf.failure_time END,
                                                 ws.attempts) AS next_retry_at
  ) ret
  LEFT JOIN throttle th ON th.uuid = ws.workflow_step_uuid
  WHERE ws.task_uuid = ANY (input_task_uuids)
    AND (step_uuids IS NULL OR ws.workflow_step_uuid = ANY (step_uuids))
  ORDER BY ws.task_uuid, ws.workflow_step_uuid
$$;

-- Execution context (0007) with continue_on_failure: a batch worker in `error` whose
-- failure_strategy is continue_on_failure blocks the task only when nothing else is ready or
-- running, so its siblings still run (and are still enqueued under the throttle) first. Any other
-- failed step blocks at once, as before.
CREATE OR REPLACE FUNCTION tasker.get_task_execution_contexts_batch(input_task_uuids uuid[])
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
      count(*) FILTER (WHERE r.current_state = 'error' AND f.workflow_step_uuid IS NULL) AS blocking_failed_steps,
      count(*) FILTER (WHERE r.current_state = 'waiting_for_retry') AS retrying_steps,
      count(*) FILTER (WHERE r.ready_for_execution) AS ready_steps
    FROM tasker.get_step_readiness_status_batch(input_task_uuids, NULL) r
    LEFT JOIN tasker.workflow_steps f
      ON r.current_state = 'error' AND f.workflow_step_uuid = r.workflow_step_uuid
     AND f.inputs #>> '{batch_metadata,failure_strategy}' = 'continue_on_failure'
    GROUP BY r.task_uuid
  ),
  ctx AS (
    SELECT
      t.task_uuid,
      t.named_task_uuid,
      t.current_state::text AS status,
      coalesce(s.total_steps, 0)           AS total_steps,
      coalesce(s.pending_steps, 0)         AS pending_steps,
      coalesce(s.in_progress_steps, 0)     AS in_progress_steps,
      coalesce(s.completed_steps, 0)       AS completed_steps,
      coalesce(s.failed_steps, 0)          AS failed_steps,
      coalesce(s.blocking_failed_steps, 0) AS blocking_failed_steps,
      coalesce(s.ready_steps, 0)           AS ready_steps,
      coalesce(s.enqueued_steps, 0)        AS enqueued_steps,
      coalesce(s.retrying_steps, 0)        AS retrying_steps
    FROM tasker.tasks t
    LEFT JOIN stats s ON s.task_uuid = t.task_uuid
    WHERE t.task_uuid = ANY (input_task_uuids)
  ),
  decided AS (
    SELECT c.*,
      CASE
        WHEN c.blocking_failed_steps > 0 THEN 'blocked_by_failures'
        WHEN c.ready_steps > 0 THEN 'has_ready_steps'
        WHEN c.in_progress_steps > 0 OR c.enqueued_steps > 0 THEN 'processing'
        WHEN c.failed_steps > 0 THEN 'blocked_by_failures'
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

-- Failure strategies of a batch worker entering `error` (a permanent failure), in the transaction
-- of that transition (normally apply_step_result, under the task lock; the statement's transitions
-- are complete when this AFTER trigger runs, so the log stays gapless):
--   fail_fast  its pending / waiting_for_retry siblings (same batchable parent) -> cancelled, so no
--              further worker of the batch is enqueued and the task blocks on the failure;
--   isolate    the worker itself -> resolved_manually (its result stays, marked success = false):
--              it satisfies its worker_to_convergence edge and the convergence runs without it.
-- These cascaded transitions are not in the caller's `transitions` report (no lifecycle events).
CREATE FUNCTION tasker.batch_worker_failed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_strategy text;
  v_parent   uuid;
BEGIN
  SELECT ws.inputs #>> '{batch_metadata,failure_strategy}' INTO v_strategy
  FROM tasker.workflow_steps ws
  WHERE ws.workflow_step_uuid = NEW.workflow_step_uuid AND ws.current_state = 'error';
  IF v_strategy = 'fail_fast' THEN
    SELECT e.from_step_uuid INTO v_parent FROM tasker.workflow_step_edges e
    WHERE e.to_step_uuid = NEW.workflow_step_uuid AND e.name = 'batch_dependency' LIMIT 1;
    PERFORM tasker.transition_steps_state(
      ARRAY(SELECT s.workflow_step_uuid
            FROM tasker.workflow_step_edges e
            JOIN tasker.workflow_steps s ON s.workflow_step_uuid = e.to_step_uuid
            WHERE e.from_step_uuid = v_parent AND e.name = 'batch_dependency'
              AND s.workflow_step_uuid <> NEW.workflow_step_uuid
              AND s.current_state IN ('pending', 'waiting_for_retry')
            ORDER BY s.workflow_step_uuid),
      NULL, 'cancelled',
      jsonb_build_object('reason', 'fail_fast: batch worker failed', 'failed_step_uuid', NEW.workflow_step_uuid));
  ELSIF v_strategy = 'isolate' THEN
    PERFORM tasker.transition_steps_state(
      ARRAY[NEW.workflow_step_uuid], 'error', 'resolved_manually',
      jsonb_build_object('reason', 'isolate: failed batch worker excluded from the convergence'));
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER trg_step_batch_failure
  AFTER INSERT ON tasker.workflow_step_transitions
  FOR EACH ROW WHEN (NEW.to_state = 'error')
  EXECUTE FUNCTION tasker.batch_worker_failed();
