"""The simulation (standard library only): a discrete-event kernel on a virtual clock, seeded
distributions and workers, the engine (the world that outlives a crash) and its controller (the
handlers that drive a real :class:`~simqueue.core.queue.DurableQueue` through dispatch, timeouts,
retries and snapshots), the trace, the invariant checker, queueing theory to compare against, the
run summary, and :class:`~simqueue.sim.simulation.Simulation`, the facade."""
