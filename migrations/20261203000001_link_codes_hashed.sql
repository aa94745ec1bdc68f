-- Link codes are stored as SHA-256 hashes, like refresh tokens: a copy of the table links
-- nobody's Telegram. Codes live 15 minutes, so the outstanding ones are dropped rather than
-- converted (whoever holds one asks the app for a new one).
DELETE FROM telegram_link_codes;
ALTER TABLE telegram_link_codes DROP COLUMN code;
ALTER TABLE telegram_link_codes
    ADD COLUMN code_hash bytea NOT NULL PRIMARY KEY CHECK (length(code_hash) = 32);
