-- The trace context (W3C traceparent) of the span that enqueued a job, when the services export
-- OpenTelemetry traces: the worker's span for the job continues that trace. NULL otherwise.
ALTER TABLE jobs ADD COLUMN traceparent text CHECK (length(traceparent) <= 128);
