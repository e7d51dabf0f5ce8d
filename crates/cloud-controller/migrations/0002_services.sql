-- cfsim cloud controller schema: services (v1 db/schema.rb `services`, `service_configs`,
-- `service_bindings`, reduced to what cfsim uses). JSON values are stored as TEXT.

-- An offering registered by a service gateway (`POST /services/v1/offerings`).
CREATE TABLE service_offerings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL UNIQUE,          -- "mysql-5.1"
    name TEXT NOT NULL,                  -- "mysql" (label before the last '-')
    version TEXT NOT NULL,               -- "5.1" (label after the last '-')
    url TEXT NOT NULL,                   -- the gateway's base URL
    token TEXT NOT NULL,                 -- the X-VCAP-Service-Token it presented
    description TEXT,
    info_url TEXT,
    plans TEXT NOT NULL DEFAULT '["free"]',
    tags TEXT NOT NULL DEFAULT '[]',
    plan_options TEXT,
    binding_options TEXT,
    acls TEXT,
    cf_plan_id TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    timeout INTEGER,                     -- seconds the CC waits for the gateway
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A provisioned instance (v1 ServiceConfig): the user's alias and the gateway's handle.
CREATE TABLE service_configs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    offering_id INTEGER NOT NULL REFERENCES service_offerings(id) ON DELETE CASCADE,
    alias TEXT NOT NULL,                 -- the user's name for it
    name TEXT NOT NULL UNIQUE,           -- the gateway's service_id
    plan TEXT NOT NULL,
    plan_option TEXT,
    data TEXT NOT NULL,                  -- the handle's configuration ({"plan":"free"})
    credentials TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_id, alias)
);

-- A binding of an instance to an app (v1 ServiceBinding): the gateway's binding handle.
CREATE TABLE service_bindings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    config_id INTEGER NOT NULL REFERENCES service_configs(id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE,           -- the gateway's handle id
    configuration TEXT NOT NULL,
    credentials TEXT NOT NULL,
    binding_options TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    UNIQUE (app_id, config_id)
);

-- An app's bound services are its bindings from now on (one source of truth).
ALTER TABLE apps DROP COLUMN services;
