-- 0001: schema, UUIDv7 key generator and small generic helpers.
--
-- Everything of the engine lives in schema `tasker`. Functions always qualify
-- names with `tasker.` instead of using `SET search_path`, because a SET clause
-- stops PostgreSQL from inlining SQL functions (the readiness functions rely on it).

CREATE SCHEMA IF NOT EXISTS tasker;

-- tasker.uuid_generate_v7(): time-ordered keys (RFC 9562 version 7).
-- PostgreSQL 18 ships uuidv7(); older servers (PG 13+) get a plain SQL version
-- built on the core gen_random_uuid(), so no extension (pgcrypto) is needed.
-- The DO block picks the body once, at migration time.
DO $do$
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_catalog.pg_proc
    WHERE proname = 'uuidv7'
      AND pronamespace = 'pg_catalog'::regnamespace
      AND pronargs = 0
  ) THEN
    EXECUTE $fn$
      CREATE OR REPLACE FUNCTION tasker.uuid_generate_v7() RETURNS uuid
      LANGUAGE sql VOLATILE PARALLEL SAFE
      AS 'SELECT pg_catalog.uuidv7()'
    $fn$;
  ELSE
    -- Layout: 48-bit unix epoch milliseconds | version 0111 | 12-bit sub-millisecond
    -- fraction (RFC 9562 "method 3": keeps keys made in the same millisecond in
    -- time order, like PG 18's own uuidv7) | variant 10 + 62 random bits.
    -- The last 8 bytes come from gen_random_uuid(), whose variant bits already are 10.
    EXECUTE $fn$
      CREATE OR REPLACE FUNCTION tasker.uuid_generate_v7() RETURNS uuid
      LANGUAGE sql VOLATILE PARALLEL SAFE
      AS $body$
        SELECT encode(
                 substring(int8send(us / 1000) FROM 3)                                -- 6 bytes: ms timestamp
                 || int2send((28672 + ((us % 1000) * 4096 / 1000))::int2)           -- 0x7000 | 12-bit fraction
                 || substring(uuid_send(gen_random_uuid()) FROM 9),                  -- variant + random
                 'hex')::uuid
        FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us) AS now_us
      $body$
    $fn$;
  END IF;
END
$do$;

COMMENT ON FUNCTION tasker.uuid_generate_v7() IS
  'UUID version 7 (time ordered). Wraps pg_catalog.uuidv7() on PostgreSQL 18+, plain SQL otherwise.';

-- Generic BEFORE UPDATE trigger body: keeps updated_at honest for any writer.
CREATE OR REPLACE FUNCTION tasker.set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- Lenient text -> uuid conversion (NULL instead of an error). Used where values come
-- from free-form JSON metadata; avoids plpgsql EXCEPTION blocks (each one is a
-- subtransaction) on hot trigger paths.
CREATE OR REPLACE FUNCTION tasker.try_uuid(p_text text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_text ~* '^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$'
      THEN p_text::uuid
  END
$$;
