-- Bookings made in the web app and the Telegram Mini App (services/web). Adding an enum value
-- is not reversible; a release without the web app never reads one.
ALTER TYPE booking_source ADD VALUE IF NOT EXISTS 'web';

-- A day of the clinic across doctors (the web app's "today" for admins) reads bookings by
-- start alone.
CREATE INDEX IF NOT EXISTS bookings_by_start ON bookings (starts_at);
