"""Entry-point wrapper: known failures print one clear line instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from medinstruct_core.io import DataError
from medinstruct_core.llm.client import (
    EndpointRefused,
    EndpointUnreachable,
    TooManyFailures,
    UnpricedModel,
)
from medinstruct_core.llm.ledger import BudgetExceeded
from medinstruct_core.llm.server import EmbeddedServerError
from medinstruct_core.params import ParamsError


class StageFailed(RuntimeError):
    """A stage stopped on purpose, with a message saying why (e.g. an untrusted judge)."""


# Errors whose message already names the file, record, key or URL at fault.
USER_ERRORS = (
    StageFailed,
    ParamsError,
    DataError,
    EndpointUnreachable,
    EndpointRefused,
    TooManyFailures,
    UnpricedModel,
    EmbeddedServerError,
    BudgetExceeded,
)


def run_cli(main: Callable[[], int], stage: str) -> int:
    """Run a stage's `main()`; exit 2 on a user error, 130 on Ctrl-C."""
    try:
        return main()
    except USER_ERRORS as exc:
        print(f"{stage}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"{stage}: interrupted; no partial output was written (paid LLM replies stay cached)",
            file=sys.stderr,
        )
        return 130
