"""Parsing metrics files and tables."""

import pytest

from cml.errors import InputError
from cml.report.data import flatten, load_metrics, natural_sort_key, parse_document, parse_table
from cml.report.dvc import files_in_dvc_yaml


def test_flatten_nested_mappings_and_lists():
    assert flatten({"a": {"b": 1, "c": [1, {"d": 2}]}, "e": [], "f": {}}) == {
        "a.b": 1, "a.c.0": 1, "a.c.1.d": 2, "e": [], "f": {},
    }


def test_formats_by_extension(tmp_path):
    (tmp_path / "m.toml").write_text("[eval]\nacc = 0.5\n")
    (tmp_path / "m.tsv").write_text("step\tacc\n1\t0.4\n2\t0.5\n")
    (tmp_path / "m.yml").write_text("acc: 0.5\nname: x\n")
    assert load_metrics(tmp_path / "m.toml") == {"eval.acc": 0.5}
    assert load_metrics(tmp_path / "m.tsv") == {"step": 2, "acc": 0.5}
    assert load_metrics(tmp_path / "m.yml") == {"acc": 0.5, "name": "x"}


def test_non_utf8_names_the_line():
    with pytest.raises(InputError, match=r"^m.json:2: is not UTF-8 text; save it as UTF-8$"):
        parse_document(b'{"a":\n"\xff"}', "m.json")


def test_byte_order_mark_is_accepted():
    assert parse_document(b'\xef\xbb\xbf{"a": 1}', "m.json") == {"a": 1}


def test_tables_in_column_and_dvclive_layouts():
    columns = parse_table(b'{"x": [1, 2], "y": [3, 4]}', "c.json")
    assert columns.columns == ["x", "y"] and columns.data["y"] == [3, 4]
    roc = parse_table(b'{"roc": [{"fpr": 0, "tpr": 0}, {"fpr": 1, "tpr": 1}]}', "roc.json")
    assert roc.columns == ["fpr", "tpr"] and len(roc) == 2
    with pytest.raises(InputError, match="columns of different lengths"):
        parse_table(b'{"x": [1, 2], "y": [3]}', "c.json")


def test_quoted_csv_and_labels():
    table = parse_table(b'a,b\n"x, y",1.0\nz,2\n', "t.csv")
    assert table.data["a"] == ["x, y", "z"]
    assert parse_table(b'[{"l": 1.0}, {"l": true}]', "t.json").labels("l") == ["1", "true"]


def test_natural_sort():
    assert sorted(["10", "b", "2", "A", "1.5"], key=natural_sort_key) == ["1.5", "2", "10", "A", "b"]


def test_dvc_yaml_metrics_and_params():
    text = """
metrics: [top.json]
params: [conf.yaml]
stages:
  train:
    wdir: sub
    metrics: [{m.json: {cache: false}}, "${item}.json"]
    params: [lr, {other.toml: [depth]}]
  bad: nonsense
"""
    assert files_in_dvc_yaml(text, "metrics") == ["top.json", "sub/m.json"]
    assert files_in_dvc_yaml(text, "params") == ["conf.yaml", "sub/params.yaml", "sub/other.toml"]
