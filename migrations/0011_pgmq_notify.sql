-- 0011_pgmq_notify: Tasker's queue helpers in schema `tasker` on top of the pgmq API (0010), working
-- the same whether pgmq is the extension or our plain-SQL implementation. See docs/queues.md.
--
-- Channels (names contain a dot: LISTEN "pgmq_message_ready.orchestration"):
--   pgmq_message_ready.{namespace}  per namespace (see tasker.extract_queue_namespace)
--   pgmq_message_ready              global, every send
--   pgmq_queue_created              a row inserted into pgmq.meta
-- Notifications are sent in the sender's transaction, so they are delivered only if it commits.

CREATE SCHEMA IF NOT EXISTS tasker;

-- Queue name -> namespace: orchestration* -> orchestration; worker_X_queue -> X; X_queue -> X
-- (X starting with a letter); anything else -> default.
CREATE OR REPLACE FUNCTION tasker.extract_queue_namespace(queue_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN queue_name ~ '^orchestration' THEN 'orchestration'
        WHEN queue_name ~ '^worker_.*_queue$' THEN
            coalesce(substring(queue_name FROM '^worker_(.+)_queue$'), 'worker')
        WHEN queue_name ~ '^[a-zA-Z][a-zA-Z0-9_]*_queue$' THEN
            substring(queue_name FROM '^([a-zA-Z][a-zA-Z0-9_]*)_queue$')
        ELSE 'default'
    END;
$fn$;

-- Message text size (bytes) below which a notification carries the message inline.
CREATE OR REPLACE FUNCTION tasker.pgmq_payload_size_threshold()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT 7000; $fn$;

-- Which pgmq implementation this database runs: 'extension' or 'sql'.
CREATE OR REPLACE FUNCTION tasker.pgmq_implementation()
RETURNS text
LANGUAGE sql STABLE
AS $fn$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgmq') THEN 'extension' ELSE 'sql' END;
$fn$;

-- Validated queue table name pgmq.q_<name> (unquoted; callers use format('%I')).
CREATE OR REPLACE FUNCTION tasker.pgmq_queue_table_name(queue_name text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
BEGIN
    IF queue_name IS NULL OR queue_name !~ '^[A-Za-z0-9_]{1,47}$' THEN
        RAISE EXCEPTION 'invalid queue name %: 1-47 letters, digits or underscores', coalesce(quote_literal(queue_name), 'NULL')
            USING ERRCODE = 'invalid_name';
    END IF;
    RETURN 'q_' || lower(queue_name);
END
$fn$;

-- Creates every missing queue of the list (pgmq.create only for names not in pgmq.meta);
-- returns how many were created. Existing queues cost one index lookup each.
CREATE OR REPLACE FUNCTION tasker.pgmq_ensure_queues(queue_names text[])
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    q       text;
    created integer := 0;
BEGIN
    FOR q IN
        SELECT DISTINCT n
        FROM unnest(queue_names) AS n
        WHERE NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE m.queue_name = n)
        ORDER BY n
    LOOP
        PERFORM tasker.pgmq_queue_table_name(q);
        PERFORM pgmq.create(q);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;

-- pgmq.send + pg_notify on pgmq_message_ready.{namespace} and pgmq_message_ready, same transaction.
-- Message text < 7000 bytes: {event_type:"message_with_payload", msg_id, queue_name, namespace,
--   message, ready_at, delay_seconds}
-- otherwise: {event_type:"message_ready", msg_id, queue_name, namespace, ready_at, delay_seconds,
--   payload_omitted:true}
-- and if the notification text still exceeds 7800 bytes, the signal-only form with truncated:true.
-- ready_at = when the message becomes visible (send time + delay_seconds).
CREATE OR REPLACE FUNCTION tasker.pgmq_send_with_notify(
    queue_name text,
    message jsonb,
    delay_seconds integer DEFAULT 0
)
RETURNS bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
    delay     integer := coalesce(delay_seconds, 0);
    ns        text := tasker.extract_queue_namespace(queue_name);
    new_id    bigint;
    ready_at  timestamptz;
    payload   text;
BEGIN
    SELECT s INTO new_id FROM pgmq.send(queue_name, message, delay) AS s;
    ready_at := clock_timestamp() + make_interval(secs => delay);

    IF octet_length(message::text) < tasker.pgmq_payload_size_threshold() THEN
        payload := json_build_object(
            'event_type', 'message_with_payload',
            'msg_id', new_id,
            'queue_name', queue_name,
            'namespace', ns,
            'message', message,
            'ready_at', ready_at,
            'delay_seconds', delay)::text;
        IF octet_length(payload) > 7800 THEN
            -- safety net (pg_notify's limit is 8000 bytes); unreachable with a 7000-byte threshold
            payload := json_build_object(
                'event_type', 'message_ready',
                'msg_id', new_id,
                'queue_name', queue_name,
                'namespace', ns,
                'ready_at', ready_at,
                'delay_seconds', delay,
                'payload_omitted', true,
                'truncated', true)::text;
        END IF;
    ELSE
        payload := json_build_object(
            'event_type', 'message_ready',
            'msg_id', new_id,
            'queue_name', queue_name,
            'namespace', ns,
            'ready_at', ready_at,
            'delay_seconds', delay,
            'payload_omitted', true)::text;
    END IF;

    PERFORM pg_notify('pgmq_message_ready.' || ns, payload);
    PERFORM pg_notify('pgmq_message_ready', payload);
    RETURN new_id;
END
$fn$;

-- pgmq.send_batch + one notification per channel:
-- {event_type:"batch_ready", msg_ids, queue_name, namespace, message_count, ready_at, delay_seconds}.
-- If that text exceeds 7800 bytes (about 700+ messages) msg_ids is replaced by
-- first_msg_id/last_msg_id and msg_ids_omitted:true. An empty or NULL array sends nothing and
-- notifies nobody. Returns the new msg_ids in array order.
CREATE OR REPLACE FUNCTION tasker.pgmq_send_batch_with_notify(
    queue_name text,
    messages jsonb[],
    delay_seconds integer DEFAULT 0
)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
    delay    integer := coalesce(delay_seconds, 0);
    ns       text := tasker.extract_queue_namespace(queue_name);
    ids      bigint[];
    ready_at timestamptz;
    payload  text;
BEGIN
    IF coalesce(cardinality(messages), 0) = 0 THEN
        RETURN;
    END IF;

    SELECT array_agg(s ORDER BY s) INTO ids FROM pgmq.send_batch(queue_name, messages, delay) AS s;
    ready_at := clock_timestamp() + make_interval(secs => delay);

    payload := json_build_object(
        'event_type', 'batch_ready',
        'msg_ids', ids,
        'queue_name', queue_name,
        'namespace', ns,
        'message_count', cardinality(ids),
        'ready_at', ready_at,
        'delay_seconds', delay)::text;

    IF octet_length(payload) > 7800 THEN
        payload := json_build_object(
            'event_type', 'batch_ready',
            'first_msg_id', ids[1],
            'last_msg_id', ids[cardinality(ids)],
            'msg_ids_omitted', true,
            'queue_name', queue_name,
            'namespace', ns,
            'message_count', cardinality(ids),
            'ready_at', ready_at,
            'delay_seconds', delay)::text;
    END IF;

    PERFORM pg_notify('pgmq_message_ready.' || ns, payload);
    PERFORM pg_notify('pgmq_message_ready', payload);
    RETURN QUERY SELECT unnest(ids);
END
$fn$;

-- Claims one message by id, only if it is visible now (vt <= now) and not locked by another
-- transaction (SKIP LOCKED, never waits): read_ct + 1, vt = now + vt_seconds. Returns the claimed
-- row, or no row when the message is missing, invisible (claimed by someone) or locked.
CREATE OR REPLACE FUNCTION tasker.pgmq_read_specific_message(
    queue_name text,
    target_msg_id bigint,
    vt_seconds integer DEFAULT 30
)
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $fn$
BEGIN
    RETURN QUERY EXECUTE format(
        $q$WITH picked AS (
               SELECT msg_id FROM pgmq.%1$I
               WHERE msg_id = $1 AND vt <= clock_timestamp()
               FOR UPDATE SKIP LOCKED
           )
           UPDATE pgmq.%1$I m
           SET vt = clock_timestamp() + $2, read_ct = m.read_ct + 1
           FROM picked
           WHERE m.msg_id = picked.msg_id
           RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers$q$,
        tasker.pgmq_queue_table_name(queue_name))
    USING target_msg_id, make_interval(secs => coalesce(vt_seconds, 30));
END
$fn$;

-- Deletes one message by id; true if it existed.
CREATE OR REPLACE FUNCTION tasker.pgmq_delete_specific_message(
    queue_name text,
    target_msg_id bigint
)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    n integer;
BEGIN
    EXECUTE format('DELETE FROM pgmq.%I WHERE msg_id = $1', tasker.pgmq_queue_table_name(queue_name))
    USING target_msg_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$fn$;

-- Heartbeat / lease extension: keeps the message invisible for the next vt_seconds
-- (vt = now + vt_seconds, like pgmq.set_vt). With expected_read_ct given, only extends if the
-- message still carries that read_ct, i.e. nobody re-claimed it after our claim. True if extended.
CREATE OR REPLACE FUNCTION tasker.pgmq_extend_vt_specific_message(
    queue_name text,
    target_msg_id bigint,
    vt_seconds integer DEFAULT 30,
    expected_read_ct integer DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
DECLARE
    n integer;
BEGIN
    EXECUTE format(
        $q$UPDATE pgmq.%I
           SET vt = clock_timestamp() + $2
           WHERE msg_id = $1 AND ($3::integer IS NULL OR read_ct = $3::integer)$q$,
        tasker.pgmq_queue_table_name(queue_name))
    USING target_msg_id, make_interval(secs => coalesce(vt_seconds, 30)), expected_read_ct;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END
$fn$;

-- pgmq_queue_created: {event_type:"queue_created", queue_name, namespace, created_at}
CREATE OR REPLACE FUNCTION tasker.pgmq_notify_queue_created()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM pg_notify('pgmq_queue_created', json_build_object(
        'event_type', 'queue_created',
        'queue_name', NEW.queue_name,
        'namespace', tasker.extract_queue_namespace(NEW.queue_name),
        'created_at', NEW.created_at)::text);
    RETURN NULL;
END
$fn$;

-- Installed whether pgmq.meta is ours or the extension's (a trigger on an extension table is
-- allowed; it is not an extension member and goes away with DROP EXTENSION pgmq CASCADE).
DO $do$
BEGIN
    IF to_regclass('pgmq.meta') IS NULL THEN
        RAISE WARNING 'pgmq.meta not found: pgmq_queue_created notifications are not installed';
        RETURN;
    END IF;
    CREATE OR REPLACE TRIGGER pgmq_queue_created_trigger
        AFTER INSERT ON pgmq.meta
        FOR EACH ROW
        EXECUTE FUNCTION tasker.pgmq_notify_queue_created();
END
$do$;
