"""The run's store: one SQLite file (WAL) per run, written by the main process only.

Every trial, every epoch record, every per-layer statistic and every verdict is kept, with
times in seconds since the run started (resumed runs continue that clock). Reports, compare,
replay and resume read only this file.

``layer_stats.stats`` is a JSON list: the ``history.STAT_NAMES`` in order for weights and
gradients (the inactive ratio alone for activations). Statistics are only ever appended to
that list, so a store written by an older version has shorter rows: they read as NaN for the
statistics it did not record (``update_ratio`` before it existed).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from bttackler.core.errors import BttacklerError
from bttackler.core.history import STAT_NAMES
from bttackler.core.trial_state import TrialState

# The store's layout and meaning, written to ``meta`` as ``schema`` and checked on every open.
# 2: an NMG-terminated trial's ``value`` is its last objective (schema 1 stores, from before
# the count rule, could hold its best there): the writer migrates a schema-1 store when it
# opens it (``--resume``), a reader corrects its rows as it reads them. A store of a newer
# schema is refused with a clear error.
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, started_wall REAL NOT NULL, clock_offset REAL NOT NULL,
    ended_wall REAL, status TEXT NOT NULL DEFAULT 'running');
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY, params TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,
    value REAL, best_value REAL, epochs INTEGER NOT NULL DEFAULT 0, slot INTEGER,
    started REAL, ended REAL, indicator TEXT, rule TEXT, verdict_epoch INTEGER,
    retry_of INTEGER, session INTEGER);
CREATE TABLE IF NOT EXISTS epochs (
    trial_id INTEGER NOT NULL, epoch INTEGER NOT NULL, time REAL NOT NULL, metrics TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS epochs_by_trial ON epochs (trial_id);
CREATE TABLE IF NOT EXISTS layer_stats (
    trial_id INTEGER NOT NULL, epoch INTEGER NOT NULL, kind TEXT NOT NULL,
    layer_index INTEGER NOT NULL, layer_name TEXT NOT NULL, stats TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS layer_stats_by_trial ON layer_stats (trial_id);
CREATE TABLE IF NOT EXISTS nonfinite (
    trial_id INTEGER NOT NULL, epoch INTEGER NOT NULL, batch INTEGER NOT NULL,
    layer TEXT NOT NULL, nan_count REAL NOT NULL, inf_count REAL NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS early (
    trial_id INTEGER NOT NULL, epoch INTEGER NOT NULL, layer_index INTEGER NOT NULL,
    layer TEXT NOT NULL, evidence TEXT NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
    trial_id INTEGER NOT NULL, epoch INTEGER NOT NULL, indicator TEXT NOT NULL,
    rule TEXT NOT NULL, trigger_values TEXT NOT NULL, benign INTEGER NOT NULL,
    acted INTEGER NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rule_errors (
    trial_id INTEGER NOT NULL, rule TEXT NOT NULL, error TEXT NOT NULL, time REAL NOT NULL);
"""


@dataclass(frozen=True)
class TrialRow:
    id: int
    params: dict[str, Any]
    state: str
    reason: str | None
    value: float | None
    best_value: float | None
    epochs: int
    slot: int | None
    started: float | None
    ended: float | None
    indicator: str | None
    rule: str | None
    verdict_epoch: int | None
    retry_of: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "params": self.params,
            "state": self.state,
            "reason": self.reason,
            "value": _json_float(self.value),
            "best_value": _json_float(self.best_value),
            "epochs": self.epochs,
            "slot": self.slot,
            "started": self.started,
            "ended": self.ended,
            "duration": None
            if self.started is None or self.ended is None
            else round(self.ended - self.started, 3),
            "indicator": self.indicator,
            "rule": self.rule,
            "verdict_epoch": self.verdict_epoch,
            "retry_of": self.retry_of,
        }


class EpochRow(NamedTuple):
    epoch: int
    time: float
    metrics: dict[str, float]


class LayerStatRow(NamedTuple):
    epoch: int
    kind: str  # "weight", "grad" or "activation"
    layer_index: int
    layer_name: str
    stats: list[float]  # history.STAT_NAMES in order (the inactive ratio for activations)


class NonFiniteRow(NamedTuple):
    epoch: int
    batch: int
    layer: str
    nan_count: float
    inf_count: float
    time: float


class EarlyRow(NamedTuple):
    epoch: int
    layer_index: int
    layer: str
    values: list[float]  # EarlyEvidence.to_values order
    time: float


class SessionRow(NamedTuple):
    id: int
    started_wall: float
    ended_wall: float | None
    status: str


def _json_float(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _full_row(kind: str, values: list[float]) -> list[float]:
    """A weight/gradient row padded with NaN to every statistic (older stores have fewer)."""
    if kind == "activation" or len(values) >= len(STAT_NAMES):
        return values
    return values + [math.nan] * (len(STAT_NAMES) - len(values))


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class StoreReader:
    """What every reader of a run's store asks: meta, trials, their records, verdicts.

    :class:`Store` (the run's one writer) and :class:`ReadOnlyStore` (every other reader)
    share these queries; only the writer has the methods that write."""

    FILENAME = "experiment.db"
    _db: sqlite3.Connection
    path: Path

    def _check_schema(self) -> int:
        """The store's schema (1 for a store that never wrote one); a newer one than this
        bttackler knows is refused."""
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        schema = 1 if row is None else int(json.loads(row[0]))
        if schema > SCHEMA_VERSION:
            raise BttacklerError(
                f"{self.path.parent} was written by a newer bttackler (store schema {schema}; "
                f"this one reads up to {SCHEMA_VERSION}): upgrade bttackler to read it"
            )
        return schema

    def _last_objectives(self, trial_ids: Sequence[int]) -> dict[int, float | None]:
        """Each trial's last reported value of the run's objective (None if it reported none,
        or NaN, which SQLite stores as NULL)."""
        objective = self.meta().get("objective")
        out: dict[int, float | None] = {}
        for trial_id in trial_ids:
            for record in self.epochs(trial_id):
                value = record.metrics.get(objective) if objective else None
                if value is not None:
                    out[trial_id] = None if math.isnan(value) else float(value)
        return out

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def latest_time(self) -> float:
        """The latest run-clock time recorded anywhere (the clock of a resumed run goes on
        from here: the heartbeat in ``meta`` may lag by up to a second)."""
        row = self._db.execute(
            "SELECT MAX(t) FROM (SELECT MAX(started) AS t FROM trials "
            "UNION ALL SELECT MAX(ended) FROM trials UNION ALL SELECT MAX(time) FROM epochs)"
        ).fetchone()
        return float(row[0] or 0.0)

    def trials(self, state: TrialState | None = None) -> list[TrialRow]:
        query = (
            "SELECT id, params, state, reason, value, best_value, epochs, slot, started, ended, "
            "indicator, rule, verdict_epoch, retry_of FROM trials"
        )
        args: tuple[Any, ...] = ()
        if state is not None:
            query += " WHERE state=?"
            args = (state.value,)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [TrialRow(r[0], json.loads(r[1]), *r[2:]) for r in rows]

    def epochs(self, trial_id: int) -> list[EpochRow]:
        rows = self._db.execute(
            "SELECT epoch, time, metrics FROM epochs WHERE trial_id=? ORDER BY rowid", (trial_id,)
        )
        return [EpochRow(e, t, json.loads(m)) for e, t, m in rows]

    def layer_stats(self, trial_id: int) -> list[LayerStatRow]:
        rows = self._db.execute(
            "SELECT epoch, kind, layer_index, layer_name, stats FROM layer_stats "
            "WHERE trial_id=? ORDER BY rowid",
            (trial_id,),
        )
        return [LayerStatRow(e, k, i, n, _full_row(k, json.loads(s))) for e, k, i, n, s in rows]

    def rule_errors(self) -> dict[int, list[dict[str, str]]]:
        """Per trial, the rules that raised on it (first error of each), oldest first; empty
        for a store written before they were kept."""
        try:
            rows = self._db.execute(
                "SELECT trial_id, rule, error FROM rule_errors ORDER BY rowid"
            ).fetchall()
        except sqlite3.OperationalError:  # an older store opened read-only: no such table
            return {}
        out: dict[int, list[dict[str, str]]] = {}
        for trial_id, rule, error in rows:  # one row per rule and trial (the recorder's rule)
            out.setdefault(int(trial_id), []).append({"rule": rule, "error": error})
        return out

    def verdicts(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT trial_id, epoch, indicator, rule, trigger_values, benign, acted, time "
            "FROM verdicts ORDER BY rowid"
        )
        return [
            {"trial_id": t, "epoch": e, "indicator": i, "rule": r, "values": json.loads(v),
             "benign": bool(b), "acted": bool(a), "time": tm}
            for t, e, i, r, v, b, a, tm in rows
        ]  # fmt: skip

    def early_events(self, trial_id: int) -> list[EarlyRow]:
        """The probe's provisional records from inside epoch 1 (one per trial at most). A
        store written before they existed has none."""
        try:
            rows = self._db.execute(
                "SELECT epoch, layer_index, layer, evidence, time FROM early WHERE trial_id=? "
                "ORDER BY rowid",
                (trial_id,),
            ).fetchall()
        except sqlite3.OperationalError:  # an older store opened read-only: no such table
            return []
        return [EarlyRow(e, i, n, [float(v) for v in json.loads(ev)], t) for e, i, n, ev, t in rows]

    def nonfinite_events(self, trial_id: int) -> list[NonFiniteRow]:
        """The non-finite values the probe saw in ``trial_id``, oldest first."""
        rows = self._db.execute(
            "SELECT epoch, batch, layer, nan_count, inf_count, time FROM nonfinite "
            "WHERE trial_id=? ORDER BY rowid",
            (trial_id,),
        )
        return [NonFiniteRow(*r) for r in rows]


class Store(StoreReader):
    """A run's SQLite store, opened for writing (it creates a new one). Not thread-safe: only
    the main thread of the run writes. An older store is migrated to :data:`SCHEMA_VERSION`
    when opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.execute("BEGIN")
        self.session_id: int | None = None
        try:
            self._migrate()
        except BttacklerError:
            self.close()
            raise

    @classmethod
    def open(cls, run_dir: Path) -> Store:
        return cls(run_dir / cls.FILENAME)

    def _migrate(self) -> None:
        """A new store gets the current schema; a schema-1 store's NMG values are corrected
        (module docstring of :data:`SCHEMA_VERSION`); a newer store is refused."""
        fresh = self._db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0
        schema = SCHEMA_VERSION if fresh else self._check_schema()
        if schema < 2:
            nmg = [r[0] for r in self._db.execute("SELECT id FROM trials WHERE indicator='NMG'")]
            self._db.executemany(
                "UPDATE trials SET value=? WHERE id=?",
                [(v, i) for i, v in self._last_objectives(nmg).items()],
            )
        self.set_meta(schema=SCHEMA_VERSION)
        self.commit()

    # -- transactions: the scheduler commits once per loop turn
    def commit(self) -> None:
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def close(self) -> None:
        try:
            self._db.execute("COMMIT")
        except sqlite3.OperationalError:
            pass
        self._db.close()

    # -- meta
    def set_meta(self, **values: Any) -> None:
        self._db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            [(k, _dumps(v)) for k, v in values.items()],
        )

    # -- sessions (a run resumed N times has N+1 sessions)
    def begin_session(self, clock_offset: float) -> int:
        cur = self._db.execute(
            "INSERT INTO sessions(started_wall, clock_offset) VALUES (?, ?)",
            (time.time(), clock_offset),
        )
        self.session_id = int(cur.lastrowid or 0)
        return self.session_id

    def end_session(self, status: str) -> None:
        self._db.execute(
            "UPDATE sessions SET ended_wall=?, status=? WHERE id=?",
            (time.time(), status, self.session_id),
        )

    # -- trials
    def add_trial(
        self, params: Mapping[str, Any], slot: int, started: float, retry_of: int | None = None
    ) -> int:
        cur = self._db.execute(
            "INSERT INTO trials(params, state, slot, started, retry_of, session) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (_dumps(dict(params)), TrialState.RUNNING.value, slot, started, retry_of,
             self.session_id),
        )  # fmt: skip
        return int(cur.lastrowid or 0)

    def add_skipped(self, params: Mapping[str, Any], reason: str, when: float) -> int:
        """A configuration ``--avoid-bad`` skipped: a final row, no slot, no epochs."""
        cur = self._db.execute(
            "INSERT INTO trials(params, state, reason, started, ended, session) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (_dumps(dict(params)), TrialState.SKIPPED.value, reason, when, when, self.session_id),
        )
        return int(cur.lastrowid or 0)

    def update_progress(self, trial_id: int, epochs: int, value: float | None,
                        best_value: float | None) -> None:  # fmt: skip
        self._db.execute(
            "UPDATE trials SET epochs=?, value=?, best_value=? WHERE id=?",
            (epochs, value, best_value, trial_id),
        )

    def end_trial(self, trial_id: int, state: TrialState, reason: str | None, ended: float) -> None:
        self._db.execute(
            "UPDATE trials SET state=?, reason=?, ended=? WHERE id=?",
            (state.value, reason, ended, trial_id),
        )

    def set_verdict(self, trial_id: int, indicator: str, rule: str, epoch: int) -> None:
        self._db.execute(
            "UPDATE trials SET indicator=?, rule=?, verdict_epoch=? WHERE id=?",
            (indicator, rule, epoch, trial_id),
        )

    def mark_unfinished(self, reason: str) -> list[TrialRow]:
        """Mark trials left RUNNING by a dead process as INTERRUPTED; returns them."""
        rows = self.trials(state=TrialState.RUNNING)
        self._db.execute(
            "UPDATE trials SET state=?, reason=? WHERE state=?",
            (TrialState.INTERRUPTED.value, reason, TrialState.RUNNING.value),
        )
        return rows

    # -- records
    def add_epoch(self, trial_id: int, epoch: int, time_: float,
                  metrics: Mapping[str, float]) -> None:  # fmt: skip
        self._db.execute(
            "INSERT INTO epochs(trial_id, epoch, time, metrics) VALUES (?, ?, ?, ?)",
            (trial_id, epoch, time_, _dumps(dict(metrics))),
        )

    def add_layer_stats(
        self, trial_id: int, epoch: int, rows: Iterable[tuple[str, int, str, Sequence[float]]]
    ) -> None:
        self._db.executemany(
            "INSERT INTO layer_stats(trial_id, epoch, kind, layer_index, layer_name, stats) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(trial_id, epoch, k, i, n, json.dumps(list(v))) for k, i, n, v in rows],
        )

    def add_nonfinite(self, trial_id: int, epoch: int, batch: int, layer: str,
                      nan_count: float, inf_count: float, time_: float) -> None:  # fmt: skip
        self._db.execute(
            "INSERT INTO nonfinite VALUES (?, ?, ?, ?, ?, ?, ?)",
            (trial_id, epoch, batch, layer, nan_count, inf_count, time_),
        )

    def add_early(self, trial_id: int, epoch: int, layer_index: int, layer: str,
                  values: Sequence[float], time_: float) -> None:  # fmt: skip
        self._db.execute(
            "INSERT INTO early VALUES (?, ?, ?, ?, ?, ?)",
            (trial_id, epoch, layer_index, layer, json.dumps([float(v) for v in values]), time_),
        )

    def add_verdict(self, trial_id: int, epoch: int, indicator: str, rule: str,
                    values: Mapping[str, float], benign: bool, acted: bool,
                    time_: float) -> None:  # fmt: skip
        self._db.execute(
            "INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (trial_id, epoch, indicator, rule, _dumps(dict(values)), int(benign), int(acted),
             time_),
        )  # fmt: skip

    def add_rule_error(self, trial_id: int, rule: str, error: str, time_: float) -> None:
        """A rule (an indicator, an ETR rule) or the monitor raised judging ``trial_id``."""
        self._db.execute("INSERT INTO rule_errors VALUES (?, ?, ?, ?)",
                         (trial_id, rule, error, time_))  # fmt: skip


class ReadOnlyStore(StoreReader):
    """A run's store opened read-only (``mode=ro``): every reader (trials, report, compare,
    replay, pools, the dashboard) uses it, and may read a store that a running search is
    writing. It has no method that writes, runs no DDL and sets no pragma.

    SQLite itself refuses every write on this connection. In WAL mode (every store bttackler
    writes) a reader never blocks the writer, nor the writer the reader; a store in rollback
    mode (a copy, an old file) is read in short transactions, and a reader that finds it locked
    waits at most ``busy_timeout`` seconds, then gets :class:`sqlite3.OperationalError`.
    Keep each :meth:`snapshot` short: a long read transaction keeps the WAL from being
    checkpointed (and, in rollback mode, delays the writer's commit). A schema-1 store's rows
    are corrected as they are read (see :data:`SCHEMA_VERSION`).
    """

    def __init__(self, path: Path, busy_timeout: float = 2.0) -> None:  # noqa: D107
        self.path = path
        if not path.is_file():
            raise BttacklerError(f"{path.parent} is not a bttackler run (no {self.FILENAME})")
        self._db = sqlite3.connect(
            f"{path.resolve().as_uri()}?{self._uri_mode(path)}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=busy_timeout,
        )
        try:
            names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise BttacklerError(f"{path} cannot be read: {exc}") from exc
        if not {"meta", "trials", "epochs", "layer_stats"} <= names:
            self._db.close()
            raise BttacklerError(f"{path.parent} is not a bttackler run (no tables in {path.name})")
        try:
            self.schema = self._check_schema()
        except BttacklerError:
            self._db.close()
            raise

    @staticmethod
    def _uri_mode(path: Path) -> str:
        """``mode=ro``, or ``immutable=1`` for a WAL store that no process has open.

        A WAL-mode file (header bytes 18-19 are 2) without its ``-wal`` file is not being
        written (a writer keeps the ``-wal`` file while it has the store open). Opened
        ``mode=ro`` it would get ``-wal``/``-shm`` files created beside it that a read-only
        connection cannot remove; ``immutable=1`` reads it without them. A writer that
        starts meanwhile (``--resume``) is seen by the next open, which uses ``mode=ro``.
        """
        with open(path, "rb") as fh:
            header = fh.read(20)
        wal = len(header) == 20 and header[18] == 2 and header[19] == 2
        if wal and not Path(f"{path}-wal").exists():
            return "immutable=1"
        return "mode=ro"

    @classmethod
    def open(cls, run_dir: Path) -> ReadOnlyStore:
        return cls(run_dir / cls.FILENAME)

    def trials(self, state: TrialState | None = None) -> list[TrialRow]:
        rows = super().trials(state)
        if self.schema >= 2:
            return rows
        nmg = [r.id for r in rows if r.indicator == "NMG"]
        last = self._last_objectives(nmg)
        return [replace(r, value=last[r.id]) if r.id in last else r for r in rows]

    @contextmanager
    def snapshot(self) -> Iterator[ReadOnlyStore]:
        """One read transaction: every query inside sees the same committed state."""
        self._db.execute("BEGIN")
        try:
            yield self
        finally:
            self._db.execute("COMMIT")

    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def sessions(self) -> list[SessionRow]:
        """Every session, oldest first (a run resumed N times has N+1)."""
        rows = self._db.execute(
            "SELECT id, started_wall, ended_wall, status FROM sessions ORDER BY id"
        )
        return [SessionRow(*r) for r in rows]

    def close(self) -> None:
        self._db.close()
