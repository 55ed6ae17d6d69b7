-- Keys for the task API. Only a SHA-256 of each key is kept (keys are 32 random bytes, so a
-- slow hash adds nothing); the short prefix lets an operator tell keys apart.
create table api_keys (
    id            uuid primary key default gen_random_uuid(),
    name          text not null unique,
    prefix        text not null,
    key_hash      text not null unique,
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
