-- The id of the request (or Telegram update) that enqueued a job, so the worker's log lines for
-- it can be found by the same id as the request's. NULL for jobs enqueued outside a request.
ALTER TABLE jobs ADD COLUMN request_id text CHECK (length(request_id) <= 128);
