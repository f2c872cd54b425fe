"""Landing files parsed by an in-process DuckDB, in batches of bounded size (no Dagster imports).

:func:`parse_landing_days` is the entry point: it yields Arrow record batches of the provider's raw schema, the same
rows as ``parse_records(provider, read_landing(...))`` (appointment_pipeline.domain.parsing, the reference).

Files are read once, in chunks: the raw bytes feed the day's content digest, the (decompressed) text is split into
lines without a Python object per value beyond the line itself. DuckDB parses the lines (io/landing_sql.py); a line
it cannot decide with certainty, a line that is too long or not UTF-8, and a file that breaks midway go through
``parse_records`` for that line only, so every odd case keeps the reference's reason and detail.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from appointment_pipeline.domain.parsing import FILE_ERROR, Provider, SourceRecord, arrow_schema, parse_records
from appointment_pipeline.domain.vocabulary import seed_rows
from appointment_pipeline.io.landing import (
    MAX_LINE_BYTES,
    _file_digest_update,
    _HashingReader,
    scan_reporting_skips,
)
from appointment_pipeline.io.landing_sql import MACROS, PROVIDER_SQL

BATCH_LINES = 20_000
BATCH_BYTES = 4 * 1024 * 1024  # text of one batch: with the parse and its Arrow copies, memory stays small
QUERY_BYTES = 64 * 1024 * 1024  # text read by one query
_RESULT_ROWS = 4096  # rows DuckDB hands over at a time: more makes it read (and hold) more lines ahead
_PYTHON_RECORDS = 1000  # lines and records gathered for parse_records: its Python objects weigh far more than Arrow's
_LINES_SCHEMA = pa.schema([("snapshot_date", pa.date32()), ("file", pa.string()), ("line", pa.int64()),
                           ("text", pa.string())])
_READ_CHUNK = 1024 * 1024  # smaller than MAX_LINE_BYTES: a line within one chunk is never over-long


@dataclass
class _Lines:
    """Complete lines of one file (without their final newline), numbered from ``first``; ``last_unterminated``
    when the last one ended the file without a newline."""

    first: int
    lines: list[bytes]
    last_unterminated: bool = False


def _file_pieces(path: Path, day: date, relative: str, file_digest: Any) -> Iterator[_Lines | SourceRecord]:
    """The lines of one file as landing._read_lines numbers them: runs of lines, and a SourceRecord for an
    over-long line or for the place where the file breaks (corrupt or truncated gzip, unreadable bytes)."""
    number = 0
    pieces: list[bytes] = []  # the line being assembled across chunks
    pending = 0
    overlong = False  # the current line is longer than MAX_LINE_BYTES: counted, its bytes skipped
    with open(path, "rb") as raw:
        hashing = _HashingReader(raw, file_digest)
        buffered = io.BufferedReader(hashing)
        stream: Any = gzip.GzipFile(fileobj=buffered) if path.name.endswith(".gz") else buffered
        try:
            # read1 hands over every byte decompressed before a failure (GzipFile raises only on a call that
            # yields nothing), which is what line-by-line reading sees before it fails
            while chunk := stream.read1(_READ_CHUNK):
                start = 0
                if overlong or pieces:
                    end = chunk.find(b"\n")
                    if end < 0:
                        if not overlong:
                            pieces.append(chunk)
                            pending += len(chunk)
                            if pending > MAX_LINE_BYTES:
                                number, overlong, pieces, pending = number + 1, True, [], 0
                        continue
                    start = end + 1
                    if overlong:
                        yield _too_long(day, relative, number)
                        overlong = False
                    else:
                        pending += end
                        pieces.append(chunk[:end])
                        number += 1
                        if pending > MAX_LINE_BYTES:
                            yield _too_long(day, relative, number)
                        else:
                            yield _Lines(number, [b"".join(pieces)])
                        pieces, pending = [], 0
                last = chunk.rfind(b"\n", start)
                if last >= 0:
                    lines = chunk[start:last].split(b"\n")
                    yield _Lines(number + 1, lines)
                    number += len(lines)
                    start = last + 1
                if start < len(chunk):
                    pieces.append(chunk[start:])
                    pending = len(chunk) - start
                    if pending > MAX_LINE_BYTES:
                        number, overlong, pieces, pending = number + 1, True, [], 0
            if overlong:
                yield _too_long(day, relative, number)
            elif pieces:
                yield _Lines(number + 1, [b"".join(pieces)], last_unterminated=True)
        except (OSError, EOFError, zlib.error) as exc:
            why = "truncated" if isinstance(exc, EOFError) else "not a readable gzip stream"
            yield SourceRecord(day, relative, number + 1, error=f"file is {why} after line {number}", obj=FILE_ERROR)
        hashing.drain()


def _too_long(day: date, relative: str, number: int) -> SourceRecord:
    return SourceRecord(day, relative, number, error=f"line is longer than {MAX_LINE_BYTES} bytes")


@dataclass
class _Batch:
    """Lines waiting to be parsed together, and the records that go straight to the Python rules."""

    days: list[date] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    unterminated: set[tuple[str, int]] = field(default_factory=set)
    records: list[SourceRecord] = field(default_factory=list)
    size: int = 0

    def add(self, day: date, relative: str, piece: _Lines) -> None:
        count = len(piece.lines)
        self.days += [day] * count
        self.files += [relative] * count
        self.numbers += range(piece.first, piece.first + count)
        self.lines += piece.lines
        self.size += sum(map(len, piece.lines))
        if piece.last_unterminated:
            self.unterminated.add((relative, piece.first + count - 1))

    @property
    def full(self) -> bool:
        return len(self.lines) >= BATCH_LINES or self.size >= BATCH_BYTES or len(self.records) >= BATCH_LINES


def read_landing_batches(
    landing_dir: Path,
    provider: Provider,
    days: Iterable[date],
    digests: dict[date, str] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[_Batch]:
    """landing.read_landing in batches: the same files, lines, numbers, file-level records and digests."""
    batch = _Batch()
    for day in days:
        digest = hashlib.sha256()
        found = scan_reporting_skips(landing_dir, provider, day, on_skip)
        for path in found.files:
            relative = path.relative_to(landing_dir).as_posix()
            file_digest = hashlib.sha256()
            for piece in _file_pieces(path, day, relative, file_digest):
                if isinstance(piece, SourceRecord):
                    batch.records.append(piece)
                    piece = _Lines(0, [])
                while True:
                    if batch.full:
                        yield batch
                        batch = _Batch()
                    if not piece.lines:
                        break
                    # no more lines than a batch has room for: a chunk of short lines may hold many
                    room = max(BATCH_LINES - len(batch.lines), 1)
                    rest = piece.lines[room:]
                    batch.add(day, relative, _Lines(piece.first, piece.lines[:room], piece.last_unterminated and not rest))
                    piece = _Lines(piece.first + room, rest, piece.last_unterminated)
            _file_digest_update(digest, path.name, file_digest.digest())
        for path, why in found.unreadable:
            _file_digest_update(digest, path.name, why.encode())
            batch.records.append(SourceRecord(day, path.relative_to(landing_dir).as_posix(), None,
                                              error=f"the entry is {why}", obj=FILE_ERROR))
        if digests is not None:
            digests[day] = digest.hexdigest()
    if batch.lines or batch.records:
        yield batch


def _hash_pads(hash_key: str) -> pa.Table:
    """HMAC-SHA256's inner and outer key pads, so that SQL computes the HMAC as two sha256 calls."""
    key = hash_key.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return pa.table({"ipad": pa.array([bytes(b ^ 0x36 for b in key)], pa.binary()),
                     "opad": pa.array([bytes(b ^ 0x5C for b in key)], pa.binary())})


def _status_mappings() -> pa.Table:
    rows = seed_rows("status_mappings")
    return pa.table({name: pa.array([row[name] for row in rows], pa.string())
                     for name in ("source", "raw_value", "status", "cancel_reason")})


class LandingParser:
    """An in-process DuckDB holding the parse's fixed inputs (seed mappings, key pads, day stamps)."""

    def __init__(self, provider: Provider, hash_key: str, ingest_sources: Mapping[date, str]):
        self.provider, self.hash_key, self.ingest_sources = provider, hash_key, ingest_sources
        self.schema = arrow_schema(provider.columns)
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        # DuckDB's own thread count (the machine's cores): producing the lines costs a tenth of parsing them, so
        # the parse, not Python's reading, sets the pace, and it runs on every core
        self.con.execute(MACROS)
        self._tables = {
            "status_mappings": _status_mappings(),
            "hash_pads": _hash_pads(hash_key),
            "ingest_sources": pa.table({
                "snapshot_date": pa.array(list(ingest_sources), pa.date32()),
                "ingest_source": pa.array(list(ingest_sources.values()), pa.string()),
            }),
        }
        for name, table in self._tables.items():
            self.con.register(name, table)
        self.sql = PROVIDER_SQL[provider.name]

    def close(self) -> None:
        self.con.close()

    def parse(self, batches: Iterable[_Batch]) -> Iterator[pa.RecordBatch]:
        """The batches' rows: DuckDB's, then the Python rules' for the lines DuckDB left to them. One query reads
        many batches as a stream, so the SQL is planned once per QUERY_BYTES of text (planning it costs tens of
        milliseconds); a new query then lets go of what the scan of the previous one held."""
        source = iter(batches)
        records: list[SourceRecord] = []  # filled as DuckDB reads the lines, emptied into parse_records
        unterminated: set[tuple[str, int]] = set()
        failure: list[BaseException] = []
        exhausted = False

        def lines() -> Iterator[pa.RecordBatch]:
            nonlocal exhausted
            size = 0
            try:
                while size < QUERY_BYTES:
                    batch = next(source, None)
                    if batch is None:
                        exhausted = True
                        return
                    records.extend(batch.records)
                    unterminated.update(batch.unterminated)
                    size += batch.size
                    if batch.lines:
                        yield from self._lines_table(batch, records).to_batches()
            except BaseException as exc:  # raised again below: an error inside DuckDB's scan would lose its type
                failure.append(exc)
                exhausted = True

        while not exhausted:
            self.con.register("landing_lines", pa.RecordBatchReader.from_batches(_LINES_SCHEMA, lines()))
            try:
                for chunk in self.con.sql(self.sql).to_arrow_reader(_RESULT_ROWS):
                    yield from self._duckdb_rows(pa.Table.from_batches([chunk]), records, unterminated)
                    if len(records) >= _PYTHON_RECORDS:
                        yield from self._python_rows(records)
            finally:
                self.con.unregister("landing_lines")
        if failure:
            raise failure[0]
        yield from self._python_rows(records)

    def _duckdb_rows(self, result: pa.Table, records: list[SourceRecord],
                     unterminated: set[tuple[str, int]]) -> Iterator[pa.RecordBatch]:
        """The rows DuckDB decided; the lines it left to the Python rules join ``records``."""
        routed = result.filter(result["to_python"])
        for day, file, number, line in zip(*(routed[c].to_pylist() for c in ("snapshot_date", "file", "line", "text"))):
            ending = "" if (file, number) in unterminated else "\n"
            records.append(SourceRecord(day, file, number, text=line + ending))
        parsed = result.filter(pa.compute.invert(result["to_python"])).select(self.schema.names)
        yield from parsed.cast(self.schema).to_batches(max_chunksize=BATCH_LINES)

    def _lines_table(self, batch: _Batch, records: list[SourceRecord]) -> pa.Table:
        """The batch's lines as ``landing_lines`` rows; a line that is not UTF-8 becomes a record instead."""
        text, invalid = _utf8(batch.lines)
        for index in invalid:
            records.append(SourceRecord(batch.days[index], batch.files[index], batch.numbers[index],
                                        error="line is not valid UTF-8"))
        lines = pa.table([pa.array(batch.days, pa.date32()), pa.array(batch.files, pa.string()),
                          pa.array(batch.numbers, pa.int64()), text], schema=_LINES_SCHEMA)
        if invalid:
            lines = lines.filter(pa.array([i not in invalid for i in range(len(batch.lines))]))
        return lines

    def _python_rows(self, records: list[SourceRecord]) -> Iterator[pa.RecordBatch]:
        """parse_records over the records gathered so far, which it empties."""
        taken = records[:]
        del records[:len(taken)]
        if taken:
            yield from parse_records(self.provider, taken, self.hash_key, self.ingest_sources).to_batches(
                max_chunksize=BATCH_LINES)


def _utf8(lines: list[bytes]) -> tuple[pa.Array, set[int]]:
    """The lines as Arrow text, and the indexes of those that are not valid UTF-8 (left null)."""
    # one joined buffer and its offsets: building the array value by value grows (and copies) it many times
    offsets = pa.array([0, *accumulate(map(len, lines))], pa.int64())
    data = pa.py_buffer(b"".join(lines))
    binary = pa.Array.from_buffers(pa.large_binary(), len(lines), [None, offsets.buffers()[1], data])
    try:
        return binary.cast(pa.string()), set()
    except pa.ArrowInvalid:
        invalid = set()
        for index, line in enumerate(lines):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                invalid.add(index)
        return pa.array([None if i in invalid else line.decode("utf-8") for i, line in enumerate(lines)], pa.string()), invalid


def parse_landing_days(
    landing_dir: Path,
    provider: Provider,
    days: Iterable[date],
    hash_key: str,
    ingest_sources: Mapping[date, str],
    digests: dict[date, str] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Every line of the days' landing files as rows of the provider's raw schema, in record batches of bounded
    size; fills ``digests`` (day -> landing.landing_digest) once the iteration ends. Row for row the result equals
    ``parse_records(provider, read_landing(landing_dir, provider, days), hash_key, ingest_sources)`` (in another
    order)."""
    parser = LandingParser(provider, hash_key, ingest_sources)
    try:
        yield from parser.parse(read_landing_batches(landing_dir, provider, days, digests, on_skip))
    finally:
        parser.close()
