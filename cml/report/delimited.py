"""The columns a plot draws from a large CSV/TSV file, parsed by numpy's C reader straight into arrays.

Python's csv module makes a ``str`` for every cell and a list for every row (about 300 bytes and a microsecond
and a half per row, and the cycle collector scans every list), although a plot needs only a few columns, as
numbers. Past :data:`FAST_READ_FROM` bytes a table is therefore read in one pass of ``np.loadtxt``: the
columns asked for as numbers become float64 arrays, those asked for as labels Python strings, and every other
cell is only delimited, while every row's field count is still checked against the header's.

The csv path stays the reference: whatever numpy's reader refuses (an empty cell, a number only Python reads,
a lone carriage return, bytes that are not UTF-8, a ragged row) makes :meth:`DelimitedColumns.read` return
``None``, and the caller parses the file as before, reading what it can and naming the line of what it
cannot. The fast path changes the speed and the memory of a read, never its values or its messages.
"""

from __future__ import annotations

import csv
import io
import mmap
import os
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import IO, Any

#: Tables at least this large (bytes) are read column by column; smaller ones by the csv module, which
#: starts faster and is all ``cml table`` needs.
FAST_READ_FROM = 256 * 1024
#: How much of the file's start is parsed by the csv module for its header and a sample of its rows.
SAMPLE_BYTES = 64 * 1024
#: Tables with more columns are read by the csv module (numpy's reader makes a record field per column).
MAX_COLUMNS = 1024
#: The information separators, which numpy's float parser strips around a number like spaces and Python's does not.
_SEPARATORS = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")
#: Python's csv module refuses NUL before 3.11: there, a table holding one is read by it, as small tables are.
_REFUSED_BY_CSV = (b"\x00",) if sys.version_info < (3, 11) else ()
#: Extensions numpy's opener decompresses (a path is read as it is, by a Python file object, instead).
_DECOMPRESSED_BY_NUMPY = (".gz", ".bz2", ".xz", ".lzma", ".zip")
#: The dtype of a column nobody asked for: one character kept, the rest of the cell skipped.
_SKIPPED = "U1"


def sniff_delimiter(text: str) -> str:
    """The delimiter of a table whose file name does not tell it: a tab if the first line has tabs and no comma."""
    first_line = text.split("\n", 1)[0]
    return "\t" if "\t" in first_line and "," not in first_line else ","


class DelimitedColumns:
    """A large CSV/TSV table read on demand, one column set per pass.

    ``header`` is the first row. Of the rows sampled from the file's start, ``numbers`` marks the columns whose
    cells are all numbers or empty (what a plot may draw) and ``plain_numbers`` those whose cells numpy's
    reader takes as float64 directly; the other columns go through Python's ``float`` per cell, as the csv
    path does.
    """

    def __init__(self, delimiter: str, header: list[str], sample: list[list[str]],
                 path: str | None = None, data: bytes | None = None):
        self.delimiter = delimiter
        self.header = header
        self.path = path
        self.data = data
        self._found: dict[bytes, bool] = {}
        width = len(header)
        columns = list(zip(*sample)) if sample else [() for _ in range(width)]
        self.numbers = [bool(cells) and all(cell == "" or _is_number(cell) for cell in cells) for cells in columns]
        self.plain_numbers = [bool(cells) and all(map(_is_plain_number, cells)) for cells in columns]

    @classmethod
    def open(cls, delimiter: str | None, path: str | None = None, data: bytes | None = None,
             size: int | None = None) -> DelimitedColumns | None:
        """The table in ``data`` (bytes already read) or in the file ``path``, when it is large enough to read
        by columns and its start is plain enough (a one-line header of distinct names); else ``None``."""
        if size is None:
            size = len(data) if data is not None else os.path.getsize(path or "")
        if size < FAST_READ_FROM:
            return None
        if data is not None:
            start = data[:SAMPLE_BYTES]
        else:
            with open(path or "", "rb") as handle:
                start = handle.read(SAMPLE_BYTES)
        # Whole lines only, so that a multi-byte character or a row is never cut in the sample.
        start = start[: start.rfind(b"\n") + 1]
        try:
            text = start.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
        delimiter = delimiter or sniff_delimiter(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None or reader.line_num != 1:
                return None
            sample = [row for row in reader if row]
        except csv.Error:
            return None
        header = [cell.strip() for cell in header]
        if not any(header) or len(set(header)) != len(header) or len(header) > MAX_COLUMNS:
            return None
        if not sample or any(len(row) != len(header) for row in sample):
            return None  # a ragged row, or no whole row in the sample: the csv path names the problem
        return cls(delimiter, header, sample, path=path, data=data)

    def numeric_columns(self) -> list[str]:
        """The columns whose sampled cells are all numbers or empty."""
        return [name for name, numbers in zip(self.header, self.numbers) if numbers]

    def read(self, floats: Collection[str] = (), texts: Collection[str] = ()) -> tuple[dict[str, Any], dict[str, list]] | None:
        """Columns ``floats`` as float arrays (empty cells NaN) and ``texts`` as lists of strings, read in one
        pass; ``None`` when numpy's reader refuses the file or it has no data rows (read it with the csv module)."""
        if _REFUSED_BY_CSV and self._holds(*_REFUSED_BY_CSV):
            return None
        records = self._records(floats, texts, direct=not (floats and self._holds(*_SEPARATORS)))
        if records is None:
            return None
        # With text columns, the numbers are copied out so the records (a pointer per text cell) can be freed.
        copied = bool(texts)
        numbers: dict[str, Any] = {}
        strings: dict[str, list] = {}
        for index, name in enumerate(self.header):
            values = records[f"f{index}"]
            if name in texts:
                strings[name] = values.tolist()
            if name in floats:
                converted = (values.copy() if copied else values) if values.dtype.kind == "f" else _floats_of_texts(values)
                if converted is None:
                    return None
                numbers[name] = converted
        return numbers, strings

    def _records(self, floats: Collection[str], texts: Collection[str], direct: bool) -> Any:
        """One pass of numpy's reader: a record per row, a field per column (``direct``: plain-number columns
        parsed as float64, else as strings converted afterwards)."""
        import numpy as np

        fields: list[tuple[str, Any]] = []
        for index, name in enumerate(self.header):
            if name in floats and name not in texts and direct and self.plain_numbers[index]:
                fields.append((f"f{index}", np.float64))
            elif name in floats or name in texts:
                fields.append((f"f{index}", object))
            else:
                fields.append((f"f{index}", _SKIPPED))
        options: dict[str, Any] = dict(dtype=np.dtype(fields), delimiter=self.delimiter, comments=None, quotechar='"',
                                       skiprows=1, ndmin=1)
        try:
            if self._numpy_may_open() and (not texts or not self._holds(b"\r")):
                # numpy opens the file itself, faster than through a Python file object; its newline translation
                # cannot change a number, only a quoted text's "\r", so text columns with one go the exact way.
                records = np.loadtxt(os.path.abspath(self.path or ""), encoding="utf-8-sig", **options)
            else:
                with self._text() as handle:
                    records = np.loadtxt(handle, **options)
        except (UnicodeDecodeError, OSError):  # the csv path reads it again and names the problem
            return None
        except ValueError as error:
            # A number column with an empty cell past the sample: once more with that column as text.
            direct_floats = any(kind is np.float64 for _, kind in fields)
            if direct and direct_floats and "could not convert string" in str(error):
                return self._records(floats, texts, direct=False)
            return None
        return records if len(records) else None

    def _numpy_may_open(self) -> bool:
        """Whether numpy may be given the file's path: an absolute one (numpy's opener fetches a path that reads as
        a URL, ``http://…``) without an extension it would decompress (``.gz``, ``.bz2``, ``.xz``, ``.lzma``)."""
        return self.path is not None and not self.path.lower().endswith(_DECOMPRESSED_BY_NUMPY)

    def _holds(self, *wanted: bytes) -> bool:
        """Whether the table holds any of the bytes ``wanted`` (or cannot be scanned): a scan of the data or of the
        mapped file for each byte not yet looked for, some ten milliseconds per byte for 10^7 rows."""
        for byte in wanted:
            if byte not in self._found:
                try:
                    if self.data is not None:
                        self._found[byte] = byte in self.data
                    else:
                        with open(self.path or "", "rb") as handle, \
                                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                            self._found[byte] = mapped.find(byte) != -1
                except (OSError, ValueError):
                    self._found[byte] = True
        return any(self._found[byte] for byte in wanted)

    @contextmanager
    def _text(self) -> Iterator[IO[str]]:
        """The table as text, streamed from its file (never wholly in memory twice)."""
        if self.data is not None:
            with io.TextIOWrapper(io.BytesIO(self.data), encoding="utf-8-sig", newline="") as handle:
                yield handle
        else:
            with open(self.path or "", encoding="utf-8-sig", newline="") as handle:
                yield handle


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_plain_number(cell: str) -> bool:
    """Whether numpy's reader takes ``cell`` as a float exactly as Python does: ASCII without digit separators."""
    return cell.isascii() and "_" not in cell and _is_number(cell)


def _floats_of_texts(values: Any) -> Any:
    """Strings as floats, as the csv path converts them (empty cells NaN); ``None`` if one is not a number."""
    import numpy as np

    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        pass
    cleaned = values.copy()
    cleaned[values == ""] = "nan"
    try:
        return cleaned.astype(np.float64)
    except (TypeError, ValueError):
        return None
