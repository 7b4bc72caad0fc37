-- 0010_pgmq: the queue transport, schema `pgmq`.
--
-- Uses the real pgmq extension (Tembo pgmq >= 1.5, the first version with `headers`) when the server
-- offers it, otherwise installs our own plain-SQL (plpgsql) implementation of the same SQL API and
-- table layout. See docs/queues.md.
--
-- How the choice works with a loader that splits this file into statements and runs them all in one
-- transaction: the first DO block decides and, if the extension is used, runs CREATE EXTENSION. Every
-- later DO block starts with "if the pgmq extension is installed, do nothing", so each block is
-- self-contained (no session state is carried between statements). The plain-SQL blocks only use
-- CREATE ... IF NOT EXISTS / CREATE OR REPLACE, so re-running this file is harmless.
--
-- Override (tests, benchmarks): `SET tasker.pgmq_implementation = 'sql' | 'extension' | 'auto'`
-- (default auto) in the migrating session, or ALTER DATABASE ... SET.
--
-- Plain-SQL implementation rules: queue names are 1-47 characters of [A-Za-z0-9_]; table names are
-- lower(prefix || '_' || name) as in pgmq; identifiers go through format('%I') and values through
-- EXECUTE ... USING, never through string concatenation.

-- 1. Decide; install the extension if we use it; otherwise create the schema, meta table and types.
DO $do$
DECLARE
    wanted   text := lower(coalesce(nullif(current_setting('tasker.pgmq_implementation', true), ''), 'auto'));
    avail    text;
    usable   boolean;
BEGIN
    IF wanted NOT IN ('auto', 'extension', 'sql') THEN
        RAISE EXCEPTION 'tasker.pgmq_implementation must be auto, extension or sql (got %)', wanted;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgmq') THEN
        RAISE NOTICE 'pgmq: extension already installed, using it';
        RETURN;
    END IF;

    SELECT default_version INTO avail FROM pg_available_extensions WHERE name = 'pgmq';
    usable := avail IS NOT NULL
        AND string_to_array(substring(avail FROM '^[0-9]+(?:\.[0-9]+)*'), '.')::int[] >= ARRAY[1, 5, 0];

    IF wanted = 'extension' AND NOT usable THEN
        RAISE EXCEPTION 'pgmq: tasker.pgmq_implementation = extension, but pgmq >= 1.5 is not available (found %)',
            coalesce(avail, 'none');
    END IF;

    IF wanted <> 'sql' AND usable AND to_regclass('pgmq.meta') IS NULL THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pgmq;
            RAISE NOTICE 'pgmq: installed extension pgmq %', avail;
            RETURN;
        EXCEPTION WHEN OTHERS THEN
            IF wanted = 'extension' THEN
                RAISE;
            END IF;
            RAISE WARNING 'pgmq: CREATE EXTENSION pgmq failed (%); using the plain-SQL implementation', SQLERRM;
        END;
    END IF;

    RAISE NOTICE 'pgmq: installing the plain-SQL implementation';

    CREATE SCHEMA IF NOT EXISTS pgmq;

    CREATE TABLE IF NOT EXISTS pgmq.meta (
        queue_name     varchar UNIQUE NOT NULL,
        is_partitioned boolean NOT NULL,
        is_unlogged    boolean NOT NULL,
        created_at     timestamptz DEFAULT now() NOT NULL
    );

    IF to_regtype('pgmq.message_record') IS NULL THEN
        CREATE TYPE pgmq.message_record AS (
            msg_id      bigint,
            read_ct     integer,
            enqueued_at timestamptz,
            vt          timestamptz,
            message     jsonb,
            headers     jsonb
        );
    END IF;

    IF to_regtype('pgmq.queue_record') IS NULL THEN
        CREATE TYPE pgmq.queue_record AS (
            queue_name     varchar,
            is_partitioned boolean,
            is_unlogged    boolean,
            created_at     timestamptz
        );
    END IF;

    IF to_regtype('pgmq.metrics_result') IS NULL THEN
        CREATE TYPE pgmq.metrics_result AS (
            queue_name           text,
            queue_length         bigint,
            newest_msg_age_sec   integer,
            oldest_msg_age_sec   integer,
            total_messages       bigint,
            scrape_time          timestamptz,
            queue_visible_length bigint
        );
    END IF;

    -- Same read-only grants as the extension.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_monitor') THEN
        GRANT USAGE ON SCHEMA pgmq TO pg_monitor;
        GRANT SELECT ON ALL TABLES IN SCHEMA pgmq TO pg_monitor;
        GRANT SELECT ON ALL SEQUENCES IN SCHEMA pgmq TO pg_monitor;
        ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT SELECT ON TABLES TO pg_monitor;
        ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT SELECT ON SEQUENCES TO pg_monitor;
    END IF;
END
$do$;

-- 2. Name helpers and queue lifecycle: validate_queue_name, format_table_name, acquire_queue_lock,
--    create, create_non_partitioned, create_unlogged, create_partitioned (unsupported), drop_queue,
--    purge_queue, list_queues.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgmq') THEN
        RETURN;
    END IF;

    CREATE OR REPLACE FUNCTION pgmq.validate_queue_name(queue_name text)
    RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    AS $fn$
    BEGIN
        IF queue_name IS NULL OR queue_name !~ '^[A-Za-z0-9_]+$' THEN
            RAISE EXCEPTION 'invalid queue name %: use letters, digits and underscore', coalesce(quote_literal(queue_name), 'NULL')
                USING ERRCODE = 'invalid_name';
        END IF;
        IF length(queue_name) > 47 THEN
            RAISE EXCEPTION 'queue name is too long, maximum length is 47 characters'
                USING ERRCODE = 'name_too_long';
        END IF;
    END
    $fn$;

    -- 'q' -> pgmq.q_<name>, 'a' -> pgmq.a_<name> (lower-cased, as pgmq does).
    CREATE OR REPLACE FUNCTION pgmq.format_table_name(queue_name text, prefix text)
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $fn$
    BEGIN
        PERFORM pgmq.validate_queue_name(queue_name);
        RETURN lower(prefix || '_' || queue_name);
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.acquire_queue_lock(queue_name text)
    RETURNS void
    LANGUAGE sql
    AS $fn$
        SELECT pg_advisory_xact_lock(hashtext('pgmq.queue_' || queue_name));
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq._create_queue(queue_name text, unlogged boolean)
    RETURNS void
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        qtable text := pgmq.format_table_name(queue_name, 'q');
        atable text := pgmq.format_table_name(queue_name, 'a');
    BEGIN
        -- Idempotent fast path: an existing queue costs one index lookup and takes no DDL lock.
        IF EXISTS (SELECT 1 FROM pgmq.meta m WHERE m.queue_name = _create_queue.queue_name)
           AND to_regclass(format('pgmq.%I', qtable)) IS NOT NULL THEN
            RETURN;
        END IF;

        PERFORM pgmq.acquire_queue_lock(queue_name);

        IF to_regclass(format('pgmq.%I', qtable)) IS NULL THEN
            EXECUTE format(
                $q$CREATE %s TABLE pgmq.%I (
                    msg_id      bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
                    read_ct     integer DEFAULT 0 NOT NULL,
                    enqueued_at timestamptz DEFAULT now() NOT NULL,
                    vt          timestamptz NOT NULL,
                    message     jsonb,
                    headers     jsonb
                )$q$,
                CASE WHEN unlogged THEN 'UNLOGGED' ELSE '' END, qtable);
            EXECUTE format('CREATE INDEX %I ON pgmq.%I (vt ASC)', qtable || '_vt_idx', qtable);
        END IF;

        IF to_regclass(format('pgmq.%I', atable)) IS NULL THEN
            EXECUTE format(
                $q$CREATE TABLE pgmq.%I (
                    msg_id      bigint PRIMARY KEY,
                    read_ct     integer DEFAULT 0 NOT NULL,
                    enqueued_at timestamptz DEFAULT now() NOT NULL,
                    archived_at timestamptz DEFAULT now() NOT NULL,
                    vt          timestamptz NOT NULL,
                    message     jsonb,
                    headers     jsonb
                )$q$,
                atable);
            EXECUTE format('CREATE INDEX %I ON pgmq.%I (archived_at)', 'archived_at_idx_' || lower(queue_name), atable);
        END IF;

        INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)
        VALUES (queue_name, false, unlogged)
        ON CONFLICT DO NOTHING;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.create_non_partitioned(queue_name text)
    RETURNS void
    LANGUAGE sql
    AS $fn$ SELECT pgmq._create_queue(queue_name, false); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.create_unlogged(queue_name text)
    RETURNS void
    LANGUAGE sql
    AS $fn$ SELECT pgmq._create_queue(queue_name, true); $fn$;

    CREATE OR REPLACE FUNCTION pgmq."create"(queue_name text)
    RETURNS void
    LANGUAGE sql
    AS $fn$ SELECT pgmq._create_queue(queue_name, false); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.create_partitioned(
        queue_name text,
        partition_interval text DEFAULT '10000',
        retention_interval text DEFAULT '100000'
    )
    RETURNS void
    LANGUAGE plpgsql
    AS $fn$
    BEGIN
        RAISE EXCEPTION 'pgmq.create_partitioned needs the pgmq extension and pg_partman; the plain-SQL implementation has no partitioned queues'
            USING ERRCODE = 'feature_not_supported';
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.drop_queue(queue_name text)
    RETURNS boolean
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        qtable text := pgmq.format_table_name(queue_name, 'q');
        atable text := pgmq.format_table_name(queue_name, 'a');
    BEGIN
        PERFORM pgmq.acquire_queue_lock(queue_name);
        IF to_regclass(format('pgmq.%I', qtable)) IS NULL THEN
            DELETE FROM pgmq.meta m WHERE m.queue_name = drop_queue.queue_name;
            RAISE NOTICE 'pgmq queue `%` does not exist', queue_name;
            RETURN false;
        END IF;
        EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', qtable);
        EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', atable);
        DELETE FROM pgmq.meta m WHERE m.queue_name = drop_queue.queue_name;
        RETURN true;
    END
    $fn$;

    -- Deletes every message of the queue (not the archive); returns how many there were.
    CREATE OR REPLACE FUNCTION pgmq.purge_queue(queue_name text)
    RETURNS bigint
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        qtable text := pgmq.format_table_name(queue_name, 'q');
        n      bigint;
    BEGIN
        EXECUTE format('SELECT count(*) FROM pgmq.%I', qtable) INTO n;
        EXECUTE format('TRUNCATE TABLE pgmq.%I', qtable);
        RETURN n;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.list_queues()
    RETURNS SETOF pgmq.queue_record
    LANGUAGE sql STABLE
    AS $fn$
        SELECT m.queue_name, m.is_partitioned, m.is_unlogged, m.created_at
        FROM pgmq.meta m
        ORDER BY m.created_at, m.queue_name;
    $fn$;
END
$do$;

-- 3. Producing: send and send_batch, with the extension's overloads
--    (msg), (msg, headers), (msg, delay int), (msg, delay timestamptz), (msg, headers, delay int|timestamptz).
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgmq') THEN
        RETURN;
    END IF;

    -- The implementation: every other send overload ends here. `delay` is the absolute time the
    -- message becomes visible (its initial vt).
    CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay timestamptz)
    RETURNS SETOF bigint
    LANGUAGE plpgsql
    AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format(
            'INSERT INTO pgmq.%I (vt, message, headers) VALUES ($1, $2, $3) RETURNING msg_id',
            pgmq.format_table_name(queue_name, 'q'))
        USING coalesce(delay, clock_timestamp()), msg, headers;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$ SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb, clock_timestamp()); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$ SELECT * FROM pgmq.send(queue_name, msg, headers, clock_timestamp()); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, delay integer)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$
        SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb,
                                clock_timestamp() + make_interval(secs => coalesce(delay, 0)));
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, delay timestamptz)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$ SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb, delay); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay integer)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$
        SELECT * FROM pgmq.send(queue_name, msg, headers,
                                clock_timestamp() + make_interval(secs => coalesce(delay, 0)));
    $fn$;

    -- The implementation: one INSERT ... SELECT over unnest, msg_ids returned in array order.
    -- headers, when given, must have one element per message.
    CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamptz)
    RETURNS SETOF bigint
    LANGUAGE plpgsql
    AS $fn$
    BEGIN
        IF headers IS NOT NULL AND cardinality(headers) <> coalesce(cardinality(msgs), 0) THEN
            RAISE EXCEPTION 'pgmq.send_batch: % headers for % messages', cardinality(headers), coalesce(cardinality(msgs), 0)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN QUERY EXECUTE format(
            $q$INSERT INTO pgmq.%I (vt, message, headers)
               SELECT $1, u.m, u.h
               FROM unnest($2, $3) WITH ORDINALITY AS u(m, h, ord)
               ORDER BY u.ord
               RETURNING msg_id$q$,
            pgmq.format_table_name(queue_name, 'q'))
        USING coalesce(delay, clock_timestamp()), msgs, headers;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[])
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$ SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[], clock_timestamp()); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[])
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$ SELECT * FROM pgmq.send_batch(queue_name, msgs, headers, clock_timestamp()); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay integer)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$
        SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[],
                                      clock_timestamp() + make_interval(secs => coalesce(delay, 0)));
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay timestamptz)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$ SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[], delay); $fn$;

    CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay integer)
    RETURNS SETOF bigint
    LANGUAGE sql
    AS $fn$
        SELECT * FROM pgmq.send_batch(queue_name, msgs, headers,
                                      clock_timestamp() + make_interval(secs => coalesce(delay, 0)));
    $fn$;
END
$do$;

-- 4. Consuming: read, read_with_poll, pop, set_vt, archive, delete.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgmq') THEN
        RETURN;
    END IF;

    -- Claims up to qty visible messages (vt <= now), oldest msg_id first, skipping rows locked by
    -- concurrent readers; each claimed message gets read_ct + 1 and vt = now + vt seconds.
    -- conditional: optional jsonb containment filter on message (pgmq 1.5+ API).
    CREATE OR REPLACE FUNCTION pgmq.read(queue_name text, vt integer, qty integer, conditional jsonb DEFAULT '{}')
    RETURNS SETOF pgmq.message_record
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        qtable   text := pgmq.format_table_name(queue_name, 'q');
        cond_sql text := '';
    BEGIN
        IF conditional IS NOT NULL AND conditional <> '{}'::jsonb THEN
            cond_sql := ' AND message @> $3';
        END IF;
        RETURN QUERY EXECUTE format(
            $q$WITH picked AS (
                   SELECT msg_id FROM pgmq.%1$I
                   WHERE vt <= clock_timestamp()%2$s
                   ORDER BY msg_id
                   LIMIT $1
                   FOR UPDATE SKIP LOCKED
               ), claimed AS (
                   UPDATE pgmq.%1$I m
                   SET vt = clock_timestamp() + $2, read_ct = m.read_ct + 1
                   FROM picked
                   WHERE m.msg_id = picked.msg_id
                   RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers
               )
               SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM claimed ORDER BY msg_id$q$,
            qtable, cond_sql)
        USING qty, make_interval(secs => vt), conditional;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.read_with_poll(
        queue_name text,
        vt integer,
        qty integer,
        max_poll_seconds integer DEFAULT 5,
        poll_interval_ms integer DEFAULT 100,
        conditional jsonb DEFAULT '{}'
    )
    RETURNS SETOF pgmq.message_record
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        stop_at timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
        got     boolean;
    BEGIN
        LOOP
            RETURN QUERY SELECT * FROM pgmq.read(queue_name, vt, qty, conditional);
            GET DIAGNOSTICS got = ROW_COUNT;
            IF got OR clock_timestamp() >= stop_at THEN
                RETURN;
            END IF;
            PERFORM pg_sleep(poll_interval_ms::numeric / 1000);
        END LOOP;
    END
    $fn$;

    -- Reads and deletes up to qty visible messages in one statement.
    CREATE OR REPLACE FUNCTION pgmq.pop(queue_name text, qty integer DEFAULT 1)
    RETURNS SETOF pgmq.message_record
    LANGUAGE plpgsql
    AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format(
            $q$WITH picked AS (
                   SELECT msg_id FROM pgmq.%1$I
                   WHERE vt <= clock_timestamp()
                   ORDER BY msg_id
                   LIMIT $1
                   FOR UPDATE SKIP LOCKED
               ), popped AS (
                   DELETE FROM pgmq.%1$I m
                   USING picked
                   WHERE m.msg_id = picked.msg_id
                   RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers
               )
               SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM popped ORDER BY msg_id$q$,
            pgmq.format_table_name(queue_name, 'q'))
        USING qty;
    END
    $fn$;

    -- Sets the message's vt to now + vt seconds (0 makes it visible at once); returns the row.
    CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint, vt integer)
    RETURNS SETOF pgmq.message_record
    LANGUAGE plpgsql
    AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format(
            $q$UPDATE pgmq.%I
               SET vt = clock_timestamp() + $2
               WHERE msg_id = $1
               RETURNING msg_id, read_ct, enqueued_at, vt, message, headers$q$,
            pgmq.format_table_name(queue_name, 'q'))
        USING msg_id, make_interval(secs => vt);
    END
    $fn$;

    -- Moves a message to pgmq.a_<name> (archived_at = now()); true if it existed.
    CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_id bigint)
    RETURNS boolean
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        moved bigint;
    BEGIN
        EXECUTE format(
            $q$WITH gone AS (
                   DELETE FROM pgmq.%I WHERE msg_id = $1
                   RETURNING msg_id, vt, read_ct, enqueued_at, message, headers
               )
               INSERT INTO pgmq.%I (msg_id, vt, read_ct, enqueued_at, message, headers)
               SELECT msg_id, vt, read_ct, enqueued_at, message, headers FROM gone
               RETURNING msg_id$q$,
            pgmq.format_table_name(queue_name, 'q'), pgmq.format_table_name(queue_name, 'a'))
        INTO moved
        USING msg_id;
        RETURN moved IS NOT NULL;
    END
    $fn$;

    -- Archives several messages in one statement; returns the ids that existed.
    CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_ids bigint[])
    RETURNS SETOF bigint
    LANGUAGE plpgsql
    AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format(
            $q$WITH gone AS (
                   DELETE FROM pgmq.%I WHERE msg_id = ANY($1)
                   RETURNING msg_id, vt, read_ct, enqueued_at, message, headers
               )
               INSERT INTO pgmq.%I (msg_id, vt, read_ct, enqueued_at, message, headers)
               SELECT msg_id, vt, read_ct, enqueued_at, message, headers FROM gone
               RETURNING msg_id$q$,
            pgmq.format_table_name(queue_name, 'q'), pgmq.format_table_name(queue_name, 'a'))
        USING msg_ids;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_id bigint)
    RETURNS boolean
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        gone bigint;
    BEGIN
        EXECUTE format('DELETE FROM pgmq.%I WHERE msg_id = $1 RETURNING msg_id',
                       pgmq.format_table_name(queue_name, 'q'))
        INTO gone
        USING msg_id;
        RETURN gone IS NOT NULL;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_ids bigint[])
    RETURNS SETOF bigint
    LANGUAGE plpgsql
    AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format('DELETE FROM pgmq.%I WHERE msg_id = ANY($1) RETURNING msg_id',
                                    pgmq.format_table_name(queue_name, 'q'))
        USING msg_ids;
    END
    $fn$;
END
$do$;

-- 5. Observability: metrics, metrics_all.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgmq') THEN
        RETURN;
    END IF;

    -- queue_length: messages in the queue (visible or not); queue_visible_length: vt <= now;
    -- newest/oldest_msg_age_sec: age of the newest/oldest enqueued_at (NULL when empty);
    -- total_messages: messages ever sent (the msg_id sequence's last value).
    CREATE OR REPLACE FUNCTION pgmq.metrics(queue_name text)
    RETURNS pgmq.metrics_result
    LANGUAGE plpgsql
    AS $fn$
    DECLARE
        qtable text := pgmq.format_table_name(queue_name, 'q');
        result pgmq.metrics_result;
    BEGIN
        EXECUTE format(
            $q$SELECT $1::text,
                      s.queue_length,
                      s.newest_msg_age_sec,
                      s.oldest_msg_age_sec,
                      t.total_messages,
                      s.scrape_time,
                      s.queue_visible_length
               FROM (
                   SELECT count(*) AS queue_length,
                          count(*) FILTER (WHERE vt <= now()) AS queue_visible_length,
                          EXTRACT(epoch FROM (now() - max(enqueued_at)))::int AS newest_msg_age_sec,
                          EXTRACT(epoch FROM (now() - min(enqueued_at)))::int AS oldest_msg_age_sec,
                          now() AS scrape_time
                   FROM pgmq.%I
               ) s,
               (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS total_messages FROM pgmq.%I) t$q$,
            qtable, qtable || '_msg_id_seq')
        INTO result
        USING queue_name;
        RETURN result;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION pgmq.metrics_all()
    RETURNS SETOF pgmq.metrics_result
    LANGUAGE sql
    AS $fn$
        SELECT r.*
        FROM pgmq.meta m
        CROSS JOIN LATERAL pgmq.metrics(m.queue_name) r
        ORDER BY m.queue_name;
    $fn$;
END
$do$;
