-- 0006: read-only views (REFERENCE 2.3). They read the denormalized current_state
-- columns. v_task_staleness_monitoring lives in 0009 next to the staleness
-- threshold function it uses.

-- Per step: parents, children, counts, root/leaf flags and the shortest distance from
-- a root (0 for roots; recursion capped at 50). The depth is computed per step in a
-- LATERAL subquery so that `WHERE task_uuid = $1` filters before the recursion runs.
CREATE VIEW tasker.step_dag_relationships AS
SELECT
  ws.workflow_step_uuid,
  ws.task_uuid,
  ws.named_step_uuid,
  coalesce(p.parent_step_uuids, ARRAY[]::uuid[]) AS parent_step_uuids,
  coalesce(c.child_step_uuids, ARRAY[]::uuid[])  AS child_step_uuids,
  coalesce(cardinality(p.parent_step_uuids), 0)  AS parent_count,
  coalesce(cardinality(c.child_step_uuids), 0)   AS child_count,
  p.parent_step_uuids IS NULL                    AS is_root_step,
  c.child_step_uuids IS NULL                     AS is_leaf_step,
  d.min_depth_from_root
FROM tasker.workflow_steps ws
LEFT JOIN LATERAL (
  SELECT array_agg(DISTINCT e.from_step_uuid) AS parent_step_uuids
  FROM tasker.workflow_step_edges e
  WHERE e.to_step_uuid = ws.workflow_step_uuid
  HAVING count(*) > 0
) p ON true
LEFT JOIN LATERAL (
  SELECT array_agg(DISTINCT e.to_step_uuid) AS child_step_uuids
  FROM tasker.workflow_step_edges e
  WHERE e.from_step_uuid = ws.workflow_step_uuid
  HAVING count(*) > 0
) c ON true
LEFT JOIN LATERAL (
  -- Walk upwards; the first level that reaches a step without parents is the depth.
  WITH RECURSIVE up (step_uuid, depth) AS (
    SELECT ws.workflow_step_uuid, 0
    UNION
    SELECT e.from_step_uuid, up.depth + 1
    FROM up
    JOIN tasker.workflow_step_edges e ON e.to_step_uuid = up.step_uuid
    WHERE up.depth < 50
  )
  SELECT min(up.depth) AS min_depth_from_root
  FROM up
  WHERE NOT EXISTS (SELECT 1 FROM tasker.workflow_step_edges e2 WHERE e2.to_step_uuid = up.step_uuid)
) d ON true;

-- Non-terminal tasks with namespace, template configuration, current state, time in
-- state (from the most_recent transition row) and age. Base of the staleness functions.
CREATE VIEW tasker.v_task_state_analysis AS
SELECT
  t.task_uuid,
  t.correlation_id,
  tns.name                 AS namespace_name,
  tns.task_namespace_uuid  AS namespace_uuid,
  nt.name                  AS task_name,
  nt.named_task_uuid,
  nt.version               AS task_version,
  nt.configuration         AS template_config,
  t.current_state,
  tt.created_at            AS state_entered_at,
  extract(epoch FROM (now() - tt.created_at)) / 60 AS time_in_state_minutes,
  extract(epoch FROM (now() - t.created_at)) / 60  AS task_age_minutes,
  t.priority,
  t.complete
FROM tasker.tasks t
JOIN tasker.named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
JOIN tasker.task_namespaces tns ON tns.task_namespace_uuid = nt.task_namespace_uuid
JOIN tasker.task_transitions tt ON tt.task_uuid = t.task_uuid AND tt.most_recent
WHERE t.current_state NOT IN ('complete', 'error', 'cancelled', 'resolved_manually');

-- DLQ counts per reason by resolution status.
CREATE VIEW tasker.v_dlq_dashboard AS
SELECT
  d.dlq_reason,
  count(*) AS total_entries,
  count(*) FILTER (WHERE d.resolution_status = 'pending')            AS pending,
  count(*) FILTER (WHERE d.resolution_status = 'manually_resolved')  AS manually_resolved,
  count(*) FILTER (WHERE d.resolution_status = 'permanently_failed') AS permanent_failures,
  count(*) FILTER (WHERE d.resolution_status = 'cancelled')          AS cancelled,
  min(d.dlq_timestamp) AS oldest_entry,
  max(d.dlq_timestamp) AS newest_entry,
  -- Average over resolved entries only (open ones have no resolution time yet).
  avg(extract(epoch FROM (d.resolution_timestamp - d.dlq_timestamp)) / 60)
    FILTER (WHERE d.resolution_timestamp IS NOT NULL) AS avg_resolution_time_minutes
FROM tasker.tasks_dlq d
GROUP BY d.dlq_reason;

-- Open investigations, most urgent first: reason weight + minutes waiting.
CREATE VIEW tasker.v_dlq_investigation_queue AS
SELECT
  q.dlq_entry_uuid,
  q.task_uuid,
  q.original_state,
  q.dlq_reason,
  q.dlq_timestamp,
  q.minutes_in_dlq,
  q.namespace_name,
  q.task_name,
  q.current_state,
  q.time_in_state_minutes,
  q.reason_weight + q.minutes_in_dlq AS priority_score
FROM (
  SELECT
    d.dlq_entry_uuid,
    d.task_uuid,
    d.original_state,
    d.dlq_reason,
    d.dlq_timestamp,
    extract(epoch FROM (now() - d.dlq_timestamp)) / 60 AS minutes_in_dlq,
    d.task_snapshot ->> 'namespace'     AS namespace_name,
    d.task_snapshot ->> 'task_name'     AS task_name,
    t.current_state                     AS current_state,
    CASE WHEN jsonb_typeof(d.metadata -> 'time_in_state_minutes') = 'number'
         THEN floor((d.metadata ->> 'time_in_state_minutes')::numeric)::integer END AS time_in_state_minutes,
    CASE d.dlq_reason
      WHEN 'dependency_cycle_detected' THEN 1000
      WHEN 'max_retries_exceeded'      THEN 500
      WHEN 'staleness_timeout'         THEN 100
      WHEN 'worker_unavailable'        THEN 50
      ELSE 10
    END::numeric AS reason_weight
  FROM tasker.tasks_dlq d
  JOIN tasker.tasks t ON t.task_uuid = d.task_uuid
  WHERE d.resolution_status = 'pending'
) q
ORDER BY priority_score DESC;
