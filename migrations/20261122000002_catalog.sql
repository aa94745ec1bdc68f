-- The clinic's catalog: specialties, doctors, and when each doctor sees patients.

CREATE TABLE specialties (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name        text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE doctors (
    id               uuid PRIMARY KEY,
    -- The doctor's own account, when they sign in to see their agenda.
    user_id          uuid UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    name             text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    bio              text NOT NULL DEFAULT '',
    -- Length of one appointment; slots are cut from the weekly schedule in steps of this.
    slot_minutes     integer NOT NULL DEFAULT 30 CHECK (slot_minutes BETWEEN 5 AND 480),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX doctors_name_search ON doctors (lower(name) text_pattern_ops);

CREATE TABLE doctor_specialties (
    doctor_id    uuid NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    specialty_id uuid NOT NULL REFERENCES specialties (id) ON DELETE CASCADE,
    PRIMARY KEY (doctor_id, specialty_id)
);

CREATE INDEX doctor_specialties_by_specialty ON doctor_specialties (specialty_id, doctor_id);

-- Weekly working hours in the clinic's local time (CLINIC_TIMEZONE): a doctor may have several
-- intervals a day (morning and afternoon), none overlapping.
CREATE TABLE doctor_schedules (
    id         uuid PRIMARY KEY,
    doctor_id  uuid NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    -- ISO weekday: 1 = Monday … 7 = Sunday.
    weekday    smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts_at  time NOT NULL,
    ends_at    time NOT NULL,
    CHECK (starts_at < ends_at),
    EXCLUDE USING gist (
        doctor_id WITH =,
        weekday WITH =,
        tsrange('2000-01-01'::date + starts_at, '2000-01-01'::date + ends_at) WITH &&
    )
);

-- Absences: holidays, conferences, sick days. No slots are offered inside them.
CREATE TABLE doctor_time_off (
    id         uuid PRIMARY KEY,
    doctor_id  uuid NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
    period     tstzrange NOT NULL CHECK (NOT isempty(period) AND lower_inc(period) AND NOT upper_inc(period)),
    reason     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX doctor_time_off_by_doctor ON doctor_time_off USING gist (doctor_id, period);
