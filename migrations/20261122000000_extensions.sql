-- btree_gist lets exclusion constraints mix equality on plain columns (doctor_id) with overlap
-- on ranges: the basis of "no double booking" and "no overlapping schedule".
CREATE EXTENSION IF NOT EXISTS btree_gist;
