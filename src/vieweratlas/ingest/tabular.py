"""Streaming readers for tabular files: CSV, Parquet and JSON Lines (each optionally gzipped).

A reader yields :class:`Chunk` s — a table of the wanted columns (CSV: all as text) plus the
line (CSV/JSONL) or row (Parquet) number of its first row — so memory stays bounded by the
chunk size whatever the file size. Malformed files become an :class:`InputError` naming the
line; finding that line re-reads the file, which only happens on the error path.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import ijson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from vieweratlas.errors import InputError, shorten
from vieweratlas.errors import first_line as exception_line
from vieweratlas.ingest.guard import InputStream, Limits, Progress, open_input

CSV_BLOCK = 4 << 20  # at least; a block also holds the longest allowed line
JSONL_BLOCK = 8 << 20
PARQUET_BATCH = 512_000
PARQUET_MAGIC = b"PAR1"
JSON_ROWS = 50_000


@dataclass(frozen=True)
class Chunk:
    """Some rows of a file, where they start, and how to find a row's line on error."""

    table: pa.Table
    first_record: int  # 0-based index of the chunk's first record in the file
    locate: Callable[[int], int]  # record index → line (or Parquet row) number

    def line_of(self, row: int) -> int:
        """The line of the chunk's ``row`` (re-reads the file: for error messages only)."""
        return self.locate(self.first_record + row)


def kind_of(path: Path, first: bytes) -> str:
    """``csv``, ``parquet``, ``jsonl`` or ``json`` (an array of row objects) from the first
    bytes, then the file name."""
    if first.startswith(PARQUET_MAGIC):
        return "parquet"
    if first.lstrip()[:1] == b"{":
        return "jsonl"
    if first.lstrip()[:1] == b"[":
        return "json"
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "csv"


def check_text(path: Path, first: bytes) -> None:
    """Refuse empty files and binary junk before a parser produces a confusing message."""
    if not first.strip():
        if len(first) >= 65536:  # only blank lines so far: the reader looks further
            return
        raise InputError(str(path), "empty file, expected a header line and rows")
    if b"\x00" in first:
        raise InputError(str(path), "binary data, expected a text file (CSV or JSON)", line=1)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(first, final=False)
    except UnicodeDecodeError as exc:
        line = first[: exc.start].count(b"\n") + 1
        raise InputError(str(path), "not UTF-8 text (binary data?)", line=line) from None


Columns = Sequence[str] | Callable[[Sequence[str]], Sequence[str]]
"""The columns to read: a list (those the file has), or a function of the file's names."""


def _wanted(columns: Columns, names: Sequence[str], *, present: bool = True) -> list[str]:
    cols = columns(names) if callable(columns) else columns
    return [c for c in cols if c in names or not present]


def read_chunks(
    path: Path,
    kind: str,
    columns: Columns,
    limits: Limits,
    progress: Progress | None = None,
) -> tuple[list[str], Iterator[Chunk]]:
    """(column names in the file, chunks with those of ``columns`` that the file has)."""
    if kind == "parquet":
        return _parquet(path, columns, limits, progress)
    if kind == "jsonl":
        return _jsonl(path, columns, limits, progress)
    if kind == "json":
        return _json_array(path, columns, limits, progress)
    return _csv(path, columns, limits, progress)


# ---------------------------------------------------------------------------- CSV


MAX_COLUMN_NAME = 1024  # characters; a longer header field is not a column name


@dataclass(frozen=True)
class Header:
    """A CSV header: column names and how many physical lines precede the data."""

    names: list[str]
    skip: int  # lines up to and including the header (blank lines before it count)


def first_line(path: Path, limits: Limits) -> tuple[str, int]:
    """The first non-blank line (without its line end) and its 1-based number.

    CR, LF and CRLF all end a line (pyarrow counts rows the same way); a UTF-8 byte-order
    mark is dropped. More than ``limits.max_blank_lines`` blank lines first is an error.
    Returns ``("", n)`` for a file of blank lines only.
    """
    number = 0
    with open_input(path, limits, lines=True) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
        try:
            while True:
                line = text.readline()
                if not line:
                    return "", number
                number += 1
                if number == 1:
                    line = line.removeprefix("\ufeff")
                if line.strip():
                    return line.rstrip("\r\n"), number
                if number > limits.max_blank_lines:
                    raise InputError(
                        str(path),
                        f"no header or record in the first {limits.max_blank_lines} lines "
                        "(all blank)",
                        line=number,
                    )
        except UnicodeDecodeError:
            raise InputError(str(path), "not UTF-8 text", line=number + 1) from None


@contextlib.contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """Let Python's csv module read fields up to ``limit`` characters (default: 128 KiB).

    The limit is process-wide in the csv module; it is raised only around error-path
    re-reads and restored afterwards.
    """
    old = csv.field_size_limit()
    csv.field_size_limit(max(limit, old))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_header(path: Path, limits: Limits) -> Header:
    """Column names of a CSV file; duplicate or absurdly long names are refused."""
    text, number = first_line(path, limits)
    with _field_limit(limits.max_line_bytes):
        try:
            fields = next(csv.reader([text]), [])
        except csv.Error as exc:
            raise InputError(str(path), f"malformed header ({exc})", line=number) from None
    names = [c.strip() for c in fields]
    check_names(path, names, number)
    return Header(names, number)


def check_names(path: Path, names: Sequence[str], line: int | None = 1) -> None:
    """Refuse duplicate column names (which one would win?) and overlong ones."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if len(name) > MAX_COLUMN_NAME:
            raise InputError(
                str(path),
                f"column {i + 1} has a {len(name)}-character name "
                f"(over {MAX_COLUMN_NAME}; is the header line a data line?)",
                line=line,
            )
        if name and name in seen:
            raise InputError(
                str(path),
                f"duplicate column name {_cut(name)!r} (columns {seen[name] + 1} and {i + 1})",
                line=line,
            )
        seen.setdefault(name, i)


def _csv(
    path: Path, columns: Columns, limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    header = read_header(path, limits)
    wanted = _wanted(columns, header.names)
    return header.names, _csv_chunks(path, header.names, wanted, limits, progress, skip=header.skip)


def _csv_chunks(
    path: Path,
    names: list[str],
    wanted: list[str],
    limits: Limits,
    progress: Progress | None,
    *,
    skip: int,
) -> Iterator[Chunk]:
    # Unnamed columns (``a,,b``) get placeholder names: pyarrow wants them distinct.
    unique = [n or f"\x00unnamed{i}" for i, n in enumerate(names)]
    read_opts = pacsv.ReadOptions(
        # A block holds at least one whole record: records up to the line limit parse.
        block_size=max(CSV_BLOCK, limits.max_line_bytes + 1),
        column_names=unique,
        skip_rows=skip,
    )
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(unique, pa.string()),
        include_columns=wanted,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    record = 0
    header = skip > 0

    def locate(index: int) -> int:
        return csv_record_line(path, index, limits, skip=skip)

    try:
        with open_input(path, limits, progress=progress, lines=True) as f:
            reader = pacsv.open_csv(f, read_options=read_opts, convert_options=convert)
            for batch in reader:
                if batch.num_rows:
                    yield Chunk(pa.Table.from_batches([batch]), record, locate)
                record += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, exc, len(names), limits, header=header) from None


def csv_named_chunks(
    path: Path,
    names: list[str],
    limits: Limits,
    progress: Progress | None,
    *,
    header: bool = False,
) -> Iterator[Chunk]:
    """Chunks of a CSV with its columns named ``names`` (all text); a header line, if any,
    is skipped (with any blank lines before it)."""
    skip = first_line(path, limits)[1] if header else 0
    return _csv_chunks(path, names, names, limits, progress, skip=skip)


def _csv_error(
    path: Path, exc: pa.ArrowInvalid, ncols: int, limits: Limits, *, header: bool
) -> InputError:
    """Turn a pyarrow CSV error into one line naming the file's first bad line."""
    found = locate_csv_problem(path, ncols, limits, header=header)
    if found is not None:
        return found
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(str(path), f"malformed CSV: {message[:200]}")


def csv_record_line(path: Path, index: int, limits: Limits, *, skip: int) -> int:
    """Line on which data record ``index`` (0-based, empty lines skipped) starts."""
    with open_input(path, limits, lines=True) as raw, _field_limit(limits.max_line_bytes):
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        start = 1
        seen = 0
        try:
            for fields in reader:
                if fields and reader.line_num > skip:
                    if seen == index:
                        return start
                    seen += 1
                start = reader.line_num + 1
        except csv.Error:
            pass
    return start


def locate_csv_problem(
    path: Path, ncols: int, limits: Limits, *, header: bool
) -> InputError | None:
    """Re-read ``path`` record by record and describe its first malformed one.

    Lines (and fields) are capped at ``limits.max_line_bytes``: finding the problem never
    holds more than that in memory, however long the bad line is.
    """
    with open_input(path, limits, lines=True) as raw, _field_limit(limits.max_line_bytes):
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
        reader = csv.reader(text, strict=True)
        seen_header = not header
        start = 1  # line on which the current record starts
        try:
            for fields in reader:
                if fields and not seen_header and any(f.strip() for f in fields):
                    seen_header = True
                elif fields and len(fields) != ncols:
                    return InputError(
                        str(path),
                        f"expected {ncols} fields, found {len(fields)} (a stray quote?)",
                        line=start,
                    )
                start = reader.line_num + 1
        except UnicodeDecodeError:
            return InputError(str(path), "invalid UTF-8", line=reader.line_num + 1)
        except csv.Error as exc:
            return InputError(str(path), f"malformed CSV ({exc}; a stray quote?)", line=start)
    return None


# ---------------------------------------------------------------------------- Parquet


def _parquet(
    path: Path, columns: Columns, limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(str(path), f"file is {size} bytes, over the limit")
    try:
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
        total = max(pf.metadata.num_rows, 1)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(str(path), f"not a readable Parquet file: {exception_line(exc)}") from None
    check_names(path, names, None)
    wanted = _wanted(columns, names)

    def chunks() -> Iterator[Chunk]:
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
                if batch.num_rows:
                    yield Chunk(pa.Table.from_batches([batch]), row, lambda i: i + 1)
                row += batch.num_rows
                if progress is not None:
                    progress(size * batch.num_rows // total)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(
                str(path), f"corrupt Parquet data: {exception_line(exc)}", line=row + 1
            ) from None
        finally:
            pf.close()

    return names, chunks()


# ---------------------------------------------------------------------------- JSON Lines


def _jsonl(
    path: Path, columns: Columns, limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    # Keys are only known once read; report the first record's keys as the "header".
    # The depth guard sees the record before Arrow does (a deep one would crash Arrow).
    first, number = b"", 0
    with open_input(path, limits, json_depth=True, lines=True) as f:
        cr_only = _cr_only(f.peek(65536)[:65536])
        for raw in _raw_lines(f, cr_only):
            number += 1
            if raw.strip():
                first = raw
                break
            if number > limits.max_blank_lines:
                raise InputError(
                    str(path),
                    f"no record in the first {limits.max_blank_lines} lines (all blank)",
                    line=number,
                )
    try:
        keys = list(_read_json(first).schema.names) if first.strip() else []
    except pa.ArrowInvalid as exc:
        raise _jsonl_error(path, first, number, exc) from None
    check_names(path, keys, number)
    wanted = _wanted(columns, keys, present=False)  # later records may have more keys
    return keys, _jsonl_chunks(path, wanted, limits, progress, cr_only=cr_only)


def _cr_only(head: bytes) -> bool:
    """Lines end in a bare CR (classic Mac): no LF at all in the first bytes, but a CR."""
    return b"\r" in head and b"\n" not in head


def _raw_lines(f: io.BufferedReader[InputStream], cr_only: bool) -> Iterator[bytes]:
    """Physical lines of a JSON Lines stream (CR-only files are read as LF)."""
    if not cr_only:
        yield from f
        return
    carry = b""
    while block := f.read(1 << 20):
        parts = (carry + block).split(b"\r")
        carry = parts.pop()
        yield from parts
    if carry:
        yield carry


def _read_json(data: bytes) -> pa.Table:
    """Parse JSON Lines; Arrow's 1 MiB default block is retried as one block so long lines
    (up to the line limit) parse."""
    parse = pajson.ParseOptions(newlines_in_values=False, unexpected_field_behavior="infer")
    try:
        return pajson.read_json(io.BytesIO(data), parse_options=parse)
    except pa.ArrowInvalid:
        if len(data) <= 1 << 20:
            raise
    whole = pajson.ReadOptions(block_size=len(data) + 1)
    return pajson.read_json(io.BytesIO(data), read_options=whole, parse_options=parse)


def _jsonl_chunks(
    path: Path,
    columns: Sequence[str],
    limits: Limits,
    progress: Progress | None,
    *,
    cr_only: bool,
) -> Iterator[Chunk]:
    line = 1
    record = 0
    carry = b""

    def locate(index: int) -> int:
        return jsonl_record_line(path, index, limits)

    with open_input(path, limits, progress=progress, json_depth=True, lines=True) as f:
        while True:
            block = f.read(JSONL_BLOCK)
            if cr_only:  # outside strings a CR is whitespace; inside one it is invalid JSON
                block = block.replace(b"\r", b"\n")
            data = carry + block
            if not block:
                carry = b""
            else:
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
            if data.strip():
                try:
                    table = _read_json(data)
                except pa.ArrowInvalid as exc:
                    raise _jsonl_error(path, data, line, exc) from None
                if table.num_rows != _count_records(data):
                    raise _jsonl_error(path, data, line, None)
                keep = [c for c in columns if c in table.column_names]
                yield Chunk(table.select(keep), record, locate)
                record += table.num_rows
            line += data.count(b"\n")
            if not block:
                break


def _json_array(
    path: Path, columns: Columns, limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    """A JSON array of row objects; a row's "line" is its position in the array (1-based)."""
    names: list[str] = []
    is_object = False
    with open_input(path, limits, json_depth=True) as f:
        try:
            # The first row's keys, as written (a dict would hide a duplicate key).
            for prefix, event, value in ijson.parse(f, use_float=True):
                if prefix == "" and event == "start_array":
                    continue
                if prefix != "item" or event == "start_map":
                    if prefix == "":  # not an array, or an empty one
                        break
                    continue  # inside a value of the first row
                if event == "map_key":
                    names.append(str(value))
                    continue
                is_object = event == "end_map"
                break
        except ijson.JSONError as exc:
            raise InputError(str(path), f"invalid JSON: {exception_line(exc)}") from None
    if not is_object:
        raise InputError(str(path), "expected an array of row objects", line=1)
    check_names(path, names, 1)
    keep = _wanted(columns, names)
    return names, _json_array_chunks(path, keep, limits, progress)


def _json_array_chunks(
    path: Path, keep: list[str], limits: Limits, progress: Progress | None
) -> Iterator[Chunk]:
    record = 0
    rows: list[dict[str, object]] = []

    def chunk() -> Chunk:
        try:
            table = pa.Table.from_pylist(rows, schema=None)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise _json_rows_error(path, rows, record) from None
        return Chunk(table.select(keep), record, lambda i: i + 1)

    with open_input(path, limits, progress=progress, json_depth=True) as f:
        try:
            for i, obj in enumerate(ijson.items(f, "item", use_float=True)):
                if not isinstance(obj, dict):
                    raise InputError(str(path), "expected a row object", line=i + 1)
                rows.append({c: obj.get(c) for c in keep})
                if len(rows) >= JSON_ROWS:
                    yield chunk()
                    record += len(rows)
                    rows = []
        except ijson.JSONError as exc:
            raise InputError(str(path), f"invalid JSON: {exception_line(exc)}") from None
    if rows:
        yield chunk()


def _json_rows_error(path: Path, rows: list[dict[str, object]], first: int) -> InputError:
    kinds: dict[str, str] = {}
    for i, obj in enumerate(rows):
        for key, value in obj.items():
            kind = _json_kind(value)
            if value is not None and kinds.setdefault(key, kind) != kind:
                return InputError(
                    str(path),
                    f"value type changed from {kinds[key]} to {kind}",
                    line=first + i + 1,
                    field=key,
                )
    return InputError(str(path), "rows of mixed types", line=first + 1)


def jsonl_record_line(path: Path, index: int, limits: Limits) -> int:
    """Line of the ``index``-th (0-based) non-blank line."""
    seen = 0
    with open_input(path, limits, lines=True) as f:
        cr_only = _cr_only(f.peek(65536)[:65536])
        for number, raw in enumerate(_raw_lines(f, cr_only), start=1):
            if raw.strip():
                if seen == index:
                    return number
                seen += 1
    return 1


def _count_records(data: bytes) -> int:
    return sum(1 for ln in data.split(b"\n") if ln.strip())


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _jsonl_error(path: Path, data: bytes, first_line: int, exc: Exception | None) -> InputError:
    import json

    kinds: dict[str, str] = {}
    for i, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKey as dup:
            return InputError(
                str(path), f"duplicate key {_cut(dup.key)!r} in one object", line=first_line + i
            )
        except (ValueError, RecursionError):
            return InputError(str(path), "not valid JSON", line=first_line + i)
        if not isinstance(obj, dict):
            return InputError(str(path), "expected a JSON object per line", line=first_line + i)
        for key, value in obj.items():
            kind = _json_kind(value)
            if value is not None and kinds.setdefault(key, kind) != kind:
                return InputError(
                    str(path),
                    f"value type changed from {kinds[key]} to {kind}",
                    line=first_line + i,
                    field=key,
                )
    detail = exception_line(exc) if exc else "unexpected record count"
    return InputError(str(path), f"malformed JSON Lines: {detail}", line=first_line)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _cut(text: str, n: int = 60) -> str:
    return shorten(text, n)
