"""The durable job server on the wall clock: the same core queue with worker threads, its loops,
the HTTP API and its client, the job-file format and Prometheus metrics."""
