"""What a pull request controls (dvc.yaml, plot titles, files in its history) cannot read outside the project,
inject Markdown, exhaust memory, or turn a comparison into a failure."""

from __future__ import annotations

import os
import re
import warnings

import cmarkgfm
import pytest

from cml import Report, git
from cml.errors import InputError
from cml.report.data import MAX_TABLE_BYTES, load_table_at
from cml.report.markdown import image_markdown
from cml.report.metrics import diff_revisions, load_workspace
from cml.report.history import metric_history
from cml.report.plots.confusion import confusion_matrix


def test_a_dvc_yaml_naming_files_outside_the_project_is_refused(repo, tmp_path):
    (tmp_path / "secret.json").write_text('{"secret_number": 42}')
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.write("dvc.yaml", f"metrics:\n  - ../secret.json\n  - {tmp_path / 'secret.json'}\n")
    repo.commit()
    for read in (lambda: metric_history(5), lambda: diff_revisions("HEAD")):
        with pytest.raises(InputError, match=r"^dvc.yaml: '\.\./secret.json' is outside the project; give a path inside "
                                             r"it$"):
            read()


ATTACKS = {"../secret.json": "is outside the project", "/etc/passwd": "is an absolute path",
           "link.json": r"is outside the project \(.+\): it resolves to .+secret\.json",
           ".git/x.json": "is inside the .git folder"}


@pytest.fixture
def attacked(repo, tmp_path):
    """A project with a link to a secret outside it, a file in .git, and metrics and params of its own."""
    (tmp_path / "secret.json").write_text('{"secret_number": 42}')
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.write("params.yaml", "lr: 1\n")
    os.symlink(tmp_path / "secret.json", repo.path / "link.json")
    repo.commit()
    (repo.path / ".git" / "x.json").write_text('{"token": 7}')
    return repo


@pytest.mark.parametrize("kind", ["metrics", "params"])
@pytest.mark.parametrize("path", list(ATTACKS))
def test_dvc_yaml_files_outside_the_project_or_in_git_are_refused_on_every_side(attacked, kind, path):
    attacked.write("dvc.yaml", f"{kind}:\n  - {path}\n")
    expected = rf"^dvc.yaml: '{re.escape(path)}' {ATTACKS[path]}.*; give a path (inside|outside) (it|the project)$"
    readers = [lambda: load_workspace(kind=kind), lambda: diff_revisions("HEAD", kind=kind),
               lambda: Report.standard(rev="HEAD")]
    if kind == "metrics":
        readers.append(lambda: metric_history(5))
    for read in readers:
        with pytest.raises(InputError, match=expected):
            read()
    if path != "link.json":  # committed, the dvc.yaml is refused at the revision too (where links are not followed)
        attacked.commit()
        with pytest.raises(InputError, match=expected):
            diff_revisions("HEAD~1", head_revision="HEAD", kind=kind)


@pytest.mark.parametrize("kind, name", [("metrics", "metrics.json"), ("metrics", "dvclive/metrics.json"),
                                        ("params", "params.yaml"), ("params", "dvclive/params.yaml")])
def test_files_found_without_a_dvc_yaml_that_link_out_of_the_project_are_refused(repo, tmp_path, kind, name):
    (tmp_path / "secret.json").write_text('{"secret_number": 42}')
    repo.write("other.json", "{}")
    repo.commit()
    (repo.path / name).parent.mkdir(exist_ok=True)
    os.symlink(tmp_path / "secret.json", repo.path / name)
    expected = rf"^{re.escape(name)}: is outside the project \(.+\): it resolves to .+secret\.json; give a path inside it$"
    for read in (lambda: load_workspace(kind=kind), lambda: diff_revisions("HEAD", kind=kind)):
        with pytest.raises(InputError, match=expected):
            read()


@pytest.mark.parametrize("key", ["metrics", "params", "predictions"])
@pytest.mark.parametrize("path", list(ATTACKS))
def test_settings_files_outside_the_project_or_in_git_are_refused(attacked, key, path):
    value = f'"{path}"' if key == "predictions" else f'["{path}"]'
    attacked.write("pyproject.toml", f"[tool.cml.report]\n{key} = {value}\n")
    attacked.write("cml.yaml", f"report:\n  {key}: {path}\n")
    for config in ("pyproject.toml", "cml.yaml"):
        message = ATTACKS[path].replace("the project", "the project folder")
        with pytest.raises(InputError, match=rf"^{config}: {key}: {re.escape(path)} {message}.*; give a path"):
            Report.standard(rev="HEAD", config=config)


@pytest.mark.parametrize("title", ["x\n\n<img src=x onerror=alert(1)> [y", "ends with a backslash \\", "a]](evil.png)"])
def test_an_image_title_from_a_pull_request_stays_alt_text(title):
    html = cmarkgfm.github_flavored_markdown_to_html(image_markdown(title, "plot.png") + "\n\nnext\n")
    assert html.count("<img") == 1 and 'src="plot.png"' in html and "onerror" not in html.split('alt="')[0]
    assert "<p>next</p>" in html and "evil.png" not in html.split('alt="')[0]


def test_a_file_too_large_at_a_revision_is_refused_without_being_held(repo):
    with open(repo.path / "huge.csv", "wb") as handle:
        handle.write(b"a,b\n")
        handle.truncate(MAX_TABLE_BYTES + 10)
    repo.commit("a huge table")
    with pytest.raises(InputError, match=r"^huge.csv \(at HEAD\): is 256\.0 MiB, over the 256\.0 MiB limit"):
        load_table_at("huge.csv", git.resolve("HEAD"))


def test_the_change_view_leaves_a_class_the_head_lacks_neutral(tmp_path):
    plot = confusion_matrix(["a", "a", "b", "b"], ["a", "a", "b", "a"], str(tmp_path / "cm.png"),
                            base=(["a", "b", "c", "c", "a"], ["a", "b", "c", "c", "b"]))
    labels = plot.details["labels"]
    assert labels == ["a", "b", "c"]
    assert not plot.details["change"][2].any()  # no samples of c in head: nothing got worse there


def test_dvc_plots_in_ci_without_the_base_branch_warn_and_draw(repo, monkeypatch, tmp_path):
    repo.write("loss.csv", "step,loss\n0,1\n1,0.5\n")
    repo.write("dvc.yaml", "plots:\n  - loss.csv\n")
    repo.commit()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")  # origin/main was never fetched
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = Report(tmp_path / "out").dvc_plots()
    assert [str(w.message) for w in caught][0].startswith("no comparison with the base branch: revision 'origin/main'")
    assert [os.path.basename(path) for path in report.image_paths()] == ["loss.png"]


def test_plot_data_whose_records_have_no_fields_is_named(repo, tmp_path):
    from cml.report.plots.dvc import render_dvc_plots

    repo.write("empty.json", "[{}]")
    repo.write("dvc.yaml", "plots:\n  - empty.json\n")
    with pytest.raises(InputError, match=r"^empty.json: holds no list of records for a plot"):
        render_dvc_plots(tmp_path / "out")
    repo.write("loss.csv", "step,loss\n0,1\n")
    repo.write("dvc.yaml", "plots:\n  - empty.json\n  - loss.csv\n")
    assert render_dvc_plots(tmp_path / "out", strict=False).warnings == [
        "dvc.yaml: plot 'empty.json': empty.json could not be read (empty.json: holds no list of records for a plot; "
        "write [{\"step\": 0, \"loss\": 0.5}, …]); skipped"]
