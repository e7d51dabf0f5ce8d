-- The MySQL node's own records: which instances and bindings live on this node, so a restart
-- loses nothing (capacity is recomputed from them; unbind/unprovision still work).
CREATE TABLE instances (
    name       TEXT PRIMARY KEY,      -- the database, "d" + uuid
    user       TEXT NOT NULL,         -- the provision user (never dropped by unbind)
    password   TEXT NOT NULL,
    plan       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE bindings (
    user       TEXT PRIMARY KEY,      -- the binding's user, "u" + 12 characters
    name       TEXT NOT NULL REFERENCES instances(name) ON DELETE CASCADE,
    password   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX bindings_by_instance ON bindings(name);
