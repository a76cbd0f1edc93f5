"""Metrics, params and tables from a hostile pull request: every parser is bounded in size, depth and time."""

import contextlib
import os
import threading
import time

import pytest

from cml.errors import InputError
from cml.report.data import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_VALUES,
    MAX_TABLE_BYTES,
    load_metrics,
    parse_document,
    parse_table,
    read_input,
)

# 272 bytes that PyYAML expands to 9**9 (387 million) strings.
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def test_yaml_alias_bomb_is_refused_at_once_naming_file_and_line(repo, run_process):
    repo.write("metrics.yaml", ALIAS_BOMB)
    started = time.perf_counter()
    result = run_process("metrics", "show", "metrics.yaml", "--md", timeout=60)
    assert time.perf_counter() - started < 30
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"cml: error: metrics.yaml:6: holds more than {MAX_DOCUMENT_VALUES:,} keys and values (YAML aliases counted "
        "as often as they repeat); keep per-sample data in a table (CSV/TSV) instead\n"
    )


def test_too_many_yaml_aliases_are_refused_even_when_small(tmp_path):
    text = "base: &b 1\n" + "".join(f"k{i}: *b\n" for i in range(101))
    message = r"^p\.yaml:102: has more than 100 YAML aliases \(\*name\); write the values out$"
    with pytest.raises(InputError, match=message):
        parse_document(text.encode(), "p.yaml")


def test_yaml_anchors_and_merge_keys_within_bounds_still_work():
    text = "defaults: &d {lr: 0.1, depth: 3}\nsmall:\n  <<: *d\n  depth: 2\nlarge: *d\n"
    assert load_metrics("p.yaml", text.encode()) == {
        "defaults.lr": 0.1, "defaults.depth": 3, "small.lr": 0.1, "small.depth": 2, "large.lr": 0.1, "large.depth": 3,
    }


@pytest.mark.parametrize("name, text", [
    ("deep.json", '{"a":' * 10_000 + "1" + "}" * 10_000),
    ("deep.json", "{\"a\": " + "[" * 150 + "]" * 150 + "}"),
    ("deep.yaml", "a: " + "[" * 500 + "]" * 500),
    ("deep.toml", "a = " + "[" * 10_000 + "]" * 10_000),
])
def test_deep_nesting_names_the_file(repo, run_cli, name, text):
    repo.write(name, text)
    result = run_cli("metrics", "show", name)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"cml: error: {name}")
    assert result.stderr.endswith(": nests mappings or lists more than 100 levels deep; flatten the structure\n")


def test_deep_nesting_in_a_json_table_names_the_file(repo, run_cli):
    repo.write("rows.json", '[{"a": ' + "[" * 5000 + "]" * 5000 + "}]")
    result = run_cli("table", "rows.json")
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: rows.json: nests mappings or lists more than 100 levels deep; "
                             "flatten the structure\n")


def test_too_many_values_are_refused_with_advice(tmp_path):
    data = ("[" + ",".join(["1"] * MAX_DOCUMENT_VALUES) + "]").encode()
    message = r"^m\.json: holds more than 100,000 keys and values .* table \(CSV/TSV\) instead$"
    with pytest.raises(InputError, match=message):
        parse_document(b'{"per_sample": ' + data + b"}", "m.json")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(repo, run_cli):
    with open("metrics.json", "wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: 100 MB that take no disk and would take minutes to parse
    started = time.thread_time()
    result = run_cli("metrics", "show", "metrics.json")
    assert time.thread_time() - started < 2
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: metrics.json: is 100.0 MiB, over the 32.0 MiB limit for metrics and params "
                             "files; cml does not read larger files\n")


def test_a_table_over_the_size_limit_is_refused_before_it_is_read(repo, run_cli):
    with open("big.csv", "wb") as handle:
        handle.truncate(MAX_TABLE_BYTES + 1024 * 1024)
    for args in (["table", "big.csv"], ["plot", "line", "big.csv"], ["plot", "confusion", "big.csv"],
                 ["metrics", "classification", "big.csv"]):
        result = run_cli(*args)
        assert result.exit_code == 1
        assert result.stderr == ("cml: error: big.csv: is 257.0 MiB, over the 256.0 MiB limit for tables; "
                                 "cml does not read larger files\n"), args


def test_bytes_read_from_git_are_held_to_the_same_limits():
    with pytest.raises(InputError, match=r"^m\.json \(at main\): is 32\.0 MiB, over the 32\.0 MiB limit"):
        parse_document(b" " * MAX_DOCUMENT_BYTES + b"{}", "m.json", label="m.json (at main)")


def test_a_pipe_is_read_up_to_the_limit_and_no_further(tmp_path):
    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)

    def write():
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as handle:
            handle.write(b" " * 100_000)  # blocks once the pipe is full until the reader stops and closes it

    threading.Thread(target=write, daemon=True).start()
    with pytest.raises(InputError, match=r"metrics\.json: is over the 1000 bytes limit for tables"):
        read_input(fifo, 1000, "tables")


def test_empty_params_file_says_params(repo, run_cli):
    repo.write("params.yaml", "")
    result = run_cli("params", "show", "params.yaml")
    assert result.exit_code == 1
    assert result.stderr == 'cml: error: params.yaml: is empty; expected parameters such as {"lr": 0.01}\n'
    repo.write("metrics.yaml", "")
    assert run_cli("metrics", "show", "metrics.yaml").stderr == (
        'cml: error: metrics.yaml: is empty; expected metrics such as {"accuracy": 0.9}\n'
    )


def test_yaml_bomb_in_a_table_is_refused():
    with pytest.raises(InputError, match=r"^t\.yaml:8: holds more than 10,000,000 keys and values"):
        parse_table(ALIAS_BOMB.encode(), "t.yaml")


def test_a_csv_training_log_read_for_its_last_row_gets_the_table_limit(repo, run_cli):
    with open("log.csv", "w") as handle:
        handle.write("step,loss\n")
        handle.writelines(f"{step},{1 / (step + 1):.12f}\n" for step in range(1_700_000))
    assert os.path.getsize("log.csv") > MAX_DOCUMENT_BYTES
    result = run_cli("metrics", "show", "log.csv", "--md", "--no-path")
    assert result.exit_code == 0, result.stderr
    assert "| step     |    1699999 |\n| loss     | 5.8824e-07 |\n" in result.stdout
