-- People who use MedSync: patients, doctors and clinic staff (admins).
-- A user signs in with email and password (API), or is known only by a Telegram account (bot),
-- or both once linked.

CREATE TYPE user_role AS ENUM ('patient', 'doctor', 'admin');

CREATE TABLE users (
    id               uuid PRIMARY KEY,
    email            text,
    password_hash    text,
    name             text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    phone            text CHECK (phone IS NULL OR length(phone) BETWEEN 3 AND 32),
    role             user_role NOT NULL DEFAULT 'patient',
    telegram_user_id bigint UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Emails are compared case-insensitively; the application stores them lower-cased.
    CONSTRAINT users_email_lowercase CHECK (email = lower(email)),
    -- Someone must be able to sign in: by password (email + hash) or by Telegram.
    CONSTRAINT users_can_sign_in CHECK (
        (email IS NOT NULL AND password_hash IS NOT NULL) OR telegram_user_id IS NOT NULL
    )
);

CREATE UNIQUE INDEX users_email_key ON users (email) WHERE email IS NOT NULL;
