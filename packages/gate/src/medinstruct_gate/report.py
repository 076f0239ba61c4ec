"""Turn Great Expectations results into one readable line per failed expectation.

GX results are nested dicts whose useful part depends on the expectation kind
(an aggregate has `observed_value`, a map expectation has unexpected rows, a
set expectation has missing values). The summary line always says which
suite family failed, which expectation on which column, and what was seen,
e.g. `FAIL diversity: expect_column_values_to_be_between(max_type_share)
observed 0.62 > 0.4`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

SNIPPET_CHARS = 90


def to_plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so results print and serialise cleanly."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def fmt_value(value: Any) -> str:
    value = to_plain(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


def check_name(config: Any) -> str:
    """`column, check` (or just one of them) for the parentheses of a summary line."""
    column = config.kwargs.get("column")
    check = (config.meta or {}).get("check")
    return ", ".join(dict.fromkeys(p for p in (column, check) if p))


def bound_text(value: Any, kwargs: Mapping[str, Any]) -> str:
    """`observed 0.62 > 0.4`: the value and the bound it broke, when it is numeric."""
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    observed = f"observed {fmt_value(value)}"
    if isinstance(to_plain(value), int | float):
        if lo is not None and value < lo:
            return f"{observed} < {fmt_value(lo)}"
        if hi is not None and value > hi:
            return f"{observed} > {fmt_value(hi)}"
    return observed


def first_match(text: str, regexes: Sequence[str]) -> re.Match[str] | None:
    """The earliest match of any of the regexes in text."""
    matches = [m for m in (re.search(r, text) for r in regexes) if m is not None]
    return min(matches, key=lambda m: m.start(), default=None)


def snippet(value: Any, regexes: Sequence[str] = ()) -> str:
    """A quoted excerpt of a text value around the first regex match; other values as is."""
    if not isinstance(value, str):
        return (
            "null"
            if value is None or (isinstance(value, float) and np.isnan(value))
            else fmt_value(value)
        )
    match = first_match(value, regexes)
    start = max(0, match.start() - SNIPPET_CHARS // 3) if match else 0
    prefix = "..." if start else ""
    suffix = "..." if start + SNIPPET_CHARS < len(value) else ""
    return repr(prefix + value[start : start + SNIPPET_CHARS] + suffix)


def matched_patterns(
    values: Sequence[Any], kwargs: Mapping[str, Any], meta: Mapping[str, Any]
) -> list[str]:
    """Names (from meta["patterns"]) of the regexes that the shown unexpected values hit."""
    regexes, names = kwargs.get("regex_list") or [], meta.get("patterns") or []
    texts = [v for v in values if isinstance(v, str)]
    return [
        name
        for name, rx in zip(names, regexes, strict=False)
        if any(re.search(rx, t) for t in texts)
    ]


def row_label(frame: pd.DataFrame | None, label: Any) -> str:
    """`line 12 (id ex-12)` for a file, `row 12` for an in-memory frame without ids.

    GX reports a row of a frame with a *named* index as {column: value, name: label}.
    """
    kind = frame.index.name if frame is not None and frame.index.name else "row"
    if isinstance(label, Mapping):
        label = label.get(kind, next(iter(label.values()), None))
    text = f"{kind} {to_plain(label)}"
    if frame is not None and "id" in frame.columns and label in frame.index:
        row_id = frame.at[label, "id"]
        if isinstance(row_id, str):
            text += f" (id {row_id})"
    return text


def _regexes(kwargs: Mapping[str, Any]) -> list[str]:
    return list(kwargs.get("regex_list") or []) + ([kwargs["regex"]] if kwargs.get("regex") else [])


def map_failure_text(
    result: Mapping[str, Any],
    kwargs: Mapping[str, Any],
    meta: Mapping[str, Any],
    frame: pd.DataFrame | None,
) -> str:
    """`3 of 40 rows [patterns]; e.g. line 5 (id a): 'text'` for a row-level expectation."""
    count, total = result.get("unexpected_count", 0), result.get("element_count", 0)
    values: Sequence[Any] = result.get("partial_unexpected_list") or []
    labels: Sequence[Any] = result.get("partial_unexpected_index_list") or []
    if total == 1 and values:  # one-row metrics table: the value is the story
        return bound_text(values[0], kwargs)
    text = f"{count} of {total} rows"
    if kwargs.get("min_value") is not None or kwargs.get("max_value") is not None:
        text += (
            f" outside [{fmt_value(kwargs.get('min_value'))}, {fmt_value(kwargs.get('max_value'))}]"
        )
    hits = matched_patterns(values, kwargs, meta)
    if hits:
        text += f" matching {', '.join(hits)}"
    if values:
        where = row_label(frame, labels[0]) if labels else "e.g."
        text += f"; e.g. {where}: {snippet(values[0], _regexes(kwargs))}"
        if len(labels) > 1:
            text += f"; also {', '.join(row_label(frame, lab) for lab in labels[1:4])}"
    return text


def failure_text(evr: Any, frame: pd.DataFrame | None) -> str:
    """What a failed expectation saw, in words."""
    result, kwargs = dict(evr.result or {}), evr.expectation_config.kwargs
    if "unexpected_count" in result:
        return map_failure_text(result, kwargs, evr.expectation_config.meta or {}, frame)
    if result.get("partial_missing_list") is not None:
        return f"missing {[to_plain(v) for v in result['partial_missing_list']]}"
    details = (result.get("details") or {}).get("mismatched") or {}
    if details.get("missing"):
        return f"missing columns {details['missing']}"
    return bound_text(result.get("observed_value"), kwargs)


def exception_text(evr: Any) -> str | None:
    """GX reports errors per metric in a dict of dicts; flatten to the first message."""
    info = evr.exception_info or {}
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for nested in info.values():
        if isinstance(nested, Mapping) and nested.get("raised_exception"):
            return str(nested.get("exception_message"))
    return None


def failure_line(family: str, evr: Any, frame: pd.DataFrame | None) -> str:
    """`FAIL family: expectation_type(column, check) <what was seen>` (ERROR when GX raised)."""
    config = evr.expectation_config
    error = exception_text(evr)
    head = f"{'ERROR' if error else 'FAIL'} {family}: {config.type}({check_name(config)})"
    return f"{head} {('error: ' + error) if error else failure_text(evr, frame)}"
