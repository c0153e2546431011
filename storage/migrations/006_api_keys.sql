-- API keys of the gateway (storage/api_keys.py). Only a SHA-256 of each key is kept:
-- the key is 256 random bits (storage/key_material.py), so a fast hash is as good as a
-- slow one against guessing, and the gateway can look a key up by its hash in one
-- index probe on every request. A password hash (bcrypt, argon2) is for low-entropy
-- secrets and would cost tens of milliseconds per request here.
CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'storefront', 'viewer')),
    key_hash      bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NULL,
    revoked_at    timestamptz NULL
);
