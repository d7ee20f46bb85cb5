"""Vectorised conversion and validation of imported columns (timestamps, names, counts).

Each function converts a whole Arrow column at once; only when that fails does it look for
the first offending row (a Python loop on the error path only) so the error names it.

* Times must fall in ``[MIN_TIME, MAX_TIME)`` (streaming data before 2005 or after 2100 is a
  typo, milliseconds taken for seconds, or an attack on the partition layout).
* Channel and user names follow their platform's one rule (:mod:`vieweratlas.platforms`):
  values already in normal form are checked with one vectorised regex; the others are
  normalised with ``Platform.normalize`` once per distinct value, and refused when the
  platform cannot have them.
* Free text (game, title, display name, ids) may not hold control characters (NUL, ESC,
  line breaks...) and is capped in length.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vieweratlas.config import parse_timestamp
from vieweratlas.errors import InputError
from vieweratlas.lake.schema import TS
from vieweratlas.lake.writer import EARLIEST, LATEST
from vieweratlas.platforms import Platform

# The sane range of imported times (the upper bound excluded): the lake's own window.
MIN_TIME = EARLIEST
MAX_TIME = LATEST
MAX_TEXT = 1000  # characters of a game, title or display name
MAX_ID = 64  # characters of a user or channel id
# C0 controls but tab, DEL and C1 controls: never part of a name, game or title.
_CONTROL_RE = "[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f]"

# Epoch seconds past this (year 5138) are almost certainly milliseconds or microseconds.
MAX_EPOCH_S = 1e11
_NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_ZONE_RE = r"([zZ]|[+-]\d\d(:?\d\d)?)$"
_DATE_RE = r"^\d{4}-\d\d-\d\d$"


class ColumnError(ValueError):
    """A column failed validation at row ``row`` (0-based within the array)."""

    def __init__(self, row: int, problem: str) -> None:
        super().__init__(problem)
        self.row = row
        self.problem = problem


def as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array; dictionary-encoded columns (pandas categoricals) decoded."""
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks()
    return col


def to_timestamps(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """ISO-8601 strings (zone optional: naive = UTC), epoch seconds or timestamps → UTC µs,
    each within ``[MIN_TIME, MAX_TIME)``."""
    out = _to_timestamps(as_array(col))
    row = out_of_range(out)
    if row is not None:
        raise ColumnError(row, f"time {show_time(out[row])} {RANGE_TEXT}")
    return out


RANGE_TEXT = f"outside the accepted range {MIN_TIME:%Y-%m-%d} to {MAX_TIME:%Y-%m-%d}"


def show_time(value: pa.Scalar) -> str:
    """A timestamp scalar as ISO text (or µs since the epoch past Python's year 9999)."""
    try:
        return f"{value.as_py():%Y-%m-%dT%H:%M:%SZ}"
    except (ValueError, OverflowError):
        return f"{pc.cast(value, pa.int64()).as_py()} µs since 1970"


def out_of_range(ts: pa.Array | pa.ChunkedArray) -> int | None:
    """Index of the first time outside ``[MIN_TIME, MAX_TIME)``, or None."""
    if len(ts) == 0:
        return None
    low = pa.scalar(MIN_TIME, TS)
    high = pa.scalar(MAX_TIME, TS)
    bad = pc.or_(pc.less(ts, low), pc.greater_equal(ts, high))
    return _first_true(bad) if pc.any(bad).as_py() else None


def _to_timestamps(arr: pa.Array) -> pa.Array:
    _no_nulls(arr, "a time")
    t = arr.type
    if pa.types.is_timestamp(t):
        try:
            if t.tz is None:
                return pc.cast(pc.cast(arr, pa.timestamp("us")), TS)
            return pc.cast(arr, TS)
        except pa.ArrowInvalid:  # a time that µs cannot hold (year 1 or 300000)
            raise ColumnError(0, f"times {RANGE_TEXT}") from None
    if pa.types.is_date(t):
        try:
            return pc.cast(pc.cast(arr, pa.timestamp("us")), TS)
        except pa.ArrowInvalid:
            raise ColumnError(0, f"dates {RANGE_TEXT}") from None
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _from_epoch(pc.cast(arr, pa.float64()))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _from_text(pc.utf8_trim_whitespace(pc.cast(arr, pa.string())))
    raise ColumnError(0, f"expected ISO-8601 times or epoch seconds, got a column of {t}")


def _from_epoch(seconds: pa.Array) -> pa.Array:
    bad = pc.or_(pc.is_nan(seconds), pc.greater(pc.abs(seconds), MAX_EPOCH_S))
    if pc.any(bad).as_py():
        row = _first_true(bad)
        raise ColumnError(
            row,
            f"epoch seconds {seconds[row].as_py()!r} out of range (milliseconds?)",
        )
    micros = pc.cast(pc.round(pc.multiply(seconds, 1_000_000.0)), pa.int64())
    return pc.cast(micros, pa.timestamp("us")).cast(TS)


def _from_text(text: pa.Array) -> pa.Array:
    numeric = pc.match_substring_regex(text, _NUMBER_RE)
    any_numeric = pc.any(numeric).as_py()
    all_numeric = pc.all(numeric).as_py()
    try:
        if all_numeric:
            return _from_epoch(pc.cast(text, pa.float64()))
        iso = text
        if any_numeric:
            iso = pc.if_else(numeric, "1970-01-01T00:00:00+00:00", text)
        iso = pc.if_else(
            pc.match_substring_regex(iso, _DATE_RE),
            pc.binary_join_element_wise(iso, "T00:00:00", ""),
            iso,
        )
        zoned = pc.match_substring_regex(iso, _ZONE_RE)
        iso = pc.if_else(zoned, iso, pc.binary_join_element_wise(iso, "+00:00", ""))
        out = pc.cast(iso, TS)
        if any_numeric:
            epoch = _from_epoch(pc.cast(pc.if_else(numeric, text, "0"), pa.float64()))
            out = pc.if_else(numeric, epoch, out)
        return out
    except pa.ArrowInvalid:
        pass
    # Error path: find the first value that does not parse, and say why.
    for row, value in enumerate(text.to_pylist()):
        try:
            parse_timestamp(value)
            pc.cast(pa.array([_normalise_iso(value)]), TS)
        except (ValueError, OverflowError, OSError, pa.ArrowInvalid):
            raise ColumnError(
                row, f"expected an ISO-8601 time or epoch seconds, got {_show(value)}"
            ) from None
    raise ColumnError(0, "unparsable times")  # pragma: no cover - the loop finds the row


def _normalise_iso(value: str) -> str:
    text = value.strip()
    try:
        float(text)
        return "1970-01-01T00:00:00+00:00"
    except ValueError:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()


def to_names(
    col: pa.Array | pa.ChunkedArray, platform: Platform, what: str
) -> tuple[pa.Array, int]:
    """Names as ``platform`` stores them, and how many rows had to be normalised.

    ``what`` is ``channel`` or ``user``. Numbers are taken as their text; a value the
    platform cannot have (after its normalisation) is refused, naming the rule.
    """
    arr = as_array(col)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        if pa.types.is_integer(arr.type):
            arr = pc.cast(arr, pa.string())
        else:
            raise ColumnError(0, f"expected text, got a column of {arr.type}")
    arr = pc.cast(arr, pa.string())
    _no_nulls(arr, f"a {what} name")
    if already_normal(arr, platform):
        return arr, 0
    normal = pc.match_substring_regex(arr, f"^(?:{platform.login_rule.pattern})$")
    for prefix in platform.strip_prefixes:
        normal = pc.and_(normal, pc.invert(pc.starts_with(arr, prefix)))
    if platform.case_insensitive:
        normal = pc.and_(normal, pc.equal(pc.utf8_lower(arr), arr))
    if len(arr) == 0 or pc.all(normal).as_py():
        return arr, 0
    # Values not already in normal form: the platform's own rule, once per distinct value.
    others = pc.unique(pc.filter(arr, pc.invert(normal)))
    fixed: list[str | None] = [platform.normalize(v) for v in others.to_pylist()]
    refused = pa.array([v is None for v in fixed], pa.bool_())
    if pc.any(refused).as_py():
        bad = pc.filter(others, refused)
        row = _first_true(pc.is_valid(pc.index_in(arr, value_set=bad)))
        raise ColumnError(row, f"{_show(arr[row].as_py())} is {describe_rule(platform, what)}")
    mapped = pa.array(fixed, pa.string()).take(pc.index_in(arr, value_set=others))
    out = pc.if_else(normal, arr, mapped)
    return out, int(pc.sum(pc.invert(normal)).as_py())


# A login rule that is one character class repeated (Twitch, Kick): checked byte by byte.
_CLASS_RULE = re.compile(r"\[([^\]\\]+)\]\{(\d+),(\d+)\}")


@functools.cache
def _byte_rule(platform: Platform) -> tuple[np.ndarray, int, int] | None:
    """For a rule ``[class]{lo,hi}``: which bytes may appear in a name already in normal
    form (ASCII in the class; not upper case if the platform folds case; not the first byte
    of a prefix it strips) and the length bounds. None for any other rule."""
    m = _CLASS_RULE.fullmatch(platform.login_rule.pattern)
    if m is None:
        return None
    one = re.compile(f"[{m.group(1)}]")
    allowed = np.zeros(256, dtype=bool)
    for b in range(128):
        c = chr(b)
        if platform.case_insensitive and c != c.lower():
            continue
        if any(p.startswith(c) for p in platform.strip_prefixes):
            continue
        allowed[b] = one.fullmatch(c) is not None
    return allowed, int(m.group(2)), int(m.group(3))


def already_normal(arr: pa.Array, platform: Platform) -> bool:
    """Whether every name is already in the platform's normal form, by a byte-class test
    (a few operations a byte instead of a regex a row); False means "look closer"."""
    rule = _byte_rule(platform)
    if rule is None or len(arr) == 0:
        return False
    allowed, lo, hi = rule
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int32, len(arr) + 1, arr.offset * 4)
    lengths = np.diff(offsets)
    if int(lengths.min()) < lo or int(lengths.max()) > hi:
        return False
    start, end = int(offsets[0]), int(offsets[-1])
    if end == start or bufs[2] is None:
        return lo == 0
    data = np.frombuffer(bufs[2], np.uint8, end - start, start)
    return bool(allowed[data].all())


def describe_rule(platform: Platform, what: str) -> str:
    """``not a twitch channel name (the rule: ...)`` for error messages."""
    steps = ["surrounding spaces removed"]
    steps += [f"a leading {p!r} removed" for p in platform.strip_prefixes]
    if platform.case_insensitive:
        steps.append("lower-cased")
    return (
        f"not a {platform.name} {what} name (the rule: {platform.login_rule.pattern}, "
        f"after {', '.join(steps)})"
    )


def to_optional_text(col: pa.Array | pa.ChunkedArray, max_chars: int = MAX_TEXT) -> pa.Array:
    """Text or null; empty strings become null; control characters and overlong values are
    refused."""
    arr = as_array(col)
    if not pa.types.is_string(arr.type):
        if (
            pa.types.is_integer(arr.type)
            or pa.types.is_null(arr.type)
            or pa.types.is_large_string(arr.type)
        ):
            arr = pc.cast(arr, pa.string())
        else:
            raise ColumnError(0, f"expected text, got a column of {arr.type}")
    arr = pc.utf8_trim_whitespace(arr)
    control = pc.fill_null(pc.match_substring_regex(arr, _CONTROL_RE), False)
    if pc.any(control).as_py():
        row = _first_true(control)
        raise ColumnError(row, f"control character in {_show(arr[row].as_py())}")
    long = pc.fill_null(pc.greater(pc.utf8_length(arr), max_chars), False)
    if pc.any(long).as_py():
        row = _first_true(long)
        raise ColumnError(row, f"{len(arr[row].as_py())} characters, over the {max_chars} limit")
    return pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)


def to_counts(
    col: pa.Array | pa.ChunkedArray, type_: pa.DataType, *, default: int | None
) -> pa.Array:
    """Non-negative whole numbers (text or numeric); nulls/empty → ``default`` (None: kept)."""
    arr = as_array(col)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))
        arr = pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, pa.string()), arr)
        ok = pc.or_kleene(pc.is_null(arr), pc.match_substring_regex(arr, r"^\+?\d{1,18}$"))
        if not pc.all(ok).as_py():
            row = _first_true(pc.invert(ok))
            raise ColumnError(row, f"expected a whole number >= 0, got {_show(arr[row].as_py())}")
        arr = pc.cast(arr, pa.int64())
    elif pa.types.is_floating(arr.type):
        whole = pc.or_kleene(pc.is_null(arr), pc.equal(pc.floor(arr), arr))
        if not pc.all(whole).as_py():
            row = _first_true(pc.invert(whole))
            raise ColumnError(row, f"expected a whole number, got {arr[row].as_py()!r}")
        arr = pc.cast(arr, pa.int64())
    elif pa.types.is_null(arr.type):
        arr = pc.cast(arr, pa.int64())
    elif not pa.types.is_integer(arr.type):
        raise ColumnError(0, f"expected whole numbers, got a column of {arr.type}")
    negative = pc.fill_null(pc.less(arr, 0), False)
    if pc.any(negative).as_py():
        row = _first_true(negative)
        raise ColumnError(row, f"expected a whole number >= 0, got {arr[row].as_py()}")
    limit = 2**31 - 1 if type_ == pa.int32() else 2**63 - 1
    too_big = pc.fill_null(pc.greater(arr, limit), False)
    if pc.any(too_big).as_py():
        row = _first_true(too_big)
        raise ColumnError(row, f"number {arr[row].as_py()} too large")
    if default is not None:
        arr = pc.fill_null(arr, default)
    return pc.cast(arr, type_)


def column_error(
    path: str, field: str, exc: ColumnError, line_of: Callable[[int], int]
) -> InputError:
    """An InputError for ``exc`` in ``field``; ``line_of`` maps a row to its line."""
    return InputError(path, exc.problem, line=line_of(exc.row), field=field)


def _no_nulls(arr: pa.Array, what: str) -> None:
    if arr.null_count:
        raise ColumnError(_first_true(pc.is_null(arr)), f"missing value, expected {what}")


def _first_true(mask: pa.Array) -> int:
    return int(pc.index(pc.fill_null(mask, False), True).as_py())


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
