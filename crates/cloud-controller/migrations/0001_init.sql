-- cfsim cloud controller schema: users and apps (v1 db/schema.rb, reduced to what cfsim uses).
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_salt TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    framework TEXT NOT NULL DEFAULT 'unknown',
    runtime TEXT NOT NULL DEFAULT 'unknown',
    instances INTEGER NOT NULL DEFAULT 1,
    memory INTEGER NOT NULL DEFAULT 256,
    disk INTEGER NOT NULL DEFAULT 2048,
    fds INTEGER NOT NULL DEFAULT 256,
    state TEXT NOT NULL DEFAULT 'STOPPED',
    uris TEXT NOT NULL DEFAULT '[]',
    env TEXT NOT NULL DEFAULT '[]',
    services TEXT NOT NULL DEFAULT '[]',
    package_state TEXT NOT NULL DEFAULT 'PENDING',
    staged_sha1 TEXT,
    run_count INTEGER NOT NULL DEFAULT 0,
    debug TEXT,
    console INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    lock_version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (owner_id, name)
);
