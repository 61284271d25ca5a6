"""The concurrency stress: many threads on one ``DurableQueue`` (:mod:`.threads`), many client
processes and threads against a ``simqueue run`` child killed with SIGKILL (:mod:`.server`,
:mod:`.client`), every acknowledgement checked against an independent decoder of the files
(:mod:`.decode`). ``python -m simqueue.testing.stress`` (:mod:`.cli`) runs it at scale."""

from simqueue.testing.stress.decode import Decoded, audit, decode_dir
from simqueue.testing.stress.threads import ThreadRun, check_acks, read_acks, run_threads

__all__ = ["Decoded", "ThreadRun", "audit", "check_acks", "decode_dir", "read_acks", "run_threads"]
