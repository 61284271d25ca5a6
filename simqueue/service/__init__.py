"""The durable job server on the wall clock: the same core queue with worker threads, its loops,
the HTTP API and its client, the job-file format and Prometheus metrics.

``server`` (:class:`~simqueue.service.server.Server`: start, stop, the API's operations) runs
``loops`` (worker, timeout, snapshot and commit threads) over ``shared`` (the queue behind one
lock); ``work`` is what a worker does with a job; ``http_api`` answers requests, reading and
writing them with ``http11`` (the little HTTP/1.1 it speaks); ``jobfile``
parses job lists; ``network`` holds addresses, limits and ``server.json``; ``client`` talks to a
running server."""
