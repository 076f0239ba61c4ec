"""One spend ledger and one budget for every LLM call of the project.

Why a sqlite file beside the response cache and not a counter in the client:
`llm.client.budget_usd` is a promise about money, and money is spent by many
clients (teacher, responder, judge), in several stages, in separate processes
(`dvc repro` runs stages one after another, a user may run two at once). Each
paid synchronous reply is one `spend` row, each Batch API batch one row holding
many answers (its `answers` column); the cap applies to the sum of all rows plus
the worst-case cost of requests still in flight (reservations), so two
processes sharing the file can never together overshoot the cap by more than
what their in-flight requests actually cost beyond their estimate.

Every write is one `BEGIN IMMEDIATE` transaction: the check "spent + reserved +
this <= cap" and the insert of the reservation happen under sqlite's write
lock, so concurrent processes see each other's reservations.

Why a `totals` table: every paid request reads "spent so far" (reserve) and
the stage/total spend (the client's metrics). Summing the `spend` table each
time made a request cost O(rows), so a 50k-reply stage was quadratic (13 ms per
request at 57k rows). `totals` holds one running sum per (stage, batch), and
`commit` updates it in the same transaction that inserts the spend row, so it
is exact under concurrency and after kill -9 (both writes land, or neither).
Reading it costs O(stages), whatever the ledger's size. A ledger written before
`totals` (or before `answers`) is migrated when it is opened.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LEDGER_FILE = "ledger.sqlite"
RESET_HINT = "python -m medinstruct_core.llm.ledger reset"

_SPEND = (
    "CREATE TABLE IF NOT EXISTS spend (id INTEGER PRIMARY KEY, time REAL NOT NULL, "
    "role TEXT NOT NULL, stage TEXT NOT NULL, model TEXT NOT NULL, "
    "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, "
    "usd REAL NOT NULL, batch INTEGER NOT NULL, answers INTEGER NOT NULL DEFAULT 1)"
)
_RESERVATIONS = (
    "CREATE TABLE IF NOT EXISTS reservations (id INTEGER PRIMARY KEY, usd REAL NOT NULL, "
    "created REAL NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL)"
)
_TOTALS = (
    "CREATE TABLE totals (stage TEXT NOT NULL, batch INTEGER NOT NULL, usd REAL NOT NULL, "
    "answers INTEGER NOT NULL, rows INTEGER NOT NULL, PRIMARY KEY (stage, batch))"
)
_REBUILD_TOTALS = (
    "INSERT INTO totals (stage, batch, usd, answers, rows) SELECT stage, batch, SUM(usd), "
    "SUM(answers), COUNT(*) FROM spend GROUP BY stage, batch"
)
_ADD_TO_TOTALS = (
    "INSERT INTO totals (stage, batch, usd, answers, rows) VALUES (?, ?, ?, ?, 1) "
    "ON CONFLICT (stage, batch) DO UPDATE SET usd = usd + excluded.usd, "
    "answers = answers + excluded.answers, rows = rows + 1"
)
_INSERT_SPEND = (
    "INSERT INTO spend (time, role, stage, model, prompt_tokens, completion_tokens, usd, "
    "batch, answers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SPEND_OF = (
    "SELECT COALESCE(SUM(usd), 0), COALESCE(SUM(answers), 0), COALESCE(SUM(rows), 0), "
    "COALESCE(SUM(usd * batch), 0), COALESCE(SUM(answers * batch), 0), "
    "COALESCE(SUM(rows * batch), 0) FROM totals"
)


class BudgetExceeded(RuntimeError):
    """Sending one more request could take the ledger total past `llm.client.budget_usd`."""


@dataclass(frozen=True)
class Reservation:
    """The worst-case cost of one request in flight; commit or release it exactly once."""

    id: int
    usd: float


@dataclass(frozen=True)
class Spend:
    """What was paid (one stage, or all): USD, answers and ledger rows, and the Batch API
    share of each (a batch is one row holding many answers)."""

    usd: float = 0.0
    answers: int = 0
    rows: int = 0
    batch_usd: float = 0.0
    batch_answers: int = 0
    batch_rows: int = 0

    @property
    def sync_usd(self) -> float:
        return self.usd - self.batch_usd

    @property
    def sync_answers(self) -> int:
        return self.answers - self.batch_answers

    def describe(self) -> str:
        """'$1.2345 for 5,210 answers (batch $1.1000 for 5,200 answers in 2 batches)'."""
        text = f"${self.usd:.4f} for {self.answers:,} answers"
        if self.batch_rows:
            text += (f" (batch ${self.batch_usd:.4f} for {self.batch_answers:,} answers in "
                     f"{self.batch_rows:,} batches)")  # fmt: skip
        return text


@dataclass(frozen=True)
class SpendRow:
    """Spend of one (stage, role, model, batch) group, for `show`."""

    stage: str
    role: str
    model: str
    batch: bool
    rows: int  # ledger rows: replies, or batches
    answers: int
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
        self._host, self._pid = socket.gethostname(), os.getpid()
        with self._write() as conn:
            _migrate(conn)
            _drop_dead_reservations(conn, self._host)

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

    # -- the budget ------------------------------------------------------------------
    def reserve(self, usd: float) -> Reservation:
        """Hold `usd` for a request about to be sent; raise BudgetExceeded if it could break the cap.

        O(stages + requests in flight): spent comes from `totals`, not from the spend rows.
        Reservations left by killed processes are looked for only when they could make
        the difference (a query and a kill(pid, 0) per process: not on every request).
        """
        with self._write() as conn:
            if self.budget_usd is not None and self._over_cap(conn, usd):
                _drop_dead_reservations(conn, self._host)
                message = self._over_cap(conn, usd)
                if message:
                    raise BudgetExceeded(message)
            cursor = conn.execute(
                "INSERT INTO reservations (usd, created, host, pid) VALUES (?, ?, ?, ?)",
                (usd, time.time(), self._host, self._pid),
            )
        return Reservation(int(cursor.lastrowid or 0), usd)

    def _over_cap(self, conn: sqlite3.Connection, usd: float) -> str:
        """Why holding `usd` more could break the cap ('' if it cannot)."""
        spent, held = conn.execute(
            "SELECT (SELECT COALESCE(SUM(usd), 0) FROM totals), "
            "(SELECT COALESCE(SUM(usd), 0) FROM reservations)"
        ).fetchone()
        cap = self.budget_usd
        if cap is None or spent + held + usd <= cap:
            return ""
        return (
            f"LLM budget reached: spent ${spent:.4f} + in flight ${held:.4f} + this request "
            f"${usd:.4f} > cap ${cap:.4f} (llm.client.budget_usd, ledger {self.path}); raise "
            f"the cap or reset the ledger (`{RESET_HINT}`)"
        )

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
        answers: int = 1,
    ) -> None:
        """Record paid answers at their actual cost and free their reservation, atomically.

        A synchronous reply is one answer; a Batch API batch is one row with `answers`
        answers. The running totals are updated in the same transaction.
        """
        row = (time.time(), role, stage, model, prompt_tokens, completion_tokens, usd,
               int(batch), answers)  # fmt: skip
        with self._write() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            conn.execute(_INSERT_SPEND, row)
            conn.execute(_ADD_TO_TOTALS, (stage, int(batch), usd, answers))

    def release(self, reservation: Reservation) -> None:
        """Free a reservation whose request was not paid for (failed, cancelled)."""
        with self._write() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    # -- reading ---------------------------------------------------------------------
    def spend(self, stage: str | None = None) -> Spend:
        """Spend of `stage` (None: of every stage), from the running totals: O(stages)."""
        with self._lock:
            return _spend(self._conn, stage)

    def total_usd(self) -> float:
        return self.spend().usd

    def stage_usd(self, stage: str) -> float:
        return self.spend(stage).usd

    def reserved_usd(self) -> float:
        with self._lock:
            found = self._conn.execute("SELECT COALESCE(SUM(usd), 0) FROM reservations")
            return float(found.fetchone()[0])

    def rows(self) -> list[SpendRow]:
        """Spend grouped by stage, role, model and batch (for `show`; scans the spend rows)."""
        with self._lock:
            found = self._conn.execute(
                "SELECT stage, role, model, batch, COUNT(*), SUM(answers), SUM(prompt_tokens), "
                "SUM(completion_tokens), SUM(usd) FROM spend GROUP BY stage, role, model, batch "
                "ORDER BY stage, role, model, batch"
            ).fetchall()
        return [SpendRow(s, r, m, bool(b), *rest) for s, r, m, b, *rest in found]

    def reset(self) -> None:
        """Forget all spend and reservations: the budget starts again from zero."""
        with self._write() as conn:
            conn.execute("DELETE FROM spend")
            conn.execute("DELETE FROM totals")
            conn.execute("DELETE FROM reservations")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the tables; bring a ledger written by an older version up to date.

    Old spend rows get `answers` = 1 (each was one synchronous reply), and `totals`
    is built from the spend rows. It is rebuilt, too, when its row count disagrees
    with the spend table's (rows written by an older version after the migration,
    or edited by hand): one O(rows) check per open, never per request.
    """
    conn.execute(_SPEND)
    conn.execute(_RESERVATIONS)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(spend)")}
    if "answers" not in columns:
        conn.execute("ALTER TABLE spend ADD COLUMN answers INTEGER NOT NULL DEFAULT 1")
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'totals'")
    if found.fetchone() is None:
        conn.execute(_TOTALS)
    counted = conn.execute(
        "SELECT (SELECT COUNT(*) FROM spend), (SELECT COALESCE(SUM(rows), 0) FROM totals)"
    ).fetchone()
    if counted[0] != counted[1]:
        conn.execute("DELETE FROM totals")
        conn.execute(_REBUILD_TOTALS)


def _spend(conn: sqlite3.Connection, stage: str | None) -> Spend:
    if stage is None:
        found = conn.execute(_SPEND_OF).fetchone()
    else:
        found = conn.execute(_SPEND_OF + " WHERE stage = ?", (stage,)).fetchone()
    usd, answers, rows, batch_usd, batch_answers, batch_rows = found
    return Spend(float(usd), int(answers), int(rows), float(batch_usd), int(batch_answers),
                 int(batch_rows))  # fmt: skip


def _drop_dead_reservations(conn: sqlite3.Connection, host: str) -> None:
    """Forget reservations of killed processes on this host, or they would hold budget forever."""
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
    """The ledger total (synchronous and batch apart), then one line per group."""
    cap = "none" if ledger.budget_usd is None else f"${ledger.budget_usd:.4f}"
    total = ledger.spend()
    lines = [f"ledger {ledger.path}: total {total.describe()}, in flight "
             f"${ledger.reserved_usd():.4f}, cap {cap}"]  # fmt: skip
    for row in ledger.rows():
        mode = f"batch: {row.answers} answers in {row.rows} batches" if row.batch else (
            f"sync: {row.answers} answers"
        )  # fmt: skip
        lines.append(
            f"  {row.stage or '-'} / {row.role or '-'} / {row.model} [{mode}], "
            f"{row.prompt_tokens} in + {row.completion_tokens} out tokens, ${row.usd:.4f}"
        )
    return "\n".join(lines)
