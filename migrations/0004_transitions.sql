-- 0004: the state machines: transition logs, transition-rule tables and the
-- compare-and-swap transition functions.
--
-- Invariants (REFERENCE 3.3 / 12.5, contract "denormalized current state"):
--  * every task / step has exactly one most_recent transition row from birth on
--    (the AFTER INSERT triggers below write the initial `pending` row, sort_key 0);
--  * each transition appends one row with sort_key = previous + 1 (gapless per entity);
--  * tasks.current_state / workflow_steps.current_state always equal the to_state of
--    the most_recent row; only the functions in this file write them;
--  * a transition is legal only if (from_state, to_state) is a row of the rule table.
-- Concurrency: the transition UPDATEs the entity row WHERE current_state = from_state.
-- The row lock serializes racers; under READ COMMITTED the loser re-checks the
-- predicate on the winner's committed row, matches nothing and reports "not
-- transitioned" (false / no row). The partial unique index on most_recent is the
-- backstop that makes a corrupted log impossible even for a buggy writer.

-- ---------------------------------------------------------------------------
-- Transition logs
-- ---------------------------------------------------------------------------

CREATE TABLE tasker.task_transitions (
  task_transition_uuid uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  task_uuid            uuid NOT NULL REFERENCES tasker.tasks (task_uuid) ON DELETE CASCADE,
  from_state           varchar(64),
  to_state             varchar(64) NOT NULL,
  metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,   -- caller data; always has "event"
  transition_metadata  jsonb,                                -- written by the SQL functions only
  processor_uuid       uuid,                                 -- audit only, never enforced
  sort_key             integer NOT NULL,
  most_recent          boolean NOT NULL DEFAULT false,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT task_transitions_sort_key_key UNIQUE (task_uuid, sort_key),
  CONSTRAINT task_transitions_to_state_check CHECK (to_state IN (
    'pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
    'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures',
    'complete', 'error', 'cancelled', 'resolved_manually')),
  CONSTRAINT task_transitions_from_state_check CHECK (from_state IS NULL OR from_state IN (
    'pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
    'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures',
    'complete', 'error', 'cancelled', 'resolved_manually'))
);

-- Exactly one current row per task.
CREATE UNIQUE INDEX idx_task_transitions_most_recent ON tasker.task_transitions (task_uuid)
  WHERE most_recent;
CREATE INDEX idx_task_transitions_created_at ON tasker.task_transitions (created_at);

CREATE TABLE tasker.workflow_step_transitions (
  workflow_step_transition_uuid uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  workflow_step_uuid            uuid NOT NULL REFERENCES tasker.workflow_steps (workflow_step_uuid) ON DELETE CASCADE,
  from_state                    varchar(64),
  to_state                      varchar(64) NOT NULL,
  metadata                      jsonb NOT NULL DEFAULT '{}'::jsonb,
  transition_metadata           jsonb,
  sort_key                      integer NOT NULL,
  most_recent                   boolean NOT NULL DEFAULT false,
  created_at                    timestamptz NOT NULL DEFAULT now(),
  updated_at                    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT workflow_step_transitions_sort_key_key UNIQUE (workflow_step_uuid, sort_key),
  CONSTRAINT workflow_step_transitions_to_state_check CHECK (to_state IN (
    'pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
    'enqueued_as_error_for_orchestration', 'waiting_for_retry',
    'complete', 'error', 'cancelled', 'resolved_manually')),
  CONSTRAINT workflow_step_transitions_from_state_check CHECK (from_state IS NULL OR from_state IN (
    'pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
    'enqueued_as_error_for_orchestration', 'waiting_for_retry',
    'complete', 'error', 'cancelled', 'resolved_manually'))
);

CREATE UNIQUE INDEX idx_workflow_step_transitions_most_recent
  ON tasker.workflow_step_transitions (workflow_step_uuid) WHERE most_recent;
-- last_failure_at of the readiness functions: latest transition into `error`.
CREATE INDEX idx_workflow_step_transitions_errors
  ON tasker.workflow_step_transitions (workflow_step_uuid, sort_key DESC) WHERE to_state = 'error';
CREATE INDEX idx_workflow_step_transitions_created_at ON tasker.workflow_step_transitions (created_at);

-- ---------------------------------------------------------------------------
-- Transition rules: exactly the legal (from, to) pairs of the contract, with the
-- contract's event name. Anything not listed is illegal (including self-transitions,
-- except the step's in_progress -> in_progress Reclaim).
-- ---------------------------------------------------------------------------

CREATE TABLE tasker.task_transition_rules (
  from_state varchar(64) NOT NULL,
  to_state   varchar(64) NOT NULL,
  event      varchar(64) NOT NULL,
  PRIMARY KEY (from_state, to_state),
  CONSTRAINT task_transition_rules_states_check CHECK (
    from_state IN ('pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
                   'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures',
                   'complete', 'error', 'cancelled', 'resolved_manually')
    AND to_state IN ('pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
                     'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures',
                     'complete', 'error', 'cancelled', 'resolved_manually'))
);

INSERT INTO tasker.task_transition_rules (from_state, to_state, event) VALUES
  ('pending',                  'initializing',             'Start'),
  ('initializing',             'enqueuing_steps',          'ReadyStepsFound'),
  ('initializing',             'complete',                 'NoStepsFound'),
  ('initializing',             'waiting_for_dependencies', 'NoDependenciesReady'),
  ('enqueuing_steps',          'steps_in_process',         'StepsEnqueued'),
  ('enqueuing_steps',          'error',                    'EnqueueFailed'),
  ('steps_in_process',         'evaluating_results',       'StepCompleted'),
  ('steps_in_process',         'waiting_for_retry',        'StepFailed'),
  ('evaluating_results',       'complete',                 'AllStepsSuccessful'),
  ('evaluating_results',       'enqueuing_steps',          'ReadyStepsFound'),
  ('evaluating_results',       'waiting_for_dependencies', 'NoDependenciesReady'),
  ('evaluating_results',       'blocked_by_failures',      'PermanentFailure'),
  ('evaluating_results',       'steps_in_process',         'StepsStillProcessing'),
  ('waiting_for_dependencies', 'evaluating_results',       'DependenciesReady'),
  ('waiting_for_retry',        'enqueuing_steps',          'RetryReady'),
  ('blocked_by_failures',      'error',                    'GiveUp'),
  ('blocked_by_failures',      'evaluating_results',       'OperatorResume'),
  ('error',                    'evaluating_results',       'OperatorResume');

-- Every non-terminal task state -> cancelled / resolved_manually; -> error via Fail
-- except enqueuing_steps (EnqueueFailed) and blocked_by_failures (GiveUp), listed above.
INSERT INTO tasker.task_transition_rules (from_state, to_state, event)
SELECT s.state, x.to_state, x.event
FROM unnest(ARRAY['pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
                  'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures']) AS s(state)
CROSS JOIN (VALUES ('cancelled', 'Cancel'), ('resolved_manually', 'ResolveManually'), ('error', 'Fail')) AS x(to_state, event)
WHERE NOT (x.to_state = 'error' AND s.state IN ('enqueuing_steps', 'blocked_by_failures'));

CREATE TABLE tasker.step_transition_rules (
  from_state varchar(64) NOT NULL,
  to_state   varchar(64) NOT NULL,
  event      varchar(64) NOT NULL,
  PRIMARY KEY (from_state, to_state),
  CONSTRAINT step_transition_rules_states_check CHECK (
    from_state IN ('pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
                   'enqueued_as_error_for_orchestration', 'waiting_for_retry',
                   'complete', 'error', 'cancelled', 'resolved_manually')
    AND to_state IN ('pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
                     'enqueued_as_error_for_orchestration', 'waiting_for_retry',
                     'complete', 'error', 'cancelled', 'resolved_manually'))
);

INSERT INTO tasker.step_transition_rules (from_state, to_state, event) VALUES
  ('pending',                             'enqueued',                            'Enqueue'),
  ('enqueued',                            'in_progress',                         'Start'),
  ('in_progress',                         'in_progress',                         'Reclaim'),
  ('in_progress',                         'enqueued_for_orchestration',          'EnqueueForOrchestration'),
  ('in_progress',                         'enqueued_as_error_for_orchestration', 'EnqueueAsErrorForOrchestration'),
  ('enqueued_for_orchestration',          'complete',                            'Complete'),
  ('enqueued_for_orchestration',          'error',                               'Fail'),
  ('enqueued_as_error_for_orchestration', 'waiting_for_retry',                   'WaitForRetry'),
  ('enqueued_as_error_for_orchestration', 'error',                               'Fail'),
  ('enqueued_as_error_for_orchestration', 'complete',                            'Complete'),
  ('waiting_for_retry',                   'pending',                             'Retry'),
  ('error',                               'pending',                             'ResetForRetry'),
  ('pending',                             'waiting_for_retry',                   'WaitForRetry'),
  ('enqueued',                            'waiting_for_retry',                   'WaitForRetry'),
  ('in_progress',                         'waiting_for_retry',                   'WaitForRetry'),
  ('pending',                             'error',                               'Fail'),
  ('enqueued',                            'error',                               'Fail'),
  ('in_progress',                         'error',                               'Fail');

-- Every non-terminal step state (error included) -> cancelled / resolved_manually.
INSERT INTO tasker.step_transition_rules (from_state, to_state, event)
SELECT s.state, x.to_state, x.event
FROM unnest(ARRAY['pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
                  'enqueued_as_error_for_orchestration', 'waiting_for_retry', 'error']) AS s(state)
CROSS JOIN (VALUES ('cancelled', 'Cancel'), ('resolved_manually', 'ResolveManually')) AS x(to_state, event);

-- Non-terminal states without an edge to complete above -> complete (operator).
INSERT INTO tasker.step_transition_rules (from_state, to_state, event)
SELECT s.state, 'complete', 'CompleteManually'
FROM unnest(ARRAY['pending', 'enqueued', 'in_progress', 'waiting_for_retry', 'error']) AS s(state);

-- ---------------------------------------------------------------------------
-- Initial `pending` transition rows, written set-based once per INSERT statement
-- (statement-level trigger with a transition table: one extra INSERT per statement,
-- not per row). Application code never inserts transition rows itself.
-- ---------------------------------------------------------------------------

CREATE FUNCTION tasker.insert_initial_task_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_tasks WHERE current_state <> 'pending') THEN
    RAISE EXCEPTION 'tasks must be inserted in state pending (current_state is written by tasker.transition_task_state only)'
      USING ERRCODE = 'TK002';
  END IF;
  INSERT INTO tasker.task_transitions
    (task_uuid, from_state, to_state, metadata, transition_metadata, sort_key, most_recent, created_at, updated_at)
  SELECT n.task_uuid, NULL, 'pending', '{}'::jsonb, '{"initial": true}'::jsonb, 0, true, n.created_at, n.created_at
  FROM new_tasks n;
  RETURN NULL;
END
$$;

CREATE TRIGGER trg_tasks_initial_transition
  AFTER INSERT ON tasker.tasks
  REFERENCING NEW TABLE AS new_tasks
  FOR EACH STATEMENT EXECUTE FUNCTION tasker.insert_initial_task_transitions();

CREATE FUNCTION tasker.insert_initial_step_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_steps WHERE current_state <> 'pending') THEN
    RAISE EXCEPTION 'workflow steps must be inserted in state pending (current_state is written by tasker.transition_step_state only)'
      USING ERRCODE = 'TK002';
  END IF;
  INSERT INTO tasker.workflow_step_transitions
    (workflow_step_uuid, from_state, to_state, metadata, transition_metadata, sort_key, most_recent, created_at, updated_at)
  SELECT n.workflow_step_uuid, NULL, 'pending', '{}'::jsonb, '{"initial": true}'::jsonb, 0, true, n.created_at, n.created_at
  FROM new_steps n;
  RETURN NULL;
END
$$;

CREATE TRIGGER trg_workflow_steps_initial_transition
  AFTER INSERT ON tasker.workflow_steps
  REFERENCING NEW TABLE AS new_steps
  FOR EACH STATEMENT EXECUTE FUNCTION tasker.insert_initial_step_transitions();

-- ---------------------------------------------------------------------------
-- Rule checks. SQLSTATE TK001 = illegal transition (a programming error, not a race).
-- ---------------------------------------------------------------------------

CREATE FUNCTION tasker.is_legal_task_transition(p_from_state text, p_to_state text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT EXISTS (SELECT 1 FROM tasker.task_transition_rules r
                 WHERE r.from_state = p_from_state AND r.to_state = p_to_state)
$$;

CREATE FUNCTION tasker.is_legal_step_transition(p_from_state text, p_to_state text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT EXISTS (SELECT 1 FROM tasker.step_transition_rules r
                 WHERE r.from_state = p_from_state AND r.to_state = p_to_state)
$$;

-- p_from_state NULL means "from any state that has a rule to p_to_state" (set-based
-- Cancel / ResolveManually); it is legal as long as such a rule exists.
CREATE FUNCTION tasker.assert_task_transition(p_from_state text, p_to_state text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_from_state IS NULL THEN
    IF NOT EXISTS (SELECT 1 FROM tasker.task_transition_rules r WHERE r.to_state = p_to_state) THEN
      RAISE EXCEPTION 'illegal task transition: no state may move to %', coalesce(p_to_state, 'NULL')
        USING ERRCODE = 'TK001';
    END IF;
  ELSIF NOT tasker.is_legal_task_transition(p_from_state, p_to_state) THEN
    RAISE EXCEPTION 'illegal task transition: % -> %', p_from_state, coalesce(p_to_state, 'NULL')
      USING ERRCODE = 'TK001',
            HINT = 'legal pairs are listed in tasker.task_transition_rules';
  END IF;
END
$$;

CREATE FUNCTION tasker.assert_step_transition(p_from_state text, p_to_state text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_from_state IS NULL THEN
    IF NOT EXISTS (SELECT 1 FROM tasker.step_transition_rules r WHERE r.to_state = p_to_state) THEN
      RAISE EXCEPTION 'illegal step transition: no state may move to %', coalesce(p_to_state, 'NULL')
        USING ERRCODE = 'TK001';
    END IF;
  ELSIF NOT tasker.is_legal_step_transition(p_from_state, p_to_state) THEN
    RAISE EXCEPTION 'illegal step transition: % -> %', p_from_state, coalesce(p_to_state, 'NULL')
      USING ERRCODE = 'TK001',
            HINT = 'legal pairs are listed in tasker.step_transition_rules';
  END IF;
END
$$;

-- Transition-row metadata: the caller's object plus {"event": <rule event>} when the
-- caller did not name the event. Non-object metadata is kept under "data".
CREATE FUNCTION tasker.transition_row_metadata(p_metadata jsonb, p_event text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_metadata IS NULL THEN jsonb_build_object('event', p_event)
    WHEN jsonb_typeof(p_metadata) <> 'object' THEN jsonb_build_object('event', p_event, 'data', p_metadata)
    WHEN p_metadata ? 'event' THEN p_metadata
    ELSE p_metadata || jsonb_build_object('event', p_event)
  END
$$;

-- ---------------------------------------------------------------------------
-- Task transitions
-- ---------------------------------------------------------------------------

-- Set-based CAS: moves every listed task currently in p_from_state (or, with
-- p_from_state NULL, in any state with a legal rule to p_to_state) and returns the
-- tasks that actually moved.
-- Statement 1 locks the rows in key order (batch callers cannot deadlock each other),
-- compares and swaps current_state. Statement 2 flips the old most_recent rows and
-- appends the new ones. They must be two statements: under READ COMMITTED the second
-- one takes a fresh snapshot and so sees every transition committed by the writer we
-- waited for on the row lock (one statement would still see the old most_recent row,
-- and a state that went A -> B -> A meanwhile would leave the log short of a row).
-- Side effects: entering complete sets complete = true and completed_at = now();
-- entering any terminal state sets completed_at if unset; leaving error (OperatorResume)
-- clears completed_at.
CREATE FUNCTION tasker.transition_tasks_state(
  p_task_uuids     uuid[],
  p_from_state     text,
  p_to_state       text,
  p_processor_uuid uuid DEFAULT NULL,
  p_metadata       jsonb DEFAULT '{}'::jsonb
) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
DECLARE
  v_uuids  uuid[];
  v_from   text[];
  v_events text[];
  v_count  integer;
BEGIN
  PERFORM tasker.assert_task_transition(p_from_state, p_to_state);

  -- "Any state" callers (cancel all, resolve all) lock first, in key order: the CAS below is
  -- then a new statement whose snapshot sees what a writer we waited for committed, instead of
  -- re-checking the rule join against the state it read before waiting (which drops the row).
  IF p_from_state IS NULL THEN
    PERFORM 1 FROM tasker.tasks t WHERE t.task_uuid = ANY (p_task_uuids) ORDER BY t.task_uuid FOR UPDATE;
  END IF;

  WITH locked AS (
    SELECT t.task_uuid, t.current_state AS from_state, r.event
    FROM tasker.tasks t
    JOIN tasker.task_transition_rules r
      ON r.from_state = t.current_state AND r.to_state = p_to_state
    WHERE t.task_uuid = ANY (p_task_uuids)
      AND (p_from_state IS NULL OR t.current_state = p_from_state)
    ORDER BY t.task_uuid
    FOR UPDATE OF t
  ),
  moved AS (
    UPDATE tasker.tasks t
    SET current_state = p_to_state,
        complete      = t.complete OR p_to_state = 'complete',
        completed_at  = CASE
                          WHEN p_to_state = 'complete' THEN now()
                          WHEN p_to_state IN ('error', 'cancelled', 'resolved_manually') THEN coalesce(t.completed_at, now())
                          WHEN l.from_state = 'error' THEN NULL      -- OperatorResume re-opens the task
                          ELSE t.completed_at
                        END,
        updated_at    = now()
    FROM locked l
    WHERE t.task_uuid = l.task_uuid
      AND t.current_state = l.from_state
    RETURNING t.task_uuid, l.from_state, l.event
  )
  SELECT array_agg(m.task_uuid), array_agg(m.from_state::text), array_agg(m.event::text)
    INTO v_uuids, v_from, v_events
  FROM moved m;

  IF v_uuids IS NULL THEN
    RETURN;
  END IF;

  RETURN QUERY
  WITH m AS (
    SELECT * FROM unnest(v_uuids, v_from, v_events) AS m(task_uuid, from_state, event)
  ),
  flipped AS (
    UPDATE tasker.task_transitions tt
    SET most_recent = false, updated_at = now()
    FROM m
    WHERE tt.task_uuid = m.task_uuid AND tt.most_recent
    RETURNING tt.task_uuid, tt.sort_key, m.from_state, m.event
  ),
  appended AS (
    INSERT INTO tasker.task_transitions
      (task_uuid, from_state, to_state, metadata, transition_metadata, processor_uuid, sort_key, most_recent)
    SELECT f.task_uuid, f.from_state, p_to_state,
           tasker.transition_row_metadata(p_metadata, f.event),
           jsonb_build_object('event', f.event, 'cas', true),
           p_processor_uuid, f.sort_key + 1, true
    FROM flipped f
    RETURNING task_transitions.task_uuid
  )
  SELECT a.task_uuid FROM appended a;

  -- Every moved task must have had exactly one most_recent row; never leave a short log.
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count <> cardinality(v_uuids) THEN
    RAISE EXCEPTION 'task transition log invariant violated (% moved, % logged)', cardinality(v_uuids), v_count
      USING ERRCODE = 'TK003';
  END IF;
END
$$;

-- Single-task CAS. true = transitioned; false = the task is not (any more) in
-- p_from_state or does not exist. Raises TK001 for a pair that is not in the rules.
CREATE FUNCTION tasker.transition_task_state(
  p_task_uuid      uuid,
  p_from_state     text,
  p_to_state       text,
  p_processor_uuid uuid DEFAULT NULL,
  p_metadata       jsonb DEFAULT '{}'::jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_from_state IS NULL THEN
    RAISE EXCEPTION 'illegal task transition: NULL -> %', coalesce(p_to_state, 'NULL')
      USING ERRCODE = 'TK001';
  END IF;
  PERFORM 1 FROM tasker.transition_tasks_state(ARRAY[p_task_uuid], p_from_state, p_to_state,
                                               p_processor_uuid, p_metadata);
  RETURN FOUND;
END
$$;

-- Reference name (REFERENCE 4.4), kept as a thin wrapper.
CREATE FUNCTION tasker.transition_task_state_atomic(
  p_task_uuid      uuid,
  p_from_state     character varying,
  p_to_state       character varying,
  p_processor_uuid uuid,
  p_metadata       jsonb DEFAULT '{}'::jsonb
) RETURNS boolean
LANGUAGE sql AS $$
  SELECT tasker.transition_task_state(p_task_uuid, p_from_state, p_to_state, p_processor_uuid, p_metadata)
$$;

CREATE FUNCTION tasker.get_current_task_state(p_task_uuid uuid) RETURNS character varying
LANGUAGE sql STABLE AS $$
  SELECT t.current_state FROM tasker.tasks t WHERE t.task_uuid = p_task_uuid
$$;

-- ---------------------------------------------------------------------------
-- Step transitions
-- ---------------------------------------------------------------------------

-- Set-based CAS for steps (same two-statement design as transition_tasks_state).
-- Side effects on entering a state:
--   in_process  = (new state = in_progress) always (keeps the denormalized flag exact);
--   in_progress (Start / Reclaim): attempts + 1, last_attempted_at = now();
--   enqueued_for_orchestration / enqueued_as_error_for_orchestration: results = p_results;
--   complete: processed, processed_at = now(), results = p_results when given;
--   cancelled / resolved_manually: processed, processed_at = now();
--   pending via ResetForRetry (from error): attempts = 0, backoff_request_seconds = NULL;
--   any other state: results = p_results when given, nothing else.
CREATE FUNCTION tasker.transition_steps_state(
  p_step_uuids uuid[],
  p_from_state text,
  p_to_state   text,
  p_metadata   jsonb DEFAULT '{}'::jsonb,
  p_results    jsonb DEFAULT NULL
) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
DECLARE
  v_uuids  uuid[];
  v_from   text[];
  v_events text[];
  v_count  integer;
BEGIN
  PERFORM tasker.assert_step_transition(p_from_state, p_to_state);

  -- See transition_tasks_state: lock first when the from state is "any".
  IF p_from_state IS NULL THEN
    PERFORM 1 FROM tasker.workflow_steps ws WHERE ws.workflow_step_uuid = ANY (p_step_uuids)
    ORDER BY ws.workflow_step_uuid FOR UPDATE;
  END IF;

  WITH locked AS (
    SELECT s.workflow_step_uuid, s.current_state AS from_state, r.event
    FROM tasker.workflow_steps s
    JOIN tasker.step_transition_rules r
      ON r.from_state = s.current_state AND r.to_state = p_to_state
    WHERE s.workflow_step_uuid = ANY (p_step_uuids)
      AND (p_from_state IS NULL OR s.current_state = p_from_state)
    ORDER BY s.workflow_step_uuid
    FOR UPDATE OF s
  ),
  moved AS (
    UPDATE tasker.workflow_steps s
    SET current_state = p_to_state,
        in_process    = (p_to_state = 'in_progress'),
        attempts      = CASE
                          WHEN p_to_state = 'in_progress' THEN s.attempts + 1
                          WHEN l.from_state = 'error' AND p_to_state = 'pending' THEN 0
                          ELSE s.attempts
                        END,
        last_attempted_at = CASE WHEN p_to_state = 'in_progress' THEN now() ELSE s.last_attempted_at END,
        backoff_request_seconds = CASE
                                    WHEN l.from_state = 'error' AND p_to_state = 'pending' THEN NULL
                                    ELSE s.backoff_request_seconds
                                  END,
        processed     = s.processed OR p_to_state IN ('complete', 'cancelled', 'resolved_manually'),
        processed_at  = CASE
                          WHEN p_to_state IN ('complete', 'cancelled', 'resolved_manually') THEN now()
                          ELSE s.processed_at
                        END,
        results       = CASE
                          WHEN p_to_state IN ('enqueued_for_orchestration', 'enqueued_as_error_for_orchestration')
                            THEN p_results
                          ELSE coalesce(p_results, s.results)
                        END,
        updated_at    = now()
    FROM locked l
    WHERE s.workflow_step_uuid = l.workflow_step_uuid
      AND s.current_state = l.from_state
    RETURNING s.workflow_step_uuid, l.from_state, l.event
  )
  SELECT array_agg(m.workflow_step_uuid), array_agg(m.from_state::text), array_agg(m.event::text)
    INTO v_uuids, v_from, v_events
  FROM moved m;

  IF v_uuids IS NULL THEN
    RETURN;
  END IF;

  RETURN QUERY
  WITH m AS (
    SELECT * FROM unnest(v_uuids, v_from, v_events) AS m(workflow_step_uuid, from_state, event)
  ),
  flipped AS (
    UPDATE tasker.workflow_step_transitions wst
    SET most_recent = false, updated_at = now()
    FROM m
    WHERE wst.workflow_step_uuid = m.workflow_step_uuid AND wst.most_recent
    RETURNING wst.workflow_step_uuid, wst.sort_key, m.from_state, m.event
  ),
  appended AS (
    INSERT INTO tasker.workflow_step_transitions
      (workflow_step_uuid, from_state, to_state, metadata, transition_metadata, sort_key, most_recent)
    SELECT f.workflow_step_uuid, f.from_state, p_to_state,
           tasker.transition_row_metadata(p_metadata, f.event),
           jsonb_build_object('event', f.event, 'cas', true),
           f.sort_key + 1, true
    FROM flipped f
    RETURNING workflow_step_transitions.workflow_step_uuid
  )
  SELECT a.workflow_step_uuid FROM appended a;

  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count <> cardinality(v_uuids) THEN
    RAISE EXCEPTION 'step transition log invariant violated (% moved, % logged)', cardinality(v_uuids), v_count
      USING ERRCODE = 'TK003';
  END IF;
END
$$;

-- Single-step CAS: true = transitioned, false = not in p_from_state / missing.
CREATE FUNCTION tasker.transition_step_state(
  p_step_uuid  uuid,
  p_from_state text,
  p_to_state   text,
  p_metadata   jsonb DEFAULT '{}'::jsonb,
  p_results    jsonb DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_from_state IS NULL THEN
    RAISE EXCEPTION 'illegal step transition: NULL -> %', coalesce(p_to_state, 'NULL')
      USING ERRCODE = 'TK001';
  END IF;
  PERFORM 1 FROM tasker.transition_steps_state(ARRAY[p_step_uuid], p_from_state, p_to_state,
                                               p_metadata, p_results);
  RETURN FOUND;
END
$$;

CREATE FUNCTION tasker.get_current_step_state(p_step_uuid uuid) RETURNS character varying
LANGUAGE sql STABLE AS $$
  SELECT s.current_state FROM tasker.workflow_steps s WHERE s.workflow_step_uuid = p_step_uuid
$$;

-- Enqueue the given steps in one call: waiting_for_retry -> pending (Retry), then
-- pending -> enqueued (Enqueue). Returns the steps that are now enqueued by this call.
-- No readiness check: pass steps that get_step_readiness_status reported ready
-- (or use tasker.enqueue_ready_steps, 0007).
CREATE FUNCTION tasker.enqueue_steps(
  p_step_uuids uuid[],
  p_metadata   jsonb DEFAULT '{}'::jsonb
) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
BEGIN
  -- an "event" key in p_metadata would mislabel one of the two transitions: the rule names them
  PERFORM 1 FROM tasker.transition_steps_state(p_step_uuids, 'waiting_for_retry', 'pending', p_metadata - 'event');
  RETURN QUERY SELECT * FROM tasker.transition_steps_state(p_step_uuids, 'pending', 'enqueued', p_metadata - 'event');
END
$$;
