-- 0013_worker_functions: the worker's database path, one round trip per operation
-- (DESIGN 2, 4.2, 4.6, 6; docs/sql-functions.md "Worker functions").
--
--   claim_steps / claim_step_message  read queue message(s) + Start / Reclaim the steps + return
--                                     everything the handler needs (context, template step,
--                                     ancestors' results), in one statement.
--   complete_step                     lease check + CAS in_progress -> enqueued_[as_error_]for_orchestration
--                                     with the results + StepMessage to orchestration_step_results +
--                                     delete the worker message, in one transaction.
--   heartbeat_step                    extends the lease only while the worker still owns it.
--
-- A lease is (queue, msg_id, read_ct): every read of a message bumps read_ct, so a worker whose
-- message was re-read by someone else (its visibility timeout lapsed) can neither extend nor
-- complete any more.
-- Lock order everywhere: queue message row first, then the step row (the transition functions),
-- so claims and completes of the same step cannot deadlock.

-- The orchestration queues (idempotent: existing queues cost one lookup; 0012 may create them too).
SELECT tasker.pgmq_ensure_queues(ARRAY[
  'orchestration_step_results', 'orchestration_task_requests', 'orchestration_task_finalizations']);

-- One claimed step: the lease and everything a handler needs.
CREATE TYPE tasker.claimed_step AS (
  queue_name             text,
  worker_id              text,          -- the claiming worker (recorded on the transition)
  msg_id                 bigint,
  read_ct                integer,       -- the lease: pass it to heartbeat_step / complete_step
  lease_expires_at       timestamptz,   -- the message's vt after this claim
  claim_event            text,          -- Start (enqueued -> in_progress) | Reclaim (in_progress -> in_progress)
  task_uuid              uuid,
  step_uuid              uuid,
  correlation_id         uuid,
  namespace              text,
  task_name              text,
  task_version           text,
  step_name              text,
  template_step_name     text,          -- the template step (differs for batch workers: __template_step_name)
  step_type              text,          -- template `type`, default standard
  handler_callable       text,          -- template handler.callable; NULL when the step is not in the template
  handler_initialization jsonb,         -- template handler.initialization, {} when absent
  timeout_seconds        integer,       -- template timeout_seconds, NULL when absent
  step_definition        jsonb,         -- the template's whole step object, NULL when not found
  inputs                 jsonb,         -- workflow_steps.inputs
  task_context           jsonb,         -- tasks.context
  attempts               integer,       -- after the increment of this claim
  max_attempts           integer,
  retryable              boolean,
  checkpoint             jsonb,
  dependency_results     jsonb          -- {ancestor step name: its full results (StepExecutionResult)}
);

-- Shared body of the two claim functions: the messages were just read (read_ct bumped, row
-- locked until commit). Per message, by its step's current state:
--   enqueued                    -> Start   (enqueued -> in_progress, attempts + 1)
--   in_progress and read_ct > 1 -> Reclaim (the previous reader's lease lapsed; attempts + 1)
--   anything else               -> dropped: deleted (the step moved on: cancelled, complete,
--                                  already in_progress under a fresh message, ...), or archived
--                                  when it names no step of its task (poison: kept for inspection).
-- Duplicate messages of one step in one batch: the lowest msg_id claims, the others are deleted.
-- The transitions are two set-based CAS calls; a step that moved meanwhile is not claimed and its
-- message is deleted.
CREATE FUNCTION tasker.claim_read_step_messages(
  p_queue     text,
  p_msg_ids   bigint[],
  p_read_cts  integer[],
  p_vts       timestamptz[],
  p_messages  jsonb[],
  p_worker_id text
) RETURNS SETOF tasker.claimed_step
LANGUAGE plpgsql AS $$
DECLARE
  v_meta       jsonb := jsonb_strip_nulls(jsonb_build_object('worker_id', p_worker_id, 'queue', p_queue));
  v_cand_msgs  bigint[];
  v_cand_steps uuid[];
  v_cand_evts  text[];
  v_poison     bigint[];
  v_start      uuid[];
  v_reclaim    uuid[];
  v_claimed    uuid[] := '{}';
  v_drop       bigint[];
BEGIN
  IF coalesce(cardinality(p_msg_ids), 0) = 0 THEN
    RETURN;
  END IF;

  WITH m AS (
    SELECT u.msg_id, u.read_ct,
           tasker.try_uuid(u.message ->> 'step_uuid') AS step_uuid,
           tasker.try_uuid(u.message ->> 'task_uuid') AS task_uuid
    FROM unnest(p_msg_ids, p_read_cts, p_messages) AS u(msg_id, read_ct, message)
  ),
  c AS (
    SELECT m.msg_id, ws.workflow_step_uuid,
           CASE
             WHEN ws.current_state = 'enqueued' THEN 'Start'
             WHEN ws.current_state = 'in_progress' AND m.read_ct > 1 THEN 'Reclaim'
           END AS claim_event
    FROM m
    LEFT JOIN tasker.workflow_steps ws
      ON ws.workflow_step_uuid = m.step_uuid AND ws.task_uuid = m.task_uuid
  ),
  cand AS (
    SELECT DISTINCT ON (c.workflow_step_uuid) c.msg_id, c.workflow_step_uuid, c.claim_event
    FROM c
    WHERE c.claim_event IS NOT NULL
    ORDER BY c.workflow_step_uuid, c.msg_id
  )
  SELECT (SELECT array_agg(cand.msg_id ORDER BY cand.msg_id) FROM cand),
         (SELECT array_agg(cand.workflow_step_uuid ORDER BY cand.msg_id) FROM cand),
         (SELECT array_agg(cand.claim_event ORDER BY cand.msg_id) FROM cand),
         (SELECT array_agg(c.msg_id) FROM c WHERE c.workflow_step_uuid IS NULL)
    INTO v_cand_msgs, v_cand_steps, v_cand_evts, v_poison;

  SELECT array_agg(s) FILTER (WHERE e = 'Start'), array_agg(s) FILTER (WHERE e = 'Reclaim')
    INTO v_start, v_reclaim
  FROM unnest(v_cand_steps, v_cand_evts) AS x(s, e);

  IF v_start IS NOT NULL THEN
    v_claimed := v_claimed || ARRAY(
      SELECT t.id FROM tasker.transition_steps_state(v_start, 'enqueued', 'in_progress', v_meta) AS t(id));
  END IF;
  IF v_reclaim IS NOT NULL THEN
    v_claimed := v_claimed || ARRAY(
      SELECT t.id FROM tasker.transition_steps_state(v_reclaim, 'in_progress', 'in_progress', v_meta) AS t(id));
  END IF;

  IF v_poison IS NOT NULL THEN
    PERFORM 1 FROM pgmq.archive(p_queue, v_poison);
  END IF;

  SELECT array_agg(u.msg_id) INTO v_drop
  FROM unnest(p_msg_ids) AS u(msg_id)
  WHERE u.msg_id <> ALL (coalesce(v_poison, '{}'))
    AND NOT EXISTS (
      SELECT 1 FROM unnest(v_cand_msgs, v_cand_steps) AS k(msg_id, step_uuid)
      WHERE k.msg_id = u.msg_id AND k.step_uuid = ANY (v_claimed));
  IF v_drop IS NOT NULL THEN
    PERFORM 1 FROM pgmq.delete(p_queue, v_drop);
  END IF;

  IF cardinality(v_claimed) = 0 THEN
    RETURN;
  END IF;

  RETURN QUERY
  SELECT p_queue, p_worker_id, k.msg_id, r.read_ct, r.vt, k.claim_event,
         ws.task_uuid, ws.workflow_step_uuid, t.correlation_id,
         tn.name::text, nt.name::text, nt.version::text, ns.name::text,
         coalesce(ws.inputs ->> '__template_step_name', ns.name)::text,
         coalesce(sd.def ->> 'type', 'standard'),
         sd.def -> 'handler' ->> 'callable',
         CASE WHEN jsonb_typeof(sd.def -> 'handler' -> 'initialization') = 'object'
              THEN sd.def -> 'handler' -> 'initialization' ELSE '{}'::jsonb END,
         CASE WHEN (sd.def ->> 'timeout_seconds') ~ '^\d{1,9}$' THEN (sd.def ->> 'timeout_seconds')::integer END,
         sd.def,
         ws.inputs, t.context, ws.attempts, ws.max_attempts, ws.retryable, ws.checkpoint,
         coalesce(dr.results, '{}'::jsonb)
  FROM unnest(v_cand_msgs, v_cand_steps, v_cand_evts) AS k(msg_id, step_uuid, claim_event)
  JOIN unnest(p_msg_ids, p_read_cts, p_vts) AS r(msg_id, read_ct, vt) ON r.msg_id = k.msg_id
  JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = k.step_uuid
  JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
  JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker.task_namespaces tn ON tn.task_namespace_uuid = nt.task_namespace_uuid
  LEFT JOIN LATERAL (
    SELECT e.value AS def
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(nt.configuration -> 'steps') = 'array'
                                   THEN nt.configuration -> 'steps' ELSE '[]'::jsonb END) AS e(value)
    WHERE e.value ->> 'name' = coalesce(ws.inputs ->> '__template_step_name', ns.name)
    LIMIT 1
  ) sd ON true
  LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(a.step_name, a.results) AS results
    FROM tasker.get_step_transitive_dependencies(ws.workflow_step_uuid) a
    WHERE a.processed
  ) dr ON true
  WHERE k.step_uuid = ANY (v_claimed)
  ORDER BY k.msg_id;
END
$$;

-- Claims up to p_limit visible messages of a worker queue (pgmq.read: FOR UPDATE SKIP LOCKED,
-- vt = now + p_vt_seconds, read_ct + 1) and their steps. Dropped messages count against p_limit,
-- so a call may return fewer rows than there are claimable messages: poll again.
CREATE FUNCTION tasker.claim_steps(
  p_queue      text,
  p_vt_seconds integer,
  p_limit      integer,
  p_worker_id  text
) RETURNS SETOF tasker.claimed_step
LANGUAGE plpgsql AS $$
DECLARE
  v_ids  bigint[];
  v_cts  integer[];
  v_vts  timestamptz[];
  v_msgs jsonb[];
BEGIN
  IF p_vt_seconds IS NULL OR p_vt_seconds < 1 THEN
    RAISE EXCEPTION 'claim_steps: p_vt_seconds must be >= 1 (got %)', p_vt_seconds
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF coalesce(p_limit, 0) < 1 THEN
    RETURN;
  END IF;
  SELECT array_agg(r.msg_id ORDER BY r.msg_id), array_agg(r.read_ct ORDER BY r.msg_id),
         array_agg(r.vt ORDER BY r.msg_id), array_agg(r.message ORDER BY r.msg_id)
    INTO v_ids, v_cts, v_vts, v_msgs
  FROM pgmq.read(p_queue, p_vt_seconds, p_limit) AS r;
  RETURN QUERY SELECT * FROM tasker.claim_read_step_messages(p_queue, v_ids, v_cts, v_vts, v_msgs, p_worker_id);
END
$$;

-- Same for one message by id (signal-only or inline notifications): claims it only if it is
-- visible and not locked (tasker.pgmq_read_specific_message); no row otherwise.
CREATE FUNCTION tasker.claim_step_message(
  p_queue      text,
  p_msg_id     bigint,
  p_vt_seconds integer,
  p_worker_id  text
) RETURNS SETOF tasker.claimed_step
LANGUAGE plpgsql AS $$
DECLARE
  v_ids  bigint[];
  v_cts  integer[];
  v_vts  timestamptz[];
  v_msgs jsonb[];
BEGIN
  IF p_vt_seconds IS NULL OR p_vt_seconds < 1 THEN
    RAISE EXCEPTION 'claim_step_message: p_vt_seconds must be >= 1 (got %)', p_vt_seconds
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT array_agg(r.msg_id), array_agg(r.read_ct), array_agg(r.vt), array_agg(r.message)
    INTO v_ids, v_cts, v_vts, v_msgs
  FROM tasker.pgmq_read_specific_message(p_queue, p_msg_id, p_vt_seconds) AS r;
  RETURN QUERY SELECT * FROM tasker.claim_read_step_messages(p_queue, v_ids, v_cts, v_vts, v_msgs, p_worker_id);
END
$$;

-- Writes a worker's result, in one transaction:
--  1. lease: locks the worker message (waiting for a concurrent claim of it to finish) and checks
--     that it still exists and, when p_read_ct is given, still carries that read_ct. Otherwise the
--     message was re-read by another worker (our lease lapsed) or already completed: return false,
--     write nothing, leave the message alone (it is someone else's now).
--  2. CAS in_progress -> enqueued_for_orchestration (p_results.success = true) or
--     enqueued_as_error_for_orchestration (anything else), results = p_results. The transition
--     metadata carries worker_id (+ worker_uuid when it is a uuid), correlation_id, success,
--     execution_time_ms, queue, msg_id, read_ct (the audit trigger reads them).
--     If the step is no longer in_progress (cancelled, resolved, swept...): delete our message,
--     write nothing else, return false.
--  3. StepMessage {task_uuid, step_uuid, correlation_id} to orchestration_step_results (with NOTIFY).
--  4. delete the worker message. Return true.
-- p_read_ct NULL skips the read_ct check (any holder of the msg_id wins); workers always pass it.
CREATE FUNCTION tasker.complete_step(
  p_queue     text,
  p_msg_id    bigint,
  p_step_uuid uuid,
  p_results   jsonb,
  p_worker_id text,
  p_read_ct   integer DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_table   text := tasker.pgmq_queue_table_name(p_queue);
  v_message jsonb;
  v_read_ct integer;
  v_success boolean;
  v_task    uuid;
  v_corr    uuid;
  v_meta    jsonb;
BEGIN
  IF p_results IS NULL OR jsonb_typeof(p_results) <> 'object' THEN
    RAISE EXCEPTION 'complete_step: p_results must be a JSON object (a StepExecutionResult)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  EXECUTE format('SELECT message, read_ct FROM pgmq.%I WHERE msg_id = $1 FOR UPDATE', v_table)
    INTO v_message, v_read_ct
    USING p_msg_id;
  IF v_read_ct IS NULL OR (p_read_ct IS NOT NULL AND v_read_ct <> p_read_ct) THEN
    RETURN false;
  END IF;
  IF tasker.try_uuid(v_message ->> 'step_uuid') IS DISTINCT FROM p_step_uuid THEN
    RAISE EXCEPTION 'complete_step: message % of queue % is for step %, not %',
      p_msg_id, p_queue, coalesce(v_message ->> 'step_uuid', 'NULL'), p_step_uuid
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  v_success := coalesce((p_results -> 'success') = 'true'::jsonb, false);
  SELECT ws.task_uuid, t.correlation_id INTO v_task, v_corr
  FROM tasker.workflow_steps ws
  JOIN tasker.tasks t ON t.task_uuid = ws.task_uuid
  WHERE ws.workflow_step_uuid = p_step_uuid;

  v_meta := jsonb_strip_nulls(jsonb_build_object(
    'worker_id', p_worker_id,
    'worker_uuid', tasker.try_uuid(p_worker_id),
    'correlation_id', v_corr,
    'success', v_success,
    'execution_time_ms', p_results -> 'metadata' -> 'execution_time_ms',
    'queue', p_queue,
    'msg_id', p_msg_id,
    'read_ct', v_read_ct));

  IF NOT tasker.transition_step_state(
       p_step_uuid, 'in_progress',
       CASE WHEN v_success THEN 'enqueued_for_orchestration' ELSE 'enqueued_as_error_for_orchestration' END,
       v_meta, p_results) THEN
    EXECUTE format('DELETE FROM pgmq.%I WHERE msg_id = $1', v_table) USING p_msg_id;
    RETURN false;
  END IF;

  PERFORM tasker.pgmq_send_with_notify('orchestration_step_results',
    jsonb_build_object('task_uuid', v_task, 'step_uuid', p_step_uuid, 'correlation_id', v_corr));
  EXECUTE format('DELETE FROM pgmq.%I WHERE msg_id = $1', v_table) USING p_msg_id;
  RETURN true;
END
$$;

-- Heartbeat: keeps the worker message invisible for p_vt_seconds more (vt = now + p_vt_seconds),
-- only while it still carries p_read_ct (nobody re-claimed it). False = the lease is lost (or the
-- message is gone): the worker should stop and not expect its complete to count.
CREATE FUNCTION tasker.heartbeat_step(
  p_queue      text,
  p_msg_id     bigint,
  p_vt_seconds integer,
  p_read_ct    integer
) RETURNS boolean
LANGUAGE sql AS $$
  SELECT tasker.pgmq_extend_vt_specific_message(p_queue, p_msg_id, p_vt_seconds, p_read_ct)
$$;
