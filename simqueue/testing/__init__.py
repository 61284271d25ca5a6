"""Tools that try to break the queue: fault injection, the crash-consistency campaign over every
recorded I/O operation, the kill -9 loop of real servers, the concurrency stress, and the
grader that runs a learner's code through the campaign (``grading``)."""
