"""Streaming readers for tabular files: CSV, Parquet and JSON Lines (each optionally gzipped).

A reader yields :class:`Chunk` s — a table of the wanted columns (CSV: all as text) plus the
line (CSV/JSONL) or row (Parquet) number of its first row — so memory stays bounded by the
chunk size whatever the file size. Malformed files become an :class:`InputError` naming the
line; finding that line re-reads the file, which only happens on the error path.
"""

from __future__ import annotations

import codecs
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

from vieweratlas.errors import InputError, first_line
from vieweratlas.ingest.guard import Limits, Progress, open_input

CSV_BLOCK = 4 << 20
JSONL_BLOCK = 8 << 20
PARQUET_BATCH = 256_000
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
        raise InputError(str(path), "empty file, expected a header line and rows")
    if b"\x00" in first:
        raise InputError(str(path), "binary data, expected a text file (CSV or JSON)", line=1)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(first, final=False)
    except UnicodeDecodeError as exc:
        line = first[: exc.start].count(b"\n") + 1
        raise InputError(str(path), "not UTF-8 text (binary data?)", line=line) from None


def read_chunks(
    path: Path,
    kind: str,
    columns: Sequence[str],
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


def read_header(path: Path, limits: Limits) -> list[str]:
    with open_input(path, limits) as f:
        first = f.readline(1 << 20)
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(str(path), "header is not UTF-8 text", line=1) from None
    text = text.removeprefix("\ufeff")  # spreadsheet exports start with a BOM
    return [c.strip() for c in next(csv.reader([text]), [])]


def _csv(
    path: Path, columns: Sequence[str], limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    names = read_header(path, limits)
    wanted = [c for c in columns if c in names]
    return names, _csv_chunks(path, names, wanted, limits, progress)


def _csv_chunks(
    path: Path,
    names: list[str],
    wanted: list[str],
    limits: Limits,
    progress: Progress | None,
    *,
    header: bool = True,
) -> Iterator[Chunk]:
    read_opts = pacsv.ReadOptions(
        block_size=CSV_BLOCK,
        column_names=names,
        skip_rows=1 if header else 0,
    )
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        include_columns=wanted,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    record = 0

    def locate(index: int) -> int:
        return csv_record_line(path, index, limits, header=header)

    try:
        with open_input(path, limits, progress=progress) as f:
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
    is skipped."""
    return _csv_chunks(path, names, names, limits, progress, header=header)


def _csv_error(
    path: Path, exc: pa.ArrowInvalid, ncols: int, limits: Limits, *, header: bool
) -> InputError:
    """Turn a pyarrow CSV error into one line naming the file's first bad line."""
    found = locate_csv_problem(path, ncols, limits, header=header)
    if found is not None:
        return found
    return InputError(str(path), f"malformed CSV: {first_line(exc)}")


def csv_record_line(path: Path, index: int, limits: Limits, *, header: bool) -> int:
    """Line on which data record ``index`` (0-based, empty lines skipped) starts."""
    with open_input(path, limits) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        start = 1
        seen = -1 if header else 0
        for fields in reader:
            if fields:
                if seen == index:
                    return start
                seen += 1
            start = reader.line_num + 1
    return start


def locate_csv_problem(
    path: Path, ncols: int, limits: Limits, *, header: bool
) -> InputError | None:
    """Re-read ``path`` line by line and describe its first malformed record."""
    with open_input(path, limits) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
        reader = csv.reader(text, strict=True)
        record = 0
        start = 1  # line on which the current record starts
        try:
            for fields in reader:
                record += 1
                if fields and len(fields) != ncols and not (record == 1 and header):
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
    path: Path, columns: Sequence[str], limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(str(path), f"file is {size} bytes, over the limit")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"not a readable Parquet file: {first_line(exc)}") from None
    names = pf.schema_arrow.names
    wanted = [c for c in columns if c in names]

    def chunks() -> Iterator[Chunk]:
        total = max(pf.metadata.num_rows, 1)
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
                if batch.num_rows:
                    yield Chunk(pa.Table.from_batches([batch]), row, lambda i: i + 1)
                row += batch.num_rows
                if progress is not None:
                    progress(size * batch.num_rows // total)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                str(path), f"corrupt Parquet data: {first_line(exc)}", line=row + 1
            ) from None

    return names, chunks()


# ---------------------------------------------------------------------------- JSON Lines


def _jsonl(
    path: Path, columns: Sequence[str], limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    # Keys are only known once read; report the first line's keys as the "header".
    first, number = b"", 0
    with open_input(path, limits) as f:
        while not first.strip() and number < 1000:
            first = f.readline(1 << 20)
            number += 1
            if not first:
                break
    try:
        keys = list(pajson.read_json(io.BytesIO(first)).schema.names) if first.strip() else []
    except pa.ArrowInvalid:
        raise InputError(str(path), "not a JSON object per line", line=number) from None
    return keys, _jsonl_chunks(path, columns, limits, progress)


def _jsonl_chunks(
    path: Path, columns: Sequence[str], limits: Limits, progress: Progress | None
) -> Iterator[Chunk]:
    parse = pajson.ParseOptions(newlines_in_values=False, unexpected_field_behavior="infer")
    line = 1
    record = 0
    carry = b""

    def locate(index: int) -> int:
        return jsonl_record_line(path, index, limits)

    with open_input(path, limits, progress=progress, json_depth=True) as f:
        while True:
            block = f.read(JSONL_BLOCK)
            data = carry + block
            if not block:
                carry = b""
            else:
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
            if data.strip():
                try:
                    table = pajson.read_json(io.BytesIO(data), parse_options=parse)
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
    path: Path, columns: Sequence[str], limits: Limits, progress: Progress | None
) -> tuple[list[str], Iterator[Chunk]]:
    """A JSON array of row objects; a row's "line" is its position in the array (1-based)."""
    with open_input(path, limits, json_depth=True) as f:
        try:
            first = next(iter(ijson.items(f, "item", use_float=True)), None)
        except ijson.JSONError as exc:
            raise InputError(str(path), f"invalid JSON: {first_line(exc)}") from None
    if not isinstance(first, dict):
        raise InputError(str(path), "expected an array of row objects", line=1)
    names = list(first)
    keep = [c for c in columns if c in names]
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
            raise InputError(str(path), f"invalid JSON: {first_line(exc)}") from None
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
    with open_input(path, limits) as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                if seen == index:
                    return number
                seen += 1
    return 1


def _count_records(data: bytes) -> int:
    return sum(1 for ln in data.split(b"\n") if ln.strip())


def _jsonl_error(path: Path, data: bytes, start: int, exc: Exception | None) -> InputError:
    import json

    kinds: dict[str, str] = {}
    for i, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            return InputError(str(path), "not valid JSON", line=start + i)
        if not isinstance(obj, dict):
            return InputError(str(path), "expected a JSON object per line", line=start + i)
        for key, value in obj.items():
            kind = _json_kind(value)
            if value is not None and kinds.setdefault(key, kind) != kind:
                return InputError(
                    str(path),
                    f"value type changed from {kinds[key]} to {kind}",
                    line=start + i,
                    field=key,
                )
    detail = first_line(exc) if exc else "unexpected record count"
    return InputError(str(path), f"malformed JSON Lines: {detail}", line=start)


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
