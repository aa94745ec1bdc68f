-- Appointments. Double booking is made impossible by the database itself: an exclusion
-- constraint forbids two non-cancelled bookings of one doctor whose times overlap, whatever
-- the number of API replicas or bot processes inserting at once.

CREATE TYPE booking_status AS ENUM ('confirmed', 'cancelled', 'completed', 'no_show');
CREATE TYPE booking_source AS ENUM ('api', 'telegram', 'admin');

CREATE TABLE bookings (
    id            uuid PRIMARY KEY,
    doctor_id     uuid NOT NULL REFERENCES doctors (id) ON DELETE RESTRICT,
    patient_id    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    status        booking_status NOT NULL DEFAULT 'confirmed',
    source        booking_source NOT NULL,
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    cancelled_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    CHECK (starts_at < ends_at),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
        doctor_id WITH =,
        tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status <> 'cancelled')
);

CREATE INDEX bookings_by_patient ON bookings (patient_id, starts_at);
CREATE INDEX bookings_by_doctor ON bookings (doctor_id, starts_at);

-- A retried POST with the same Idempotency-Key returns the first answer.
CREATE TABLE idempotency_keys (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  bytea NOT NULL,
    response_code smallint NOT NULL,
    response_body jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
