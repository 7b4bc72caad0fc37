-- 0002: registry tables (what can run): namespaces, task templates, named steps.

CREATE TYPE tasker.identity_strategy AS ENUM ('strict', 'caller_provided', 'always_unique');

CREATE TABLE tasker.task_namespaces (
  task_namespace_uuid uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  name                varchar(64) NOT NULL,
  description         varchar(255),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT task_namespaces_name_key UNIQUE (name)
);

-- One row per template version. `configuration` holds the whole serialized template,
-- including the optional `lifecycle` block read by the staleness functions.
CREATE TABLE tasker.named_tasks (
  named_task_uuid     uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  task_namespace_uuid uuid NOT NULL REFERENCES tasker.task_namespaces (task_namespace_uuid),
  name                varchar(255) NOT NULL,
  version             varchar(64) NOT NULL DEFAULT '0.1.0',
  description         varchar(255),
  configuration       jsonb NOT NULL DEFAULT '{}'::jsonb,
  identity_strategy   tasker.identity_strategy NOT NULL DEFAULT 'strict',
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT named_tasks_namespace_name_version_key UNIQUE (task_namespace_uuid, name, version),
  CONSTRAINT named_tasks_configuration_is_object CHECK (jsonb_typeof(configuration) = 'object')
);

CREATE INDEX idx_named_tasks_lifecycle ON tasker.named_tasks USING gin ((configuration -> 'lifecycle'));
CREATE INDEX idx_named_tasks_name ON tasker.named_tasks (name);

-- Step names are global (shared by every template that uses the name).
CREATE TABLE tasker.named_steps (
  named_step_uuid uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  name            varchar(255) NOT NULL,
  description     varchar(255),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT named_steps_name_key UNIQUE (name)
);

-- Legacy template <-> step association (not used by task creation; kept for parity).
CREATE TABLE tasker.named_tasks_named_steps (
  ntns_uuid            uuid PRIMARY KEY DEFAULT tasker.uuid_generate_v7(),
  named_task_uuid      uuid NOT NULL REFERENCES tasker.named_tasks (named_task_uuid) ON DELETE CASCADE,
  named_step_uuid      uuid NOT NULL REFERENCES tasker.named_steps (named_step_uuid),
  default_retryable    boolean NOT NULL DEFAULT true,
  default_max_attempts integer NOT NULL DEFAULT 3,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT named_tasks_named_steps_key UNIQUE (named_task_uuid, named_step_uuid)
);

CREATE INDEX idx_ntns_named_step ON tasker.named_tasks_named_steps (named_step_uuid);

CREATE TRIGGER trg_task_namespaces_updated_at BEFORE UPDATE ON tasker.task_namespaces
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
CREATE TRIGGER trg_named_tasks_updated_at BEFORE UPDATE ON tasker.named_tasks
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
CREATE TRIGGER trg_named_steps_updated_at BEFORE UPDATE ON tasker.named_steps
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
CREATE TRIGGER trg_named_tasks_named_steps_updated_at BEFORE UPDATE ON tasker.named_tasks_named_steps
  FOR EACH ROW EXECUTE FUNCTION tasker.set_updated_at();
