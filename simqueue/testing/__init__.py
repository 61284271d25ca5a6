"""Tools that try to break the queue: fault injection, the crash-consistency campaign over every
recorded I/O operation, and the kill -9 loop of real servers."""
