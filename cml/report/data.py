"""Parse metrics files and tabular data (CSV, TSV, JSON, JSON lines, YAML, TOML).

Everything here works on bytes already read, so the same parser serves the
working tree and a git revision. Errors name the file and, where the format
tells, the line.

Every input is bounded before it can cost much: files are refused by size before they are
read, YAML aliases are counted (and what they expand to) before a document is built, and no
document may nest deeper than :data:`MAX_NESTING` or, for metrics and params, hold more than
:data:`MAX_DOCUMENT_VALUES` values.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import math
import operator
import os
import re
import stat
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

from cml.ci import detect
from cml.errors import CmlError, GitError, InputError
from cml.git import Revision, resolve as resolve_revision
from cml.fileio import FilePath, decode_text, read_bytes, too_large
from cml.report.delimited import DelimitedColumns, sniff_delimiter

try:
    import tomllib
except ImportError:  # Python < 3.11 reads no TOML
    tomllib = None
#: Whether this Python reads TOML.
READS_TOML = tomllib is not None


TEXT_TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")

#: Largest metrics or params file read (their values are summary numbers, not per-sample data); CSV/TSV ones
#: (training logs whose last row is read) may be as large as tables.
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
#: Largest table (CSV, TSV, JSON, YAML) read by ``cml table``, the plots and ``cml metrics classification``.
MAX_TABLE_BYTES = 256 * 1024 * 1024
#: Most keys and values (mappings, lists and scalars, YAML aliases expanded) a metrics or params file may hold.
MAX_DOCUMENT_VALUES = 100_000
#: Most keys and values a YAML table may expand to.
MAX_TABLE_VALUES = 10_000_000
#: Deepest nesting of mappings and lists in any document.
MAX_NESTING = 100
#: Most YAML aliases (``*name``) in one document.
MAX_YAML_ALIASES = 100

DOCUMENT_FILES = "metrics and params files"
TABLE_FILES = "tables"
#: The two kinds of summary document: metrics (compared with a direction) and params.
DocumentKind = Literal["metrics", "params"]
EXAMPLES: dict[DocumentKind, str] = {"metrics": 'metrics such as {"accuracy": 0.9}', "params": 'parameters such as {"lr": 0.01}'}


def suffix_of(path: FilePath) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def read_input(path: FilePath, limit: int, what: str) -> bytes:
    """The bytes of input file ``path``; one over ``limit`` bytes is refused before it is read (``what`` names
    the kind of file in the error, ``metrics and params files``)."""
    return read_bytes(path, limit, what)


def document_limit(path: FilePath) -> tuple[int, str]:
    """The size limit of a metrics or params file and the words naming it; CSV/TSV files are training logs
    read for their last row, so they get the table limit."""
    if suffix_of(path) in TEXT_TABLE_DELIMITERS:
        return MAX_TABLE_BYTES, TABLE_FILES
    return MAX_DOCUMENT_BYTES, DOCUMENT_FILES


def read_document(path: FilePath) -> bytes:
    """The bytes of metrics or params file ``path``, refused before reading when over its limit."""
    return read_input(path, *document_limit(path))


def check_size(data: bytes, path: FilePath, limit: int, what: str) -> None:
    """Refuse ``data`` (a file read from git, say) over ``limit`` bytes, naming the file."""
    if len(data) > limit:
        raise too_large(path, len(data), limit, what)


def nesting_error(path: FilePath, line: int | None = None) -> InputError:
    """The error for a document nested deeper than :data:`MAX_NESTING` (or than Python can parse)."""
    return InputError(path, f"nests mappings or lists more than {MAX_NESTING} levels deep; flatten the structure",
                      line=line)


def _too_many_values(path: FilePath, limit: int, line: int | None = None) -> InputError:
    return InputError(path, f"holds more than {limit:,} keys and values (YAML aliases counted as often as they "
                            "repeat); keep per-sample data in a table (CSV/TSV) instead", line=line)


def check_tree(document: Any, path: FilePath, max_values: int | None = None) -> None:
    """Refuse a parsed document nested deeper than :data:`MAX_NESTING`, or holding more than ``max_values`` keys
    and values.

    Walks at most ``max_values`` nodes, so a YAML document whose aliases expand to billions stops early.
    """
    count = 0
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        children: Iterable[Any]
        if isinstance(node, dict):
            count += len(node)  # the keys
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_NESTING:
            raise nesting_error(path)
        stack.extend((child, depth + 1) for child in children)
        if max_values is not None and count + len(stack) > max_values:
            raise _too_many_values(path, max_values)


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No garbage collection while a parser runs. A parser may recurse to the interpreter's limit on hostile
    nesting, where a collection runs other objects' finalizers with no stack left, which fail noisily on stderr
    ("Exception ignored in…") before the one-line error; and the csv module's list per row would set off
    collection after collection of objects that cannot be garbage yet."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_json(text: str, path: FilePath) -> Any:
    try:
        with collection_paused():
            return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(path, f"invalid JSON: {error.msg}", line=error.lineno, column=error.colno) from None
    except RecursionError:
        raise nesting_error(path) from None


def _check_yaml_events(yaml, text: str, path: FilePath, loader, max_values: int) -> None:
    """Count aliases, nesting and the values aliases expand to on the event stream, before anything is built."""
    expanded: dict[str, int] = {}  # anchor -> values its node stands for
    open_collections: list[tuple[str | None, int]] = []  # (anchor, values counted when the collection began)
    values = aliases = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.ScalarEvent):
            values += 1
            if event.anchor:
                expanded[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise InputError(path, f"has more than {MAX_YAML_ALIASES} YAML aliases (*name); write the values out",
                                 line=event.start_mark.line + 1)
            values += expanded.get(event.anchor, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            values += 1
            open_collections.append((event.anchor, values))
            if len(open_collections) > MAX_NESTING:
                raise nesting_error(path, event.start_mark.line + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start = open_collections.pop()
            if anchor:
                expanded[anchor] = values - start + 1
        if values > max_values:
            raise _too_many_values(path, max_values, event.start_mark.line + 1)


def parse_yaml(text: str, path: FilePath, max_values: int = MAX_DOCUMENT_VALUES) -> Any:
    """Parse YAML with the safe loader, refusing alias bombs and deep nesting before the document is built."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_yaml_events(yaml, text, path, loader, max_values)
        return yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise InputError(path, f"invalid YAML: {problem}", line=line, column=column) from None
    except yaml.YAMLError as error:
        raise InputError(path, f"invalid YAML: {error}") from None


def parse_toml(text: str, path: FilePath) -> Any:
    """Parse TOML (Python 3.11 and newer)."""
    if tomllib is None:
        raise InputError(path, "reading TOML needs Python 3.11 or newer; use JSON or YAML")
    try:
        with collection_paused():
            return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(path, f"invalid TOML: {error}") from None
    except RecursionError:
        raise nesting_error(path) from None


def parse_delimited(text: str, path: FilePath, delimiter: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV/TSV text; a ragged row is an error naming its line."""
    delimiter = delimiter or sniff_delimiter(text)
    if csv.field_size_limit() < MAX_TABLE_BYTES:
        csv.field_size_limit(MAX_TABLE_BYTES)  # a cell is bounded by the file's limit, as numpy's reader bounds it
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise InputError(path, "is empty; expected a header row and data rows")
        header = [cell.strip() for cell in header]
        rows = list(filter(None, reader))
    except csv.Error as error:
        raise InputError(path, f"invalid CSV: {error}", line=reader.line_num) from None
    width = len(header)
    if any(length != width for length in set(map(len, rows))):
        _raise_ragged_row(text, path, delimiter, width)
    return header, rows


def _raise_ragged_row(text: str, path: FilePath, delimiter: str, width: int) -> None:
    """Find the first row whose field count differs from the header's and name its line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    for row in reader:
        if row and len(row) != width:
            raise InputError(
                path,
                f"has {len(row)} fields where the header has {width}; check the delimiter and quoting",
                line=reader.line_num,
            )


def to_scalar(text: str) -> Any:
    """Turn a CSV cell into an int or float when it is one, else keep the text."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return text


def parse_document(data: bytes, path: FilePath, label: str | None = None,
                   kind: DocumentKind = "metrics") -> Any:
    """Parse a metrics or params (``kind``) file by its extension (CSV/TSV: the last row).

    ``label`` names the file in errors when it differs from ``path`` (a file at a revision).
    """
    suffix = suffix_of(path)
    check_size(data, label or path, *document_limit(path))
    path = label or path
    text = decode_text(data, path)
    if suffix == ".json":
        document = parse_json(text, path)
    elif suffix == ".toml":
        document = parse_toml(text, path)
    elif suffix in TEXT_TABLE_DELIMITERS:
        header, rows = parse_delimited(text, path, TEXT_TABLE_DELIMITERS[suffix])
        if not rows:
            raise InputError(path, "has a header but no data rows")
        document = {name: to_scalar(value) for name, value in zip(header, rows[-1])}
    else:
        document = parse_yaml(text, path)
    if document is None:
        raise InputError(path, f"is empty; expected {EXAMPLES.get(kind, EXAMPLES['metrics'])}")
    if not isinstance(document, dict):
        raise InputError(path, f"must hold a mapping of names to values, not a {type(document).__name__}")
    check_tree(document, path, MAX_DOCUMENT_VALUES)
    return document


def _named_items(tree: dict | list):
    return tree.items() if isinstance(tree, dict) else enumerate(tree)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings and lists into ``a.b.0.c`` keys, in document order (in linear time, no recursion)."""
    if not isinstance(tree, (dict, list)):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    stack = [(prefix, iter(_named_items(tree)))]
    while stack:
        parent, items = stack[-1]
        for key, value in items:
            name = f"{parent}.{key}" if parent else str(key)
            if isinstance(value, (dict, list)) and value:
                stack.append((name, iter(_named_items(value))))
                break
            flat[name] = value
        else:
            stack.pop()
    return flat


def is_number(value: Any) -> bool:
    """True for ints and finite or infinite floats, never for booleans."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_metrics(path: FilePath, data: bytes | None = None, label: str | None = None,
                 kind: DocumentKind = "metrics") -> dict[str, Any]:
    """Flattened metrics (or params, with ``kind``) of one file, read from disk unless ``data`` is given."""
    if data is None:
        data = read_document(path)
    return flatten(parse_document(data, path, label, kind))



def listed(items, most: int = 20, quote: bool = False) -> str:
    """The first ``most`` of ``items`` joined by commas (quoted with ``quote``), ``…`` for the rest: how an error
    names what there is without growing with the input."""
    items = list(items)
    shown = ", ".join(f"'{item}'" if quote else str(item) for item in items[:most])
    return shown + (", …" if len(items) > most else "")

@dataclass
class Table:
    """Column-oriented tabular data read from one file.

    ``rows_start_line`` is the file line of the first data row when the format
    has lines (CSV/TSV/JSON lines), so errors can point at a line.

    A large CSV/TSV file is read by columns: :meth:`floats` and :meth:`labels` (with :meth:`prefetch` to read
    several in one pass) parse only the columns asked for, and ``data``, the cells as lists, is parsed the
    first time a caller reads it.
    """

    path: str
    columns: list[str]
    data: Mapping[str, list] = field(repr=False)
    rows_start_line: int | None = None
    by_columns: DelimitedColumns | None = field(default=None, repr=False, compare=False)
    _floats: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _texts: dict[str, TextColumn] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        for read in (self._floats, self._texts):
            for values in read.values():
                return len(values)
        return len(self.data[self.columns[0]]) if self.columns else 0

    def require(self, name: str, option: str | None = None) -> None:
        """Check that column ``name`` exists; an unknown name lists the columns there are."""
        if name not in self.data:
            known = listed(self.columns)
            via = f" (from {option})" if option else ""
            raise InputError(self.path, f"has no column '{name}'{via}; its columns are: {known}")

    def column(self, name: str, option: str | None = None) -> list:
        """The values of column ``name``; an unknown name lists the columns there are."""
        self.require(name, option)
        return self.data[name]

    def where(self, index: int) -> dict:
        """Keyword arguments for :class:`InputError` that point at data row ``index``."""
        if self.rows_start_line is not None:
            return {"line": self.rows_start_line + index}
        return {}

    def numbers(self, name: str, option: str | None = None) -> list[float]:
        """Column ``name`` as floats; the first non-numeric cell is an error naming its row."""
        values = self.column(name, option)
        numbers = []
        for index, value in enumerate(values):
            if is_number(value):
                numbers.append(float(value))
                continue
            try:
                numbers.append(float(value))
            except (TypeError, ValueError):
                where = self.where(index)
                row = "" if where else f" in row {index + 1}"
                raise InputError(
                    self.path, f"column '{name}' has a non-numeric value {value!r}{row}", **where
                ) from None
        return numbers

    def prefetch(self, floats: Iterable[str] = (), texts: Iterable[str] = ()) -> None:
        """Read the columns ``floats`` (numbers) and ``texts`` (labels) of a large CSV/TSV file in one pass, so
        that the calls of :meth:`floats` and :meth:`labels` that follow do not each read the file. Names the
        table lacks are left to those calls to report; other tables need no prefetching."""
        if self.by_columns is None:
            return
        wanted_floats = [name for name in floats if name in self.data and name not in self._floats]
        wanted_texts = [name for name in texts if name in self.data and name not in self._texts]
        if not wanted_floats and not wanted_texts:
            return
        read = self.by_columns.read(wanted_floats, wanted_texts)
        if read is None:
            self.by_columns = None  # numpy's reader refused it: the csv module reads it, naming what is wrong
            return
        self._floats.update(read[0])
        self._texts.update((name, TextColumn(values)) for name, values in read[1].items())

    def numeric_candidates(self) -> list[str]:
        """The columns worth trying as numbers: those whose sampled cells are numbers in a file read by columns,
        else every column."""
        if self.by_columns is not None:
            return self.by_columns.numeric_columns()
        return list(self.columns)

    def floats(self, name: str, option: str | None = None) -> Any:
        """Column ``name`` as a float array; empty cells become NaN, other text is an error naming its row."""
        import numpy as np

        self.require(name, option)
        self.prefetch(floats=[name])
        if name in self._floats:
            return self._floats[name]
        values = self.data[name]
        try:
            return np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            cleaned = ["nan" if v is None or v == "" else v for v in values]
            try:
                return np.asarray(cleaned, dtype=float)
            except (TypeError, ValueError):
                self.numbers(name, option)  # raises, naming the first bad cell
                raise InputError(self.path, f"column '{name}' is not numeric") from None

    def labels(self, name: str, option: str | None = None) -> TextColumn:
        """Column ``name`` as text labels (``1`` and ``1.0`` stay distinct only if written so)."""
        self.require(name, option)
        self.prefetch(texts=[name])
        if name in self._texts:
            return self._texts[name]
        values = self.data[name]
        if set(map(type, values)) == {str}:
            return TextColumn(values)
        return TextColumn(map(_label_text, values))


class TextColumn(list):
    """A column's cells as text (what :meth:`Table.labels` returns): a list known to hold only ``str``, which the
    label encoders need not check again, one cell at a time."""


class _CellsOnDemand(Mapping[str, list]):
    """The cells of a table read by columns, as lists: its names are known at once, its cells are parsed by the
    csv module the first time a caller needs them (``cml table``, a plot of text values, an error to name)."""

    def __init__(self, names: list[str], parse: Callable[[], Mapping[str, list]]):
        self._names = dict.fromkeys(names)
        self._parse = parse
        self._cells: Mapping[str, list] | None = None

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, name: str) -> list:
        if name not in self._names:
            raise KeyError(name)
        if self._cells is None:
            self._cells = self._parse()
        return self._cells[name]


def _label_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table_from_records(records: list, path: FilePath, start_line: int | None = None) -> Table:
    """A :class:`Table` from a list of mappings; columns in order of first appearance."""
    columns: list[str] = []
    seen = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            where = {"line": start_line + index} if start_line else {}
            raise InputError(path, f"record {index + 1} is a {type(record).__name__}, expected an object", **where)
        for key in record:
            if key not in seen:
                seen.add(key)
                columns.append(str(key))
    data = {name: [record.get(name) for record in records] for name in columns}
    return Table(path=os.fspath(path), columns=columns, data=data, rows_start_line=start_line)


def _document_to_table(document: Any, path: FilePath) -> Table:
    if isinstance(document, dict):
        values = list(document.values())
        if len(document) == 1 and isinstance(values[0], list):
            # dvclive's sklearn plots: {"roc": [{"fpr": …, "tpr": …}, …]}
            return table_from_records(values[0], path)
        if values and all(isinstance(v, list) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) != 1:
                raise InputError(path, "has columns of different lengths; every list must be as long as the others")
            return Table(path=os.fspath(path), columns=[str(k) for k in document], data={str(k): v for k, v in document.items()})
        raise InputError(path, "must hold a list of records, or an object of equal-length column lists")
    if isinstance(document, list):
        return table_from_records(document, path)
    raise InputError(path, f"must hold a list of records, not a {type(document).__name__}")


def parse_table(data: bytes, path: FilePath, label: str | None = None) -> Table:
    """Parse CSV/TSV/JSON/JSON lines/YAML bytes into a :class:`Table` (at least one row).

    ``label`` names the file in errors when it differs from ``path`` (a file at a revision).
    """
    suffix = suffix_of(path)
    path = label or path
    check_size(data, path, MAX_TABLE_BYTES, TABLE_FILES)
    text = decode_text(data, path)
    if suffix in JSON_LINES_SUFFIXES:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    with collection_paused():
                        records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise InputError(path, f"invalid JSON: {error.msg}", line=number, column=error.colno) from None
                except RecursionError:
                    raise nesting_error(path, number) from None
        check_tree(records, path)
        table = table_from_records(records, path, start_line=1)
    elif suffix == ".json":
        document = parse_json(text, path)
        check_tree(document, path)
        table = _document_to_table(document, path)
    elif suffix in (".yaml", ".yml"):
        table = _document_to_table(parse_yaml(text, path, MAX_TABLE_VALUES), path)
    else:
        with collection_paused():
            header, rows = parse_delimited(text, path, TEXT_TABLE_DELIMITERS.get(suffix))
            data_by_name = {}
            for position, name in enumerate(header):
                if name in data_by_name:
                    raise InputError(path, f"has the column '{name}' twice; give columns unique names", line=1)
                data_by_name[name] = list(map(operator.itemgetter(position), rows))
        table = Table(path=os.fspath(path), columns=header, data=data_by_name, rows_start_line=2)
    if not table.columns or len(table) == 0:
        raise InputError(path, "has no data rows")
    return table


def load_table(path: FilePath, data: bytes | None = None, label: str | None = None) -> Table:
    """Read a table from ``path`` (or from ``data`` already read, e.g. at a git revision); a large CSV/TSV
    file is read by columns, as its readers ask for them."""
    table = _table_by_columns(path, data, label)
    if table is not None:
        return table
    if data is None:
        data = read_input(path, MAX_TABLE_BYTES, TABLE_FILES)
    return parse_table(data, path, label)


def _table_by_columns(path: FilePath, data: bytes | None, label: str | None) -> Table | None:
    """A large CSV/TSV table whose columns are parsed when asked for, or ``None`` for other tables (and for
    files that are missing, not regular or too large, which :func:`read_input` reports)."""
    suffix = suffix_of(path)
    if suffix in JSON_LINES_SUFFIXES or suffix in (".json", ".yaml", ".yml"):
        return None
    name = label or path
    delimiter = TEXT_TABLE_DELIMITERS.get(suffix)
    if data is not None:
        check_size(data, name, MAX_TABLE_BYTES, TABLE_FILES)
        by_columns = DelimitedColumns.open(delimiter, data=data)
    else:
        try:
            status = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_TABLE_BYTES:
            return None
        try:
            by_columns = DelimitedColumns.open(delimiter, path=os.fspath(path), size=status.st_size)
        except OSError:
            return None

    def cells() -> Mapping[str, list]:
        whole = data if data is not None else read_input(path, MAX_TABLE_BYTES, TABLE_FILES)
        return parse_table(whole, path, label).data

    if by_columns is None:
        return None
    return Table(path=os.fspath(name), columns=by_columns.header, data=_CellsOnDemand(by_columns.header, cells),
                 rows_start_line=2, by_columns=by_columns)


def load_table_at(path: FilePath, revision: Revision) -> Table | None:
    """The table ``path`` as it was at git ``revision`` (read from git, no checkout), or ``None`` when the
    revision lacks the file; messages name it as ``path (at REV)``."""
    data = revision.read_file(path, MAX_TABLE_BYTES, TABLE_FILES)
    if data is None:
        return None
    return load_table(path, data, f"{os.fspath(path)} (at {revision.name})")


def comparison_revision(rev: str | None = None, environ: Mapping[str, str] | None = None,
                        cwd: FilePath | None = None) -> tuple[Revision | None, str | None]:
    """The revision a plot compares with: ``rev`` (which must resolve: an error otherwise), else in CI the pull
    request's target branch when the clone has it, else none; with why there is none when CI's branch is missing
    (one line, for a warning)."""
    if rev:
        return resolve_revision(rev, cwd), None
    default = detect(environ).base_revision
    if default is None:
        return None, None
    try:
        return resolve_revision(default, cwd), None
    except GitError as error:
        return None, f"no comparison with the base branch: {error}"


def base_table(path: FilePath, revision: Revision) -> tuple[Table | None, str | None]:
    """``path`` at ``revision`` for a plot to compare with: the table, or ``None`` and why in one line (the file
    is not there, or cannot be read there). A comparison is never worth failing the plot over: the branch may
    have added or fixed the file."""
    try:
        table = load_table_at(path, revision)
    except CmlError as error:
        return None, f"no comparison with {revision.name}: {error}"
    if table is None:
        return None, f"{os.fspath(path)} is not at {revision.name}; nothing to compare with"
    return table, None


_DIGIT_RUNS = re.compile(r"([0-9]+)")


def natural_sort_key(label: str) -> tuple[Any, ...]:
    """Sort numbers numerically, then text with its embedded numbers numerically: ``2`` before ``10``,
    ``class2`` before ``class10``, ``img_9`` before ``img_10``; numbers first, text case-insensitively."""
    try:
        number = float(label)
        if not math.isnan(number):
            return (0, number, label)
    except (TypeError, ValueError):
        pass
    text = str(label)
    # Splitting on digit runs puts text at even positions and numbers at odd ones, so any two keys compare. A
    # number compares as (digits without leading zeros, those digits): numeric order without int()'s length limit.
    parts = tuple((len(part.lstrip("0")), part.lstrip("0")) if position % 2 else part
                  for position, part in enumerate(_DIGIT_RUNS.split(text.lower())))
    return (1, parts, text)
