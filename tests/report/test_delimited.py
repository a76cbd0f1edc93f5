"""Large CSV/TSV tables read by columns through numpy's reader give exactly what the csv module's path gives:
the same numbers, the same labels, the same errors naming the same lines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cml.errors import InputError
from cml.report.data import load_table, parse_table
from cml.report.delimited import FAST_READ_FROM, DelimitedColumns
from cml.report.plots.line import prefetch_curves, x_values, y_columns


def large(header: str, row: str, tail: str = "", rows: int | None = None) -> bytes:
    """``header``, then ``row`` repeated past the fast-read size, then ``tail`` (rows the sample does not see)."""
    count = rows or FAST_READ_FROM // max(len(row), 1) + 10
    return (header + row * count + tail).encode()


def by_columns(tmp_path: Path, data: bytes, name: str = "table.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    table = load_table(path)
    assert table.by_columns is not None, "expected the table to be read by columns"
    return table


def reference(data: bytes, path: Path):
    table = parse_table(data, path)
    assert table.by_columns is None
    return table


def outcome(read, *args):
    """The value ``read(*args)`` returns, or the message of the InputError it raises."""
    try:
        value = read(*args)
    except InputError as error:
        return ("error", str(error))
    if isinstance(value, np.ndarray):
        return ("floats", [repr(v) if not math.isnan(v) else "nan" for v in value.tolist()])
    return ("value", value)


CASES = {
    "plain numbers": ("a,b\n", "1,2.5\n", ""),
    "exponents, signs, specials": ("a,b\n", "-1e-3,+4\n", "nan,inf\n-Infinity,1.\n"),
    "whitespace around numbers": ("a,b\n", " 1 ,\t2\n", ""),
    "empty cell past the sample": ("a,b\n", "1,2\n", "3,\n4,5\n"),
    "empty cells in the sample": ("a,b\n", "1,\n2,3\n", ""),
    "text past the sample": ("a,b\n", "1,2\n", "3,oops\n"),
    "digit separators": ("a,b\n", "1,2\n", "1_000,3\n"),
    "arabic digits": ("a,b\n", "1,2\n", "\u0661,3\n"),
    "ragged row past the sample": ("a,b\n", "1,2\n", "3,4,5\n6,7\n"),
    "short row past the sample": ("a,b\n", "1,2\n", "3\n6,7\n"),
    "blank lines": ("a,b\n", "1,2\n\n", ""),
    "whitespace-only line": ("a,b\n", "1,2\n", "   \n3,4\n"),
    "CRLF": ("a,b\r\n", "1,2\r\n", ""),
    "lone carriage returns": ("a,b\r", "1,2\r", ""),
    "byte-order mark": ("\ufeffa,b\n", "1,2\n", ""),
    "quoted numbers": ('a,b\n', '"1","2"\n', ""),
    "quoted labels with delimiters and line breaks": ("label,b\n", '"x, y",1\n', '"multi\nline",2\n"q""uote",3\n'),
    "a quoted carriage return in a label": ("label,b\n", '"x",1\n', '"multi\r\nline",2\n"cr\ronly",3\n'),
    "labels with spaces": ("label,b\n", " cat ,1\n", "dog,2\n"),
    "a number column read as labels": ("label,b\n", "1,1\n", "1.0,2\n01,3\n"),
    "hash signs are data": ("a,b\n", "1,2\n", "#3,4\n"),
    "NUL bytes past the sample": ("label,b\n", "x,1\n", "a\x00b,2\n"),
    "unicode labels": ("label,b\n", "café,1\n", "日本,2\n"),
    # numpy's reader strips what str.isspace calls space around a number, "\x1c"-"\x1f" too; float() does not
    "information separators around numbers past the sample": ("a,b\n", "1,2\n", "3,4\x1c\n\x1f5,6\n"),
    # the csv module refuses a cell over csv.field_size_limit() (131,072 characters); numpy's reader has no limit
    "a cell over the csv module's field limit past the sample": ("label,b\n", "x,1\n", '"' + "z" * 200_000 + '",2\n'),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_columns_read_by_numpy_equal_the_csv_path(tmp_path, case):
    header, row, tail = CASES[case]
    data = large(header, row, tail)
    path = tmp_path / "table.csv"
    path.write_bytes(data)
    fast = load_table(path)
    names = [name.strip() for name in header.lstrip("\ufeff").strip().split(",")]
    def csv_path(method, name):
        return getattr(parse_table(data, path), method)(name)

    for name in names:
        for method in ("floats", "labels"):
            fresh = load_table(path)
            assert fresh.columns == names
            assert outcome(getattr(fresh, method), name) == outcome(csv_path, method, name), (method, name)
        assert outcome(fast.floats, name) == outcome(csv_path, "floats", name), name
    assert outcome(len, fast) == outcome(lambda: len(parse_table(data, path)))


def test_one_pass_reads_labels_and_numbers_together(tmp_path):
    table = by_columns(tmp_path, large("actual,score,note\n", "cat,0.5,x\n", "dog,0.25,y\n"))
    table.prefetch(texts=["actual"], floats=["score"])
    assert table.by_columns is not None
    labels, scores = table.labels("actual"), table.floats("score")
    assert labels[-1] == "dog" and labels[0] == "cat" and scores[-1] == 0.25
    assert len(table) == len(labels)


def test_a_revision_s_bytes_are_read_by_columns_too(tmp_path):
    data = large("step,loss\n", "1,0.5\n", "2,0.25\n")
    table = load_table(tmp_path / "gone.csv", data, label="gone.csv (at main)")
    assert table.by_columns is not None and table.path == "gone.csv (at main)"
    assert table.floats("loss")[-1] == 0.25


def test_errors_found_past_the_sample_name_the_line(tmp_path):
    data = large("step,loss\n", "1,0.5\n", "2,oops\n", rows=50_000)
    table = by_columns(tmp_path, data)
    with pytest.raises(InputError, match=r"table\.csv:50002: column 'loss' has a non-numeric value 'oops'"):
        table.floats("loss")


def test_a_ragged_row_past_the_sample_is_the_csv_path_s_error(tmp_path):
    table = by_columns(tmp_path, large("a,b\n", "1,2\n", "3,4,5\n", rows=100_000))
    with pytest.raises(InputError, match=r"table\.csv:100002: has 3 fields where the header has 2"):
        table.floats("a")


def test_bytes_that_are_not_utf8_past_the_sample(tmp_path):
    data = large("a,b\n", "1,2\n", rows=100_000) + b"3,\xff\n"
    table = by_columns(tmp_path, data)
    with pytest.raises(InputError, match=r"table\.csv:100002: is not UTF-8 text"):
        table.floats("b")


def test_tab_separated_and_sniffed_delimiters(tmp_path):
    tsv = by_columns(tmp_path, large("step\tloss\n", "1\t0.5\n"), "log.tsv")
    assert tsv.floats("loss")[0] == 0.5
    sniffed = by_columns(tmp_path, large("step\tloss\n", "1\t0.5\n"), "log.txt")
    assert sniffed.by_columns.delimiter == "\t" and sniffed.floats("step")[0] == 1


def test_small_files_and_unusual_headers_take_the_csv_path(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text("a,b\n1,2\n")
    assert load_table(small).by_columns is None
    assert DelimitedColumns.open(None, data=large('"a\nb",c\n', "1,2\n")) is None  # header spans two lines
    assert DelimitedColumns.open(None, data=large("a,a\n", "1,2\n")) is None  # duplicate names
    duplicate = tmp_path / "duplicate.csv"
    duplicate.write_bytes(large("a,a\n", "1,2\n"))
    with pytest.raises(InputError, match="has the column 'a' twice"):
        load_table(duplicate)


def test_line_plot_columns_by_default_skip_text_and_keep_partly_empty_ones(tmp_path):
    data = large("epoch,step,train_loss,val_loss,run\n", "1,10,0.5,,a\n", "2,20,0.4,0.45,b\n")
    path = tmp_path / "metrics.csv"
    path.write_bytes(data)
    fast, slow = load_table(path), reference(data, path)
    for table in (fast, slow):
        prefetch_curves(table)
        x_name, x = x_values(table)
        columns = y_columns(table, x_name)
        assert x_name == "step" and list(columns) == ["epoch", "train_loss", "val_loss"]
        assert math.isnan(columns["val_loss"][0]) and columns["val_loss"][-1] == 0.45
    assert fast.by_columns is not None


def test_cells_are_parsed_only_when_asked_for(tmp_path):
    table = by_columns(tmp_path, large("step,loss\n", "1,0.5\n"))
    table.floats("loss")
    assert table.data._cells is None  # no Python list per cell was built
    assert table.column("step")[0] == "1"
    assert table.data._cells is not None


def test_a_file_at_a_git_revision_is_read_by_columns(repo):
    from cml.git import resolve
    from cml.report.data import load_table_at

    (repo.path / "scores.csv").write_bytes(large("actual,score\n", "1,0.75\n", "0,0.25\n"))
    repo.git("add", "scores.csv")
    repo.git("commit", "-qm", "scores")
    (repo.path / "scores.csv").write_text("actual,score\n1,0.5\n")
    table = load_table_at("scores.csv", resolve("HEAD"))
    assert table.by_columns is not None and table.path == "scores.csv (at HEAD)"
    assert table.labels("actual")[-1] == "0" and table.floats("score")[-1] == 0.25


def test_hostile_tables_fall_back_or_fail_in_one_line(tmp_path):
    wide = ",".join(f"c{index}" for index in range(5000)) + "\n"
    assert DelimitedColumns.open(None, data=large(wide, ",".join(["1"] * 5000) + "\n", rows=30)) is None
    unclosed = by_columns(tmp_path, large("label,b\n", "x,1\n", '"never closed,2\n' + "y,3\n" * 1000))
    with pytest.raises(InputError, match=r"table\.csv"):
        unclosed.floats("b")
    huge_cell = by_columns(tmp_path, large("label,b\n", "x,1\n", '"' + "z" * 2_000_000 + '",2\n'), "huge.csv")
    assert huge_cell.floats("b")[-1] == 2 and len(huge_cell.labels("label")[-1]) == 2_000_000


def test_a_path_that_reads_as_a_url_is_a_local_file(tmp_path, monkeypatch):
    """numpy's opener fetches ``http://…`` paths: a table named so on the command line is read from the disk, never
    from the server (which here serves other labels) and nothing is saved beside it."""
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    (served / "t.csv").parent.mkdir(parents=True)
    (served / "t.csv").write_bytes(large("label,b\n", "FROM_NETWORK,1\n"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        folder = tmp_path / "work"
        folder.mkdir()
        monkeypatch.chdir(folder)
        address = f"127.0.0.1:{server.server_address[1]}"
        local = folder / "http:" / address / "t.csv"
        local.parent.mkdir(parents=True)
        local.write_bytes(large("label,b\n", "LOCAL,1\n"))
        table = load_table(f"http://{address}/t.csv")
        assert table.by_columns is not None
        assert set(table.labels("label")) == {"LOCAL"} and table.floats("b")[0] == 1
        assert sorted(path.name for path in folder.iterdir()) == ["http:"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_compressed_name_is_not_decompressed(tmp_path):
    path = tmp_path / "table.csv.gz"
    path.write_bytes(large("a,b\n", "1,2\n"))  # plain text under a .gz name
    table = load_table(path)
    assert table.floats("b")[0] == 2
