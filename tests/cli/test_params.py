"""``cml params show|diff``."""

import json

import pytest


def test_params_diff_reads_params_yaml_and_dvc_yaml(repo, run_cli):
    repo.write("params.yaml", "train:\n  lr: 0.1\n  layers: [64, 32]\nseed: 1\n")
    repo.write("dvc.yaml", "stages:\n  train:\n    cmd: x\n    params:\n      - extra.json:\n        - depth\n")
    repo.write("extra.json", '{"depth": 3}')
    repo.commit()
    repo.write("params.yaml", "train:\n  lr: 0.05\n  layers: [64, 16]\nseed: 1\noptimizer: adam\n")
    result = run_cli("params", "diff", "--md")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "| Path        | Param          |   HEAD |   workspace |   Change |\n"
        "|:------------|:---------------|-------:|------------:|---------:|\n"
        "| params.yaml | train.lr       |    0.1 |        0.05 |    -0.05 |\n"
        "| params.yaml | train.layers.1 |     32 |          16 |      -16 |\n"
        "| params.yaml | optimizer      |      — |        adam |        — |\n"
        "\n"
    )
    document = json.loads(run_cli("params", "diff", "--json", "--all").stdout)
    assert document["extra.json"]["depth"]["status"] == "unchanged"


def test_params_show(repo, run_cli):
    repo.write("params.yaml", "lr: 0.1\n")
    result = run_cli("params", "show", "--format", "md", "--no-path")
    assert result.stdout == "| Param   |   Value |\n|:--------|--------:|\n| lr      |     0.1 |\n\n"


def test_params_json_keeps_full_precision_and_markdown_ends_with_a_blank_line(repo, run_cli):
    from tests.cli.test_table import rendered

    repo.write("params.yaml", "lr: 0.000123456789\n")
    repo.commit()
    repo.write("params.yaml", "lr: 0.000123456788\n")
    document = json.loads(run_cli("params", "diff", "--json", "--precision", "3").stdout)["params.yaml"]["lr"]
    assert (document["old"], document["new"], document["diff"]) == (0.000123456789, 0.000123456788, -1e-12)
    assert json.loads(run_cli("params", "show", "--json").stdout) == {"params.yaml": {"lr": 0.000123456788}}
    for command in ("show", "diff"):
        markdown = run_cli("params", command, "--md").stdout
        assert "<p>Trained on 2 GPUs</p>" in rendered(markdown + "Trained on 2 GPUs\n"), command


@pytest.mark.parametrize("command", ["show", "diff"])
def test_help_starts_with_examples(run_cli, command):
    assert f"\n  Examples:\n    cml params {command} " in run_cli("params", command, "--help").stdout
