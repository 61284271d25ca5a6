"""Why a durable-queue headline missed its target: the sync calls against the disk's limit, the
sync itself against SQLite's, or the Python work per operation once the fsync is shared."""

from __future__ import annotations

from typing import Any

from .templates import fill, sentences


def _t(fragment: str, **values: Any) -> str:
    return fill("missed", fragment, **values)


def _queue_row(q: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    return next((r for r in q.get("rows", []) if r["system"].startswith(prefix)), None)


def _disk(q: dict[str, Any]) -> str:
    """The bare append and overwrite sync rates of this disk (empty if either is missing)."""
    bare = _queue_row(q, "bare append+fsync")
    over = _queue_row(q, "bare overwrite+fdatasync")
    if not (bare and over):
        return ""
    ratio = over["per_s"] / bare["per_s"]
    return _t("queue-disk", bare=bare["per_s"], overwrite=over["per_s"], ratio=ratio)


def _fsync_pct(q: dict[str, Any], policy: str) -> float:
    p = (q.get("profiles") or {}).get(policy) or {}
    return 100 * float(p.get("fsync_share", 0))


def _why_ceiling(q: dict[str, Any]) -> str:
    ceiling = _t("queue-ceiling", fsync_pct=_fsync_pct(q, "always"))
    return sentences(ceiling, _disk(q), _t("queue-ceiling-fix"))


def _why_autocommit(q: dict[str, Any]) -> str:
    sq = _queue_row(q, 'simqueue fsync="always"')
    lite = _queue_row(q, "sqlite3 table, autocommit")
    per_job = ""
    if sq and lite:
        per_job = _t(
            "queue-autocommit-per-job", simqueue_us=sq["us_each"], sqlite_us=lite["us_each"]
        )
    sync = _t("queue-autocommit", fsync_pct=_fsync_pct(q, "always"))
    return sentences(per_job, sync, _disk(q), _t("queue-autocommit-fix"))


def _batch_per_job(q: dict[str, Any], group: str) -> str:
    """simqueue's and the sqlite3 table's time per job in the same batch, and simqueue without
    any fsync: how much of it is the shared fsync."""
    sq = _queue_row(q, f'simqueue fsync="batch", {group} ') if group else None
    lite = _queue_row(q, f"sqlite3 table, 1 txn per {group} ") if group else None
    if not (sq and lite):
        return ""
    per_job = _t("queue-batch-per-job", simqueue_us=sq["us_each"], sqlite_us=lite["us_each"])
    never = _queue_row(q, 'simqueue fsync="never"')
    if not never:
        return per_job
    extra = sq["us_each"] - never["us_each"]
    if extra > 1.0:
        return sentences(
            per_job, _t("queue-batch-never", never_us=never["us_each"], extra_us=extra)
        )
    return sentences(per_job, _t("queue-batch-never-free", never_us=never["us_each"]))


def _why_batch(q: dict[str, Any], measure: str) -> str:
    group = "".join(ch for ch in measure.split("batch", 1)[-1].split("jobs")[0] if ch.isdigit())
    p = (q.get("profiles") or {}).get("batch") or {}
    profile = _t(
        "queue-batch-profile",
        jobs=p.get("jobs", 0),
        group_jobs=q.get("group_jobs", 100),
        fsync_pct=_fsync_pct(q, "batch"),
    )
    names = [r["function"].split(" (")[0] for r in p.get("rows", [])]
    top = ", ".join([n for n in names if "posix.fsync" not in n][:6])
    return sentences(
        _batch_per_job(q, group),
        profile,
        _t("queue-batch-top", top=top) if top else "",
        _t("queue-batch-fix"),
    )


def why_queue(doc: dict[str, Any], measure: str) -> str:
    q = doc.get("queue") or {}
    if "fsync rate" in measure:
        return _why_ceiling(q)
    if "autocommit" in measure:
        return _why_autocommit(q)
    return _why_batch(q, measure)
