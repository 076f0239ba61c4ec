"""One spend ledger and one budget for every LLM call of the project.

Why a sqlite file beside the response cache and not a counter in the client:
`llm.client.budget_usd` is a promise about money, and money is spent by many
clients (teacher, responder, judge), in several stages, in separate processes
(`dvc repro` runs stages one after another, a user may run two at once). Each
paid reply is one row; the cap applies to the sum of all rows plus the
worst-case cost of requests still in flight (reservations), so two processes
sharing the file can never together overshoot the cap by more than what their
in-flight requests actually cost beyond their estimate.

Every write is one `BEGIN IMMEDIATE` transaction: the check "spent + reserved +
this <= cap" and the insert of the reservation happen under sqlite's write
lock, so concurrent processes see each other's reservations.

The total stays until the user resets it or raises the cap:

    python -m medinstruct_core.llm.ledger show  [--cache-dir .cache/llm]
    python -m medinstruct_core.llm.ledger reset [--cache-dir .cache/llm]
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

LEDGER_FILE = "ledger.sqlite"
RESET_HINT = "python -m medinstruct_core.llm.ledger reset"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS spend (id INTEGER PRIMARY KEY, time REAL NOT NULL, "
    "role TEXT NOT NULL, stage TEXT NOT NULL, model TEXT NOT NULL, "
    "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, "
    "usd REAL NOT NULL, batch INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reservations (id INTEGER PRIMARY KEY, usd REAL NOT NULL, "
    "created REAL NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL)",
)


class BudgetExceeded(RuntimeError):
    """Sending one more request could take the ledger total past `llm.client.budget_usd`."""


@dataclass(frozen=True)
class Reservation:
    """The worst-case cost of one request in flight; commit or release it exactly once."""

    id: int
    usd: float


@dataclass(frozen=True)
class SpendRow:
    stage: str
    role: str
    model: str
    replies: int
    prompt_tokens: int
    completion_tokens: int
    usd: float


class Ledger:
    """Paid replies and in-flight reservations in one sqlite file, shared by processes.

    `Ledger(Path(":memory:"), cap)` keeps the same rules inside one process only
    (a client built without a ledger uses that, so its budget still holds).
    """

    def __init__(self, path: Path, budget_usd: float | None = None) -> None:
        self.path = Path(path)
        self.budget_usd = budget_usd
        memory = str(path) == ":memory:"
        if not memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection, used from the loop's thread or a worker
        self._conn = sqlite3.connect(
            ":memory:" if memory else self.path,
            timeout=30.0,
            isolation_level=None,  # we issue BEGIN IMMEDIATE ourselves
            check_same_thread=False,
        )
        if not memory:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._write() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding sqlite's lock from the first read on."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _scalar(self, sql: str, args: Sequence[object] = ()) -> float:
        with self._lock:
            return float(self._conn.execute(sql, tuple(args)).fetchone()[0] or 0.0)

    # -- the budget ------------------------------------------------------------------
    def reserve(self, usd: float) -> Reservation:
        """Hold `usd` for a request about to be sent; raise BudgetExceeded if it could break the cap."""
        with self._write() as conn:
            _drop_dead_reservations(conn)
            spent = float(conn.execute("SELECT COALESCE(SUM(usd), 0) FROM spend").fetchone()[0])
            held = float(
                conn.execute("SELECT COALESCE(SUM(usd), 0) FROM reservations").fetchone()[0]
            )
            cap = self.budget_usd
            if cap is not None and spent + held + usd > cap:
                raise BudgetExceeded(
                    f"LLM budget reached: spent ${spent:.4f} + in flight ${held:.4f} + this "
                    f"request ${usd:.4f} > cap ${cap:.4f} (llm.client.budget_usd, ledger "
                    f"{self.path}); raise the cap or reset the ledger (`{RESET_HINT}`)"
                )
            cursor = conn.execute(
                "INSERT INTO reservations (usd, created, host, pid) VALUES (?, ?, ?, ?)",
                (usd, time.time(), socket.gethostname(), os.getpid()),
            )
        return Reservation(int(cursor.lastrowid or 0), usd)

    def commit(
        self,
        reservation: Reservation,
        *,
        role: str,
        stage: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        usd: float,
        batch: bool = False,
    ) -> None:
        """Record one paid reply at its actual cost and free its reservation, atomically."""
        row = (time.time(), role, stage, model, prompt_tokens, completion_tokens, usd, int(batch))
        with self._write() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            conn.execute(
                "INSERT INTO spend (time, role, stage, model, prompt_tokens, completion_tokens, "
                "usd, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def release(self, reservation: Reservation) -> None:
        """Free a reservation whose request was not paid for (failed, cancelled)."""
        with self._write() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    # -- reading ---------------------------------------------------------------------
    def total_usd(self) -> float:
        return self._scalar("SELECT COALESCE(SUM(usd), 0) FROM spend")

    def stage_usd(self, stage: str) -> float:
        return self._scalar("SELECT COALESCE(SUM(usd), 0) FROM spend WHERE stage = ?", (stage,))

    def reserved_usd(self) -> float:
        return self._scalar("SELECT COALESCE(SUM(usd), 0) FROM reservations")

    def rows(self) -> list[SpendRow]:
        """Spend grouped by stage, role and model (for `show`)."""
        with self._lock:
            found = self._conn.execute(
                "SELECT stage, role, model, COUNT(*), SUM(prompt_tokens), "
                "SUM(completion_tokens), SUM(usd) FROM spend GROUP BY stage, role, model "
                "ORDER BY stage, role, model"
            ).fetchall()
        return [SpendRow(*row) for row in found]

    def reset(self) -> None:
        """Forget all spend and reservations: the budget starts again from zero."""
        with self._write() as conn:
            conn.execute("DELETE FROM spend")
            conn.execute("DELETE FROM reservations")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_dead_reservations(conn: sqlite3.Connection) -> None:
    """Forget reservations of killed processes on this host, or they would hold budget forever."""
    host = socket.gethostname()
    found = conn.execute("SELECT DISTINCT pid FROM reservations WHERE host = ?", (host,))
    for (pid,) in found.fetchall():
        if not _alive(int(pid)):
            conn.execute("DELETE FROM reservations WHERE host = ? AND pid = ?", (host, pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


# -- command line ----------------------------------------------------------------------
def show_text(ledger: Ledger) -> str:
    cap = "none" if ledger.budget_usd is None else f"${ledger.budget_usd:.4f}"
    lines = [f"ledger {ledger.path}: total ${ledger.total_usd():.4f}, in flight "
             f"${ledger.reserved_usd():.4f}, cap {cap}"]  # fmt: skip
    for row in ledger.rows():
        lines.append(
            f"  {row.stage or '-'} / {row.role or '-'} / {row.model}: {row.replies} replies, "
            f"{row.prompt_tokens} in + {row.completion_tokens} out tokens, ${row.usd:.4f}"
        )
    return "\n".join(lines)
