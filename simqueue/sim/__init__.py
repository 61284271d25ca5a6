"""The simulation (standard library only): a discrete-event kernel on a virtual clock, seeded
distributions and workers, the engine that drives a real :class:`~simqueue.core.queue.DurableQueue`
through dispatch, timeouts, retries, snapshots and crashes, its trace, the invariant checker,
queueing theory to compare against, and :class:`~simqueue.sim.simulation.Simulation`, the facade."""
