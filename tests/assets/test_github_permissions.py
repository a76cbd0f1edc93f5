"""A GitHub token without ``contents: write`` (the default ``GITHUB_TOKEN`` of many workflows): the report is
still posted, as iterative/cml posted it, each file that could not be published replaced by a visible note."""

from tests.assets.conftest import DATA_URI, REPORT

REASON = "the token cannot write to this repository's contents"
FIX = "permissions:\n  contents: write\n  pull-requests: write"


def _read_only(actions, github, tmp_path, monkeypatch):
    store = github.enable_git_data(str(tmp_path / "github.git"))
    monkeypatch.setenv("GITHUB_SERVER_URL", github.base_url)
    github.read_only_tokens.add(actions["REPO_TOKEN"])
    return store


def _writes(github) -> list[str]:
    return [r.path.rsplit("/git/", 1)[-1] for r in github.server.requests if r.method != "GET" and "/git/" in r.path]


def test_the_report_is_posted_with_a_note_for_each_file_and_the_permissions_that_fix_it(
        actions, github, report_folder, run_cli, tmp_path, monkeypatch):
    store = _read_only(actions, github, tmp_path, monkeypatch)
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 0, result.stderr

    (comment,) = github.comments_on(number=7)
    body = comment["body"].split("\n\n[//]: # (cml-report")[0] + "\n"
    note = f"*({{}} not published: {REASON})*"
    expected = (REPORT
                .replace('![confusion](plots/confusion.png "Confusion matrix")', note.format("plots/confusion.png"))
                .replace("![](./plots/confusion.png)", note.format("./plots/confusion.png"))
                .replace('<img src="plots/roc.png" width="400">', note.format("plots/roc.png"))
                .replace("[model card](card.pdf#page=2)", "[model card](card.pdf#page=2) " + note.format("card.pdf"))
                .replace(f"![dvclive]({DATA_URI})", note.format("an embedded image")))
    assert body == expected  # the reference-style logo has no place for a note: its link stays as written
    # One refused write, and no other attempt for the other files or the report.
    assert _writes(github) == ["blobs"] and store.head("cml-assets") is None
    assert result.stderr.count("::warning ") == 1
    assert result.stderr.startswith("::warning file=report.md,line=3::plots/confusion.png, ./plots/confusion.png, ")
    assert FIX in result.stderr.replace("%0A", "\n")
    assert "403 Resource not accessible by integration" in result.stderr
    assert actions["REPO_TOKEN"] not in result.stderr + comment["body"]


def test_the_job_summary_and_check_runs_get_the_notes_too(actions, github, report_folder, run_cli, tmp_path,
                                                          monkeypatch):
    _read_only(actions, github, tmp_path, monkeypatch)
    result = run_cli("check", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    (run,) = github.check_runs
    assert f"*(plots/roc.png not published: {REASON})*" in run["output"]["summary"]
    assert _writes(github) == ["blobs"]
    assert FIX in result.stderr.replace("%0A", "\n")


def test_outside_github_actions_the_warning_shows_the_permissions_on_lines_of_their_own(
        actions, github, report_folder, run_cli, tmp_path, monkeypatch):
    _read_only(actions, github, tmp_path, monkeypatch)
    monkeypatch.delenv("GITHUB_ACTIONS")
    result = run_cli("comment", "create", "report.md", "--no-summary", "--target", "pr/7",
                     "--repo", f"{github.base_url}/octo/models", "--driver", "github", "--api-url", github.base_url)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("cml: warning: report.md:3: plots/confusion.png")
    assert result.stderr.endswith(f"\n{FIX}\n")


def test_cml_strict_makes_the_refusal_an_error(actions, github, report_folder, run_cli, tmp_path, monkeypatch):
    _read_only(actions, github, tmp_path, monkeypatch)
    result = run_cli("comment", "update", "report.md", env={"CML_STRICT": "true"})
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: GitHub: ") and "contents: write" in result.stderr
    assert result.stderr.count("\n") == 1
    assert github.comments_on(number=7) == [] and _writes(github) == ["blobs"]
