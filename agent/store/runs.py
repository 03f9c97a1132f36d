"""Runs and their LLM calls: recorded before a graph starts, so a crash still leaves a trace."""

from __future__ import annotations

import os
import socket
import uuid

import sqlalchemy as sa

from agent.models import LLMCall, Run, RunStatus, utcnow
from agent.store.errors import NotFound
from agent.store.schema import llm_calls, runs, topic_locks

# A deferred run (out of night budget, or drained by SIGTERM) or an interrupted one (its
# process died or was stopped) is resumed from its checkpoint.
UNFINISHED = (RunStatus.admitted.value, RunStatus.running.value, RunStatus.deferred.value,
              RunStatus.interrupted.value)
INTERRUPTED = ("the process running it stopped before it ended (killed or interrupted); "
               "the next refresh continues it from its checkpoint")


_INSERT_CALL = sa.insert(llm_calls)
_ADD_TO_RUN = sa.update(runs).where(runs.c.id == sa.bindparam("b_run")).values(
    input_tokens=runs.c.input_tokens + sa.bindparam("b_input", type_=sa.Integer),
    output_tokens=runs.c.output_tokens + sa.bindparam("b_output", type_=sa.Integer),
    cached_tokens=runs.c.cached_tokens + sa.bindparam("b_cached", type_=sa.Integer),
    cost=runs.c.cost + sa.bindparam("b_cost", type_=sa.Float))


_RUN = sa.select(runs).where(runs.c.id == sa.bindparam("b_id"))
_LATEST_UNFINISHED = (sa.select(runs).where(runs.c.topic == sa.bindparam("b_topic"),
                                            runs.c.kind == sa.bindparam("b_kind"),
                                            runs.c.status.in_(UNFINISHED))
                      .order_by(runs.c.id.desc()).limit(1))


def holder_is_dead(holder: str) -> bool:
    """A lock holder `host:pid:...` of this host whose process is gone."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's holder: only its lock's expiry tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _run(row: sa.Row) -> Run:
    return Run(id=row.id, kind=row.kind, topic=row.topic, status=RunStatus(row.status),
               thread_id=row.thread_id, started_at=row.started_at, finished_at=row.finished_at,
               input_tokens=row.input_tokens, output_tokens=row.output_tokens, cost=row.cost,
               error_category=row.error_category, error=row.error, proposal_id=row.proposal_id)


class RunRepo:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self, kind: str, topic: str, options: dict | None = None,
               status: RunStatus = RunStatus.admitted) -> Run:
        with self.engine.begin() as conn:  # the new row comes back whole: no second read
            row = conn.execute(sa.insert(runs).values(
                kind=kind, topic=topic, status=status.value, thread_id=f"{kind}-{uuid.uuid4().hex}",
                options=options or {}, started_at=utcnow()).returning(*runs.c)).one()
        return _run(row)

    def get(self, run_id: int) -> Run:
        with self.engine.connect() as conn:
            row = conn.execute(_RUN, {"b_id": run_id}).one_or_none()
        if row is None:
            raise NotFound(f"no run {run_id} (see `absorb runs`)")
        return _run(row)

    def options(self, run_id: int) -> dict:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(runs.c.options).where(runs.c.id == run_id)).scalar_one() or {}

    def reap(self, topic: str | None = None) -> list[int]:
        """Runs found `running` while no live process holds their topic's lock end
        `interrupted` (resumable): a killed process cannot say so itself."""
        query = sa.select(runs.c.id, runs.c.topic).where(runs.c.status == RunStatus.running.value)
        if topic is not None:
            query = query.where(runs.c.topic == topic)
        with self.engine.connect() as conn:
            running = conn.execute(query).all()
            if not running:
                return []
            locks = {r.topic: r for r in conn.execute(sa.select(topic_locks).where(
                topic_locks.c.topic.in_({r.topic for r in running})))}
        now = utcnow()
        orphans = [r.id for r in running if r.topic not in locks
                   or _expired(locks[r.topic].expires_at, now) or holder_is_dead(locks[r.topic].holder)]
        if orphans:
            with self.engine.begin() as conn:
                conn.execute(sa.update(runs).where(runs.c.id.in_(orphans),
                                                   runs.c.status == RunStatus.running.value)
                             .values(status=RunStatus.interrupted.value,
                                     error_category="interrupted", error=INTERRUPTED))
        return orphans

    def latest_unfinished(self, topic: str, kind: str) -> Run | None:
        with self.engine.connect() as conn:
            row = conn.execute(_LATEST_UNFINISHED, {"b_topic": topic, "b_kind": kind}).one_or_none()
        return None if row is None else _run(row)

    def unfinished_topics(self, kind: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(runs.c.topic).distinct().where(
                runs.c.kind == kind, runs.c.status.in_(UNFINISHED))).scalars())

    def list(self, *, topic: str | None = None, limit: int = 200) -> list[Run]:
        self.reap(topic)
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if topic:
            query = query.where(runs.c.topic == topic)
        with self.engine.connect() as conn:
            return [_run(r) for r in conn.execute(query)]

    def update(self, run_id: int, *, status: RunStatus | None = None, finished: bool = False,
               **fields: object) -> Run | None:
        """Set the fields; returns the run as updated (from UPDATE ... RETURNING), None when
        there is no such run."""
        values = dict(fields)
        if values.get("error"):  # a provider error may echo the API key: never store it
            from agent.redact import scrub

            values["error"] = scrub(str(values["error"]))
        if status is not None:
            values["status"] = status.value
        if finished:
            values["finished_at"] = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(sa.update(runs).where(runs.c.id == run_id).values(**values)
                               .returning(*runs.c)).one_or_none()
        return None if row is None else _run(row)

    # -- LLM calls: this repo is the CallRecorder the LLM layer writes to -------------------

    def record(self, call: LLMCall) -> None:
        # Statements built once with bound parameters: building `insert().values(...)` and
        # the `+` expressions per call (and SQLAlchemy's cache key of each new statement)
        # cost ~1 ms of CPU per model call, three times the insert and update themselves.
        with self.engine.begin() as conn:
            conn.execute(_INSERT_CALL, {**call.model_dump(), "created_at": utcnow()})
            if call.run_id is not None:
                conn.execute(_ADD_TO_RUN, {"b_run": call.run_id, "b_input": call.input_tokens,
                                           "b_output": call.output_tokens,
                                           "b_cached": call.cached_tokens, "b_cost": call.cost})

    def usage(self, run_id: int | None = None) -> list[dict]:
        """Calls, tokens, cost and latency summed per (topic, node, section, model), by the
        database: a year of nightly batches is some 200,000 calls, which `absorb usage` read one
        by one (3.2 s for 216,000). Sorted as the command shows them; a call without a run has
        topic "", one without a section ""."""
        topic = sa.func.coalesce(runs.c.topic, "")
        section = sa.func.coalesce(llm_calls.c.section, "")
        query = (sa.select(topic.label("topic"), llm_calls.c.node, section.label("section"),
                           llm_calls.c.model, sa.func.count().label("calls"),
                           sa.func.sum(llm_calls.c.input_tokens).label("input_tokens"),
                           sa.func.sum(llm_calls.c.output_tokens).label("output_tokens"),
                           sa.func.sum(llm_calls.c.cached_tokens).label("cached_tokens"),
                           sa.func.sum(llm_calls.c.cost).label("cost"),
                           sa.func.sum(llm_calls.c.latency_ms).label("latency_ms"))
                 .select_from(llm_calls.outerjoin(runs, runs.c.id == llm_calls.c.run_id))
                 .group_by(topic, llm_calls.c.node, section, llm_calls.c.model))
        if run_id is not None:
            query = query.where(llm_calls.c.run_id == run_id)
        with self.engine.connect() as conn:
            found = [{"topic": r.topic, "node": r.node, "section": r.section, "model": r.model,
                      "calls": int(r.calls), "input_tokens": int(r.input_tokens or 0),
                      "output_tokens": int(r.output_tokens or 0),
                      "cached_tokens": int(r.cached_tokens or 0), "cost": float(r.cost or 0.0),
                      "latency_ms": float(r.latency_ms or 0.0)} for r in conn.execute(query)]
        return sorted(found, key=lambda g: (g["topic"], g["node"], g["section"], g["model"]))

    def calls(self, run_id: int | None = None) -> list[LLMCall]:
        query = sa.select(llm_calls).order_by(llm_calls.c.id)
        if run_id is not None:
            query = query.where(llm_calls.c.run_id == run_id)
        fields = LLMCall.model_fields
        with self.engine.connect() as conn:
            return [LLMCall(**{k: getattr(r, k) for k in fields}) for r in conn.execute(query)]

    # -- topic locks: two batches never refresh one topic at once ---------------------------

    def lock_topic(self, topic: str, holder: str, ttl_seconds: float = 3600) -> bool:
        from datetime import timedelta

        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(topic_locks).where(topic_locks.c.topic == topic,
                                                      topic_locks.c.expires_at < now))
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(topic_locks).values(
                        topic=topic, holder=holder, acquired_at=now,
                        expires_at=now + timedelta(seconds=ttl_seconds)))
            except sa.exc.IntegrityError:
                held = conn.execute(sa.select(topic_locks.c.holder)
                                    .where(topic_locks.c.topic == topic)).scalar_one_or_none()
                return held == holder
        return True

    def unlock_topic(self, topic: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(topic_locks).where(topic_locks.c.topic == topic,
                                                      topic_locks.c.holder == holder))

    def renew_topic_lock(self, topic: str, holder: str, ttl_seconds: float) -> bool:
        """Push the expiry of a lock this holder still has; False if it was lost."""
        from datetime import timedelta

        with self.engine.begin() as conn:
            moved = conn.execute(sa.update(topic_locks).where(
                topic_locks.c.topic == topic, topic_locks.c.holder == holder).values(
                expires_at=utcnow() + timedelta(seconds=ttl_seconds))).rowcount
        return moved > 0

    def topic_lock_holder(self, topic: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(topic_locks.c.holder)
                                .where(topic_locks.c.topic == topic)).scalar_one_or_none()

    def break_topic_lock(self, topic: str, holder: str) -> bool:
        """Remove a dead holder's lock; only if that holder still has it (compare and delete)."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(topic_locks).where(
                topic_locks.c.topic == topic, topic_locks.c.holder == holder)).rowcount > 0


def _expired(expires_at, now) -> bool:
    if expires_at.tzinfo is None:  # SQLite gives naive datetimes back
        now = now.replace(tzinfo=None)
    return expires_at < now
