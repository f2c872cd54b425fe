"""The landing zone on disk: ``<root>/<provider>/<YYYY-MM-DD>/*.jsonl[.gz]``, read line by line into records.

Every line becomes a :class:`SourceRecord` (parsed later by :func:`appointment_pipeline.domain.parsing.parse_records`);
a file that cannot be read on (a directory, a FIFO, a dangling link, a corrupt gzip) becomes one record marked
``FILE_ERROR`` after the lines that were read, so nothing is lost silently.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from appointment_pipeline.domain.parsing import FILE_ERROR, Provider, SourceRecord

LANDING_SUFFIXES = (".jsonl", ".jsonl.gz")
MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is rejected without being held in memory whole
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LandingDay:
    """What one provider/day folder holds: the files to read, the ``*.jsonl`` entries that cannot be read (each a
    file-level reject), and what is left alone (logged, not loaded)."""

    files: list[Path]
    unreadable: list[tuple[Path, str]]
    skipped: list[tuple[Path, str]]

    @property
    def has_snapshot(self) -> bool:
        return bool(self.files or self.unreadable)


def scan_landing_day(landing_dir: Path, provider: Provider, day: date) -> LandingDay:
    folder = landing_dir / provider.name / day.isoformat()
    files: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    if not folder.is_dir():
        return LandingDay(files, unreadable, skipped)
    root = landing_dir.resolve()
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(LANDING_SUFFIXES):
            skipped.append((path, "not a *.jsonl or *.jsonl.gz file"))
            continue
        if path.is_symlink():
            target = path.resolve()
            if not target.exists():
                unreadable.append((path, "a symbolic link to nothing"))
                continue
            if not target.is_relative_to(root):
                skipped.append((path, "a symbolic link leaving the landing zone"))
                continue
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            unreadable.append((path, f"cannot stat the file ({type(exc).__name__})"))
            continue
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            unreadable.append((path, kind))
            continue
        files.append(path)
    return LandingDay(files, unreadable, skipped)


def scan_reporting_skips(
    landing_dir: Path, provider: Provider, day: date, on_skip: Callable[[str], None] | None
) -> LandingDay:
    """scan_landing_day, with each entry it leaves alone passed to ``on_skip`` (a log line, never a reject)."""
    found = scan_landing_day(landing_dir, provider, day)
    for path, why in found.skipped:
        if on_skip:
            on_skip(f"{path.relative_to(landing_dir).as_posix()}: {why}, skipped")
    return found


def non_day_folders(landing_dir: Path, provider: Provider) -> list[str]:
    """Entries of the provider folder that are not YYYY-MM-DD folders: never a snapshot, only worth a log line."""
    folder = landing_dir / provider.name
    if not folder.is_dir():
        return []
    found = []
    for child in sorted(folder.iterdir()):
        try:
            valid = child.is_dir() and date.fromisoformat(child.name).isoformat() == child.name
        except ValueError:
            valid = False
        if not valid:
            found.append(child.name)
    return found


def landing_files(landing_dir: Path, provider: Provider, day: date) -> list[Path]:
    return scan_landing_day(landing_dir, provider, day).files


class _HashingReader(io.RawIOBase):
    """Reads a file while hashing its raw bytes, so a load's digest costs no second read."""

    def __init__(self, handle, digest) -> None:
        self.handle, self.digest = handle, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
        return count

    def drain(self) -> None:
        while self.handle.read(_READ_CHUNK):
            pass


def _file_digest_update(digest, name: str, file_digest: bytes) -> None:
    digest.update(name.encode() + b"\0")
    digest.update(file_digest)


def landing_digest(landing_dir: Path, provider: Provider, day: date) -> str:
    """Content digest of one day's landing files (names and bytes): the sensor's run key and a load's fingerprint."""
    digest = hashlib.sha256()
    found = scan_landing_day(landing_dir, provider, day)
    for path in found.files:
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
                file_digest.update(chunk)
        _file_digest_update(digest, path.name, file_digest.digest())
    for path, why in found.unreadable:
        _file_digest_update(digest, path.name, why.encode())
    return digest.hexdigest()


def _read_lines(path: Path, day: date, relative: str, file_digest) -> Iterator[SourceRecord]:
    """Every line of one file; a file that breaks (corrupt or truncated gzip, unreadable bytes) ends with one
    record carrying the error, after the lines read before the break."""
    number = 0
    with open(path, "rb") as raw:
        hashing = _HashingReader(raw, file_digest)
        stream: Any = gzip.GzipFile(fileobj=io.BufferedReader(hashing)) if path.name.endswith(".gz") else io.BufferedReader(hashing)
        try:
            while True:
                line = stream.readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                number += 1
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    while True:  # skip the rest of the over-long line
                        rest = stream.readline(_READ_CHUNK)
                        if not rest or rest.endswith(b"\n"):
                            break
                    yield SourceRecord(day, relative, number, error=f"line is longer than {MAX_LINE_BYTES} bytes")
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    yield SourceRecord(day, relative, number, error="line is not valid UTF-8")
                    continue
                # blank lines too: every line is loaded or rejected, none skipped
                yield SourceRecord(day, relative, number, text=text)
        except (OSError, EOFError, zlib.error) as exc:
            why = "truncated" if isinstance(exc, EOFError) else "not a readable gzip stream"
            yield SourceRecord(day, relative, number + 1, error=f"file is {why} after line {number}", obj=FILE_ERROR)
        hashing.drain()



def read_landing(
    landing_dir: Path,
    provider: Provider,
    days: Iterable[date],
    digests: dict[date, str] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[SourceRecord]:
    """Every line of the days' landing files, each file read once; fills ``digests`` (day -> landing_digest).

    A ``*.jsonl`` entry that cannot be read (a directory, a FIFO, a dangling link) becomes one file-level record;
    other names and links leaving the landing zone are passed to ``on_skip`` and not read."""
    for day in days:
        digest = hashlib.sha256()
        found = scan_reporting_skips(landing_dir, provider, day, on_skip)
        for path in found.files:
            file_digest = hashlib.sha256()
            yield from _read_lines(path, day, path.relative_to(landing_dir).as_posix(), file_digest)
            _file_digest_update(digest, path.name, file_digest.digest())
        for path, why in found.unreadable:
            _file_digest_update(digest, path.name, why.encode())
            yield SourceRecord(day, path.relative_to(landing_dir).as_posix(), None, error=f"the entry is {why}",
                               obj=FILE_ERROR)
        if digests is not None:
            digests[day] = digest.hexdigest()
