"""The durable core (standard library only): the job state machine, the clock, the storage layer
(real files with fsync, or a modeled disk that can lose power), the write-ahead log, snapshots,
commit policies, recovery and :class:`~simqueue.core.queue.DurableQueue`, which ties them together.

Nothing here imports another simqueue layer; everything else builds on it."""
