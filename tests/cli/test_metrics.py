"""``cml metrics show|diff|classification`` end to end, in real git repositories."""

import json
import subprocess

import pytest

BASE_METRICS = '{"accuracy": 0.9, "loss": 0.5, "eval": {"f1": 0.7, "auc": 0.8}, "epochs": 10}'
HEAD_METRICS = '{"accuracy": 0.92, "loss": 0.55, "eval": {"f1": 0.7, "rmse": 1.5}, "epochs": 10}'


@pytest.fixture
def metrics_repo(repo):
    repo.write("metrics.json", BASE_METRICS)
    repo.commit("base")
    repo.write("metrics.json", HEAD_METRICS)
    return repo


def test_diff_markdown_is_direction_aware(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", "--md", "metrics.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "| Path         | Metric    |   HEAD |   workspace |   Change |   Change % | Status     |\n"
        "|:-------------|:----------|-------:|------------:|---------:|-----------:|:-----------|\n"
        "| metrics.json | accuracy  |    0.9 |        0.92 |    +0.02 |     +2.22% | ✅ better  |\n"
        "| metrics.json | loss      |    0.5 |        0.55 |    +0.05 |    +10.00% | ❌ worse   |\n"
        "| metrics.json | eval.rmse |      — |         1.5 |        — |          — | ➕ added   |\n"
        "| metrics.json | eval.auc  |    0.8 |           — |        — |          — | ➖ removed |\n"
        "\n"
    )


def test_diff_all_includes_unchanged_rows_and_respects_precision(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", "--md", "--all", "--precision", "1", "--no-path")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split("|")[1].strip() == "Metric"
    assert "| eval.f1   |    0.7 |         0.7 |        0 |     +0.00% | unchanged  |" in lines
    assert "| epochs    |     10 |          10 |        0 |     +0.00% | unchanged  |" in lines
    # a change too small for the precision keeps significant digits instead of showing +0
    assert "| accuracy  |    0.9 |         0.9 |    +0.02 |     +2.22% | ✅ better  |" in lines


def test_diff_json_has_old_new_diff_and_status(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["metrics.json"]["loss"] == {
        "old": 0.5, "new": 0.55, "diff": 0.05, "relative": 0.1, "status": "worse", "direction": "lower",
    }
    assert document["metrics.json"]["eval.auc"]["status"] == "removed"
    assert "eval.f1" not in document["metrics.json"]


def test_diff_terminal_table_is_default_outside_ci_and_markdown_in_ci(metrics_repo, run_cli):
    plain = run_cli("metrics", "diff", "metrics.json")
    assert plain.stdout.splitlines()[1].startswith("------")
    in_ci = run_cli("metrics", "diff", "metrics.json", env={"CI": "true"})
    assert in_ci.stdout.startswith("| Path")


def test_user_direction_patterns_override_defaults(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", "--json", "--higher-is-better", "lo*", "--lower-is-better", "accuracy")
    document = json.loads(result.stdout)["metrics.json"]
    assert document["loss"]["status"] == "better"
    assert document["accuracy"]["status"] == "worse"


def test_options_come_from_environment_variables(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", env={"CML_METRICS_DIFF_FORMAT": "json", "CML_METRICS_DIFF_ALL": "1"})
    assert json.loads(result.stdout)["metrics.json"]["epochs"]["status"] == "unchanged"
    help_text = run_cli("metrics", "diff", "--help").stdout
    assert "read from CML_METRICS_DIFF_NAME" in help_text


def test_quality_gate_prints_table_then_fails_with_exit_2(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", "--md", "--fail-on", "loss>5%", "--fail-on", "accuracy<-0.01")
    assert result.exit_code == 2
    assert "| metrics.json | loss " in result.stdout
    assert result.stderr == "cml: error: quality gate failed: metrics.json:loss changed by +10.00% (rule 'loss>5%')\n"


def test_quality_gate_passes_and_removed_metric_fails_it(metrics_repo, run_cli):
    assert run_cli("metrics", "diff", "--fail-on", "accuracy<-0.01", "--fail-on", "loss>20%").exit_code == 0
    removed = run_cli("metrics", "diff", "--fail-on", "change(auc)<0")
    assert removed.exit_code == 2
    assert "metrics.json:eval.auc was removed" in removed.stderr


@pytest.mark.parametrize("rule", ["accuracy", "accuracy<", "<0.1", "accuracy<=abc", "accuracy==1"])
def test_malformed_gate_is_a_usage_error_before_any_output(metrics_repo, run_cli, rule):
    result = run_cli("metrics", "diff", "--fail-on", rule)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"cml: error: --fail-on: cannot read rule '{rule}'")
    assert len(result.stderr.splitlines()) == 1


def test_gate_matching_no_metric_is_an_error(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", "--fail-on", "acuracy<-0.01")
    assert result.exit_code == 1
    assert "matches no metric; metrics are: accuracy, loss" in result.stderr
    assert result.stdout == ""


def test_a_gate_on_a_metric_that_turned_nan_or_text_fails_naming_it(repo, run_cli):
    repo.write("metrics.json", '{"acc": 0.9, "loss": 0.5, "f1": NaN}')
    repo.commit()
    repo.write("metrics.json", '{"acc": "high", "loss": NaN, "f1": 0.7}')
    result = run_cli("metrics", "diff", "--fail-on", "acc<-0.01", "--fail-on", "loss>5%", "--fail-on", "change(f1)<-1")
    assert result.exit_code == 2
    assert result.stderr == (
        "cml: error: quality gate failed: metrics.json:acc is not a number ('high') (rule 'acc<-0.01')\n"
        "cml: error: quality gate failed: metrics.json:loss is NaN (rule 'loss>5%')\n"
        "cml: error: quality gate failed: metrics.json:f1 is NaN at HEAD, so its change cannot be computed "
        "(rule 'change(f1)<-1')\n"
    )


@pytest.mark.parametrize("rule, pattern, op, number", [("accuracy<0.97", "accuracy", "<", "0.97"),
                                                       ("loss>0.1", "loss", ">", "0.1")])
def test_a_rule_that_could_mean_the_value_or_the_change_is_refused_before_any_output(metrics_repo, run_cli, rule,
                                                                                     pattern, op, number):
    result = run_cli("metrics", "diff", "--fail-on", rule)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"cml: error: --fail-on: rule '{rule}' could mean the value or the change; write value({pattern}){op}{number} "
        f"for the value, or change({pattern}){op}{number} for the change\n"
    )


def test_gate_verdicts_follow_the_table_in_markdown_terminal_and_json(metrics_repo, run_cli):
    rules = ["--fail-on", "change(accuracy)<-0.01", "--fail-on", "value(accuracy)<0.95", "--fail-on", "rmse>5%"]
    md = run_cli("metrics", "diff", "--md", *rules)
    assert md.exit_code == 2
    assert md.stdout.endswith(
        "| ➖ removed |\n\n"
        "**Quality gates**\n\n"
        "- ✅ `change(accuracy)<-0.01`: passed (accuracy +0.02)\n"
        "- ❌ `value(accuracy)<0.95`: accuracy is 0.92\n"
        "- ⚠️ `change(rmse)>5%`: eval.rmse not checked: no base value\n\n"
    )
    assert md.stderr == (
        "cml: warning: metrics.json: rule 'rmse>5%' not checked for eval.rmse: no base value\n"
        "cml: error: quality gate failed: metrics.json:accuracy is 0.92 (rule 'value(accuracy)<0.95')\n"
    )
    table = run_cli("metrics", "diff", "--format", "table", *rules)
    assert table.exit_code == 2
    assert table.stdout.endswith(
        "removed\n\nQuality gates:\n"
        "  passed      change(accuracy)<-0.01: accuracy +0.02\n"
        "  FAILED      value(accuracy)<0.95: accuracy is 0.92\n"
        "  not checked change(rmse)>5%: eval.rmse not checked: no base value\n"
    )
    document = json.loads(run_cli("metrics", "diff", "--json", *rules).stdout)
    assert [(gate["rule"], gate["verdict"]) for gate in document["gates"]] == [
        ("change(accuracy)<-0.01", "passed"), ("value(accuracy)<0.95", "failed"), ("rmse>5%", "not checked")]
    assert document["gates"][2] == {"rule": "rmse>5%", "explicit": "change(rmse)>5%", "verdict": "not checked",
                                    "details": [{"path": "metrics.json", "metric": "eval.rmse", "verdict": "not checked",
                                                 "detail": "not checked: no base value", "value": None}]}
    assert "gates" not in json.loads(run_cli("metrics", "diff", "--json").stdout)


@pytest.mark.parametrize("args", [
    ("metrics", "show", "--md"), ("metrics", "diff", "--md"), ("metrics", "diff", "--md", "--fail-on", "loss>50%"),
    ("metrics", "diff", "HEAD", "p.csv", "--md"), ("metrics", "classification", "p.csv", "--md", "--max-classes", "1"),
])
def test_a_markdown_block_ends_with_a_blank_line_so_appended_text_is_a_paragraph(metrics_repo, run_cli, args):
    from tests.cli.test_table import rendered

    metrics_repo.write("p.csv", "actual,predicted\na,a\nb,a\n")
    metrics_repo.commit()
    metrics_repo.write("metrics.json", HEAD_METRICS)
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert "<p>Trained on 2 GPUs</p>" in rendered(result.stdout + "Trained on 2 GPUs\n")


def test_json_keeps_full_precision_whatever_the_precision(repo, run_cli):
    repo.write("metrics.json", '{"acc": 0.123456789012, "n": 3}')
    repo.commit()
    repo.write("metrics.json", '{"acc": 0.123456789112, "n": 4}')
    diff = json.loads(run_cli("metrics", "diff", "--json", "--precision", "2").stdout)["metrics.json"]
    assert diff["acc"]["old"] == 0.123456789012 and diff["acc"]["new"] == 0.123456789112
    assert diff["acc"]["diff"] == 1e-10 and diff["acc"]["relative"] == pytest.approx(1e-10 / 0.123456789012, rel=1e-12)
    assert diff["n"]["diff"] == 1 and isinstance(diff["n"]["diff"], int)
    shown = json.loads(run_cli("metrics", "show", "--json", "--precision", "2").stdout)["metrics.json"]
    assert shown == {"acc": 0.123456789112, "n": 4}
    assert "| acc      |    0.12 |" in run_cli("metrics", "show", "--md", "--precision", "2").stdout


@pytest.mark.parametrize("command", [("metrics", "show"), ("metrics", "diff"), ("metrics", "classification")])
def test_help_starts_with_examples(run_cli, command):
    help_text = run_cli(*command, "--help").stdout
    assert "\n  Examples:\n    cml " + " ".join(command) + " " in help_text


def test_diff_against_named_revision_and_head_option(repo, run_cli):
    repo.write("metrics.yaml", "accuracy: 0.8\n")
    first = repo.commit("one")
    repo.write("metrics.yaml", "accuracy: 0.85\n")
    repo.commit("two")
    repo.write("metrics.yaml", "accuracy: 0.95\n")
    result = run_cli("metrics", "diff", "--json", first, "metrics.yaml")
    assert json.loads(result.stdout)["metrics.yaml"]["accuracy"]["new"] == 0.95
    between = run_cli("metrics", "diff", "--json", "--head", "HEAD", first, "metrics.yaml")
    assert json.loads(between.stdout)["metrics.yaml"]["accuracy"] == {
        "old": 0.8, "new": 0.85, "diff": 0.05, "relative": 0.0625, "status": "better", "direction": "higher",
    }


def test_files_come_from_dvc_yaml_on_both_sides(repo, run_cli):
    repo.write("dvc.yaml", """
        stages:
          train:
            cmd: python train.py
            wdir: model
            metrics:
              - scores.json:
                  cache: false
        metrics:
          - summary.csv
        """)
    repo.write("model/scores.json", '{"auc": 0.7}')
    repo.write("summary.csv", "step,loss\n1,0.9\n2,0.4\n")
    repo.commit()
    repo.write("model/scores.json", '{"auc": 0.75}')
    repo.write("summary.csv", "step,loss\n1,0.9\n2,0.4\n3,0.3\n")
    result = run_cli("metrics", "diff", "--json")
    document = json.loads(result.stdout)
    assert document["model/scores.json"]["auc"]["status"] == "better"
    assert document["summary.csv"]["loss"]["status"] == "better"
    assert document["summary.csv"]["step"]["diff"] == 1


def test_dvclive_metrics_are_the_fallback(repo, run_cli):
    repo.write("dvclive/metrics.json", '{"train": {"loss": 0.4}, "step": 3}')
    repo.commit()
    result = run_cli("metrics", "show", "--md")
    assert result.stdout == (
        "| Path                 | Metric     |   Value |\n"
        "|:---------------------|:-----------|--------:|\n"
        "| dvclive/metrics.json | train.loss |     0.4 |\n"
        "| dvclive/metrics.json | step       |       3 |\n"
        "\n"
    )


def test_no_metrics_files_is_a_clear_error(repo, run_cli):
    repo.commit("empty")
    result = run_cli("metrics", "diff")
    assert result.exit_code == 1
    assert "no metrics files found" in result.stderr


def test_missing_revision_says_how_to_fetch_it(metrics_repo, run_cli):
    result = run_cli("metrics", "diff", "origin/main", "metrics.json")
    assert result.exit_code == 1
    assert result.stderr == (
        "cml: error: revision 'origin/main' is not in this clone; "
        "fetch it first: git fetch --depth=1 origin main:refs/remotes/origin/main\n"
    )


def test_ci_default_is_the_pull_request_base_in_a_shallow_clone(repo, run_cli, tmp_path, monkeypatch):
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("metrics.json", '{"accuracy": 0.93}')
    repo.commit("feature")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", "--branch", "feature", f"file://{repo.path}", str(clone)],
                   check=True)
    monkeypatch.chdir(clone)
    ci = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}
    missing = run_cli("metrics", "diff", env=ci)
    assert missing.exit_code == 1
    assert "revision 'origin/main' is not in this shallow clone; fetch it first: " \
           "git fetch --depth=1 origin main:refs/remotes/origin/main" in missing.stderr
    subprocess.run(["git", "fetch", "-q", "--depth=1", "origin", "main:refs/remotes/origin/main"], cwd=clone, check=True)
    found = run_cli("metrics", "diff", "metrics.json", env=ci)
    assert found.exit_code == 0, found.stderr
    assert "| metrics.json | accuracy |           0.9 |        0.93 |" in found.stdout
    assert "origin/main" in found.stdout.splitlines()[0]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("metrics.json", '{"a": 1,\n "b": }', "metrics.json:2:7: invalid JSON: Expecting value"),
        ("metrics.yaml", "a: 1\nb: [1, 2\n", "metrics.yaml:3:1: invalid YAML:"),
        ("metrics.csv", "a,b\n1,2\n3\n", "metrics.csv:3: has 1 fields where the header has 2"),
        ("metrics.json", "[1, 2]", "metrics.json: must hold a mapping of names to values, not a list"),
        ("metrics.json", "", "metrics.json:1:1: invalid JSON: Expecting value"),
        ("metrics.csv", "a,b\n", "metrics.csv: has a header but no data rows"),
    ],
)
def test_malformed_files_name_file_and_line(repo, run_cli, name, content, message):
    repo.write(name, content)
    result = run_cli("metrics", "show", name)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"cml: error: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_malformed_file_at_base_revision_names_the_revision(repo, run_cli):
    repo.write("metrics.json", "{oops")
    repo.commit()
    repo.write("metrics.json", '{"a": 1}')
    result = run_cli("metrics", "diff", "HEAD", "metrics.json")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: metrics.json (at HEAD):1:2: invalid JSON")


def test_missing_file_is_named(repo, run_cli):
    result = run_cli("metrics", "show", "nope.json")
    assert result.exit_code == 1
    assert result.stderr == "cml: error: nope.json: no such file; check the path (it is relative to the current folder)\n"


def test_verbose_shows_the_traceback(repo, run_cli):
    quiet = run_cli("metrics", "show", "nope.json")
    assert "Traceback" not in quiet.stderr
    loud = run_cli("metrics", "show", "nope.json", "-v")
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("(it is relative to the current folder)")


def test_classification_table(repo, run_cli):
    repo.write("predictions.csv", "actual,predicted\ncat,cat\ncat,dog\ndog,dog\nbird,dog\n")
    result = run_cli("metrics", "classification", "predictions.csv", "--md")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "| Class            |   Precision |   Recall |    F1 |   Support |\n"
        "|:-----------------|------------:|---------:|------:|----------:|\n"
        "| bird             |       0.000 |    0.000 | 0.000 |         1 |\n"
        "| cat              |       1.000 |    0.500 | 0.667 |         2 |\n"
        "| dog              |       0.333 |    1.000 | 0.500 |         1 |\n"
        "| **accuracy**     |             |          | 0.500 |         4 |\n"
        "| **macro avg**    |       0.444 |    0.500 | 0.389 |         4 |\n"
        "| **weighted avg** |       0.583 |    0.500 | 0.458 |         4 |\n"
        "\n"
    )


def test_classification_matches_scikit_learn(repo, run_cli):
    from sklearn.metrics import precision_recall_fscore_support

    actual = [str(i % 7) for i in range(300)]
    predicted = [str((i * 3) % 7 if i % 4 else i % 7) for i in range(300)]
    repo.write("p.csv", "y_true,y_pred\n" + "".join(f"{a},{p}\n" for a, p in zip(actual, predicted)))
    document = json.loads(run_cli("metrics", "classification", "p.csv", "--json").stdout)
    precision, recall, f1, support = precision_recall_fscore_support(actual, predicted, zero_division=0)
    for index, label in enumerate(sorted(set(actual))):
        stats = document["classes"][label]
        assert stats["precision"] == pytest.approx(precision[index])
        assert stats["recall"] == pytest.approx(recall[index])
        assert stats["f1"] == pytest.approx(f1[index])
        assert stats["support"] == support[index]


def test_classification_unknown_column(repo, run_cli):
    repo.write("p.csv", "a,b\n1,2\n")
    result = run_cli("metrics", "classification", "p.csv", "--y-true", "label")
    assert result.exit_code == 1
    assert result.stderr == "cml: error: p.csv: has no column 'label' (from --y-true); its columns are: a, b\n"


def test_unknown_option_is_one_line_and_exit_1(run_cli):
    result = run_cli("metrics", "diff", "--frobnicate")
    assert result.exit_code == 1
    assert result.stderr == (
        "cml: error: No such option '--frobnicate'. Did you mean '--format'? (see 'cml metrics diff --help')\n"
    )


def test_html_in_metric_names_class_labels_and_values_stays_text(repo, run_cli):
    from tests.cli.test_table import HOSTILE_CELLS, assert_shown_literally, rendered

    repo.write("metrics.json", json.dumps({cell: index for index, cell in enumerate(HOSTILE_CELLS)}))
    repo.commit()
    repo.write("metrics.json", json.dumps({cell: index + 1 for index, cell in enumerate(HOSTILE_CELLS)}))
    for args in (("metrics", "show", "--md"), ("metrics", "diff", "HEAD", "--md")):
        result = run_cli(*args, "metrics.json")
        assert result.exit_code == 0, result.stderr
        assert_shown_literally(rendered(result.stdout), HOSTILE_CELLS)
    repo.write("params.yaml", json.dumps({"optimizer": HOSTILE_CELLS[0]}))
    result = run_cli("params", "diff", "HEAD", "--md", "--all", "params.yaml")
    assert_shown_literally(rendered(result.stdout), HOSTILE_CELLS[:1])
    repo.write("p.csv", "actual,predicted\n" + "".join(f'"{cell}","{cell}"\n' for cell in HOSTILE_CELLS))
    result = run_cli("metrics", "classification", "p.csv", "--md")
    assert result.exit_code == 0, result.stderr
    assert_shown_literally(rendered(result.stdout), HOSTILE_CELLS)


def test_classification_of_many_classes_shows_the_most_frequent_and_sums_the_rest(repo, run_cli):
    rows = ["actual,predicted"] + ["big,big"] * 5 + ["big,mid"] + ["mid,mid"] * 3 + [f"rare{i},big" for i in range(8)]
    repo.write("p.csv", "\n".join(rows) + "\n")
    result = run_cli("metrics", "classification", "p.csv", "--md", "--max-classes", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ("cml: warning: the table shows the 2 most frequent of 10 classes; the other 8 are summed "
                             "as 'other (8 classes)'; raise --max-classes to show more\n")
    assert result.stdout == (
        "| Class             |   Precision |   Recall |    F1 |   Support |\n"
        "|:------------------|------------:|---------:|------:|----------:|\n"
        "| big               |       0.385 |    0.833 | 0.526 |         6 |\n"
        "| mid               |       0.750 |    1.000 | 0.857 |         3 |\n"
        "| other (8 classes) |       0.000 |    0.000 | 0.000 |         8 |\n"
        "| **accuracy**      |             |          | 0.471 |        17 |\n"
        "| **macro avg**     |       0.113 |    0.183 | 0.138 |        17 |\n"
        "| **weighted avg**  |       0.268 |    0.471 | 0.337 |        17 |\n"
        "\n"
        "This table shows the 2 most frequent of 10 classes; the other 8 are summed as 'other (8 classes)'; "
        "averages cover every class.\n"
        "\n"
    )
    document = json.loads(run_cli("metrics", "classification", "p.csv", "--json", "--max-classes", "2").stdout)
    assert len(document["classes"]) == 10, "JSON keeps every class"
    assert run_cli("metrics", "classification", "p.csv", "--md",
                   env={"CML_METRICS_CLASSIFICATION_MAX_CLASSES": "2"}).stdout == result.stdout


def test_a_hostile_branch_name_stays_text_in_the_header_and_the_no_changes_line(repo, run_cli):
    from tests.cli.test_table import assert_shown_literally, rendered

    branch = "<img/src=x/onerror=alert(1)>"  # a valid git branch name
    repo.write("metrics.json", '{"a": 1}')
    repo.commit()
    repo.git("branch", branch)
    unchanged = run_cli("metrics", "diff", branch, "--md")
    assert unchanged.stdout == "No changes in metrics between &lt;img/src=x/onerror=alert(1)&gt; and workspace.\n\n"
    repo.write("metrics.json", '{"a": 2}')
    changed = run_cli("metrics", "diff", branch, "--md")
    assert changed.exit_code == 0, changed.stderr
    assert_shown_literally(rendered(changed.stdout), [branch])


def test_the_defaults_and_limits_in_the_help_are_the_library_s():
    # cml/cli/metrics.py spells them out so that declaring its options imports no report module
    from cml.cli import metrics as cli_metrics
    from cml.report import classification, data, history, metrics

    assert cli_metrics.DEFAULT_PRECISION == metrics.DEFAULT_PRECISION
    assert (cli_metrics.HISTORY_DEFAULT_COUNT, cli_metrics.HISTORY_MAX_COUNT, cli_metrics.HISTORY_MAX_ROWS) == (
        history.DEFAULT_COUNT, history.MAX_COUNT, history.MAX_ROWS)
    assert cli_metrics.MAX_TABLE_CLASSES == classification.MAX_TABLE_CLASSES
    limits = (f"Files over {data.MAX_DOCUMENT_BYTES // 2**20} MiB (CSV/TSV: {data.MAX_TABLE_BYTES // 2**20} MiB), "
              f"nested over {data.MAX_NESTING} levels, with over {data.MAX_YAML_ALIASES} YAML aliases or over "
              f"{data.MAX_DOCUMENT_VALUES:,} keys and values are refused.")
    assert limits == cli_metrics.DOCUMENT_LIMITS


def test_a_diff_without_fail_on_has_no_gates_and_with_it_the_same_table_then_the_verdicts(metrics_repo, run_cli):
    plain = run_cli("metrics", "diff", "HEAD", "--md")
    gated = run_cli("metrics", "diff", "HEAD", "--md", "--fail-on", "change(accuracy)<-0.5")
    assert plain.exit_code == gated.exit_code == 0
    assert "Quality gates" not in plain.stdout
    assert gated.stdout.startswith(plain.stdout.rstrip("\n") + "\n\n**Quality gates**\n")
