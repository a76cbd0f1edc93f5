"""Links to files that cannot be published: posted as written with a warning on the report's line, as
iterative/cml posted them; ``--strict`` (or ``CML_STRICT``) makes them errors; a file carrying a token always is."""

import pytest

from tests.assets.conftest import CONFUSION

REPORT = "# R\n\n![plot](plots/none.png)\n\nSee [the config](.git/config) and ![key](/etc/passwd).\n"
WARNINGS = ("::warning file=report.md,line=3::plots/none.png does not exist; the link is left as it is\n"
            "::warning file=report.md,line=5::refusing to publish .git/config: it is inside a .git folder")


@pytest.fixture
def broken(actions, tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / "report.md").write_text(REPORT)


@pytest.mark.parametrize("command", [("comment", "create"), ("comment", "update")], ids=" ".join)
def test_unpublishable_links_are_posted_as_written_with_an_annotation_on_their_line(broken, github, run_cli,
                                                                                     command):
    result = run_cli(*command, "report.md")
    assert result.exit_code == 0, result.stderr
    (comment,) = github.comments_on(number=7)
    assert comment["body"].startswith(REPORT)
    assert result.stderr.startswith(WARNINGS)
    assert "::warning file=report.md,line=5::refusing to publish /etc/passwd: it is outside" in result.stderr
    assert not any("/git/" in r.path for r in github.server.requests)  # nothing was read, nothing published


@pytest.mark.parametrize("strict", [["--strict"], ["--skip-missing", "--strict"]], ids=["flag", "with-skip-missing"])
def test_strict_fails_before_any_request(broken, github, run_cli, strict):
    result = run_cli("comment", "create", "report.md", *strict)
    assert result.exit_code == 1
    if "--skip-missing" in strict:  # missing files are still left, the .git link is not
        assert result.stderr.startswith("::warning file=report.md,line=3::plots/none.png does not exist")
        assert result.stderr.endswith("cml: error: report.md:5: refusing to publish .git/config: it is inside a "
                                      ".git folder, which holds the repository's credentials; link a copy outside it\n")
    else:
        assert result.stderr == ("cml: error: report.md:3: plots/none.png does not exist; create it before posting, "
                                 "fix the link, or drop --strict to leave such links as they are\n")
    assert github.server.requests == []


def test_strict_from_the_environment(broken, github, run_cli):
    for variable in ("CML_STRICT", "CML_COMMENT_STRICT", "CML_COMMENT_UPDATE_STRICT"):
        result = run_cli("comment", "update", "report.md", env={variable: "1"})
        assert result.exit_code == 1 and "plots/none.png does not exist" in result.stderr, variable
    assert github.server.requests == []


def test_skip_missing_is_still_accepted(broken, github, run_cli):
    result = run_cli("comment", "create", "report.md", "--skip-missing")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(WARNINGS)


def test_published_files_still_go_out_beside_the_missing_ones(actions, github, tmp_path, run_cli):
    github.enable_git_data(str(tmp_path / "github.git"))
    (tmp_path / "ok.png").write_bytes(CONFUSION)
    (tmp_path / "report.md").write_text("![ok](ok.png)\n![gone](gone.png)\n")
    result = run_cli("check", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ("::warning file=report.md,line=2::gone.png does not exist; "
                             "the link is left as it is\n")
    (run,) = github.check_runs
    summary = run["output"]["summary"]
    assert "![gone](gone.png)" in summary and "![ok](ok.png)" not in summary and "/raw/cml-assets/" in summary
    strict = run_cli("check", "create", "report.md", "--strict")
    assert strict.exit_code == 1 and strict.stderr.startswith("cml: error: report.md:2: gone.png does not exist")
    assert len(github.check_runs) == 1


def test_a_file_carrying_a_secret_still_stops_the_post_without_strict(actions, github, tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text(f"token={actions['REPO_TOKEN']}\n")
    (tmp_path / "report.md").write_text("# R\n\n![gone](gone.png) [notes](notes.txt)\n")
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 1
    assert result.stderr.endswith("cml: error: report.md:3: refusing to publish notes.txt: it contains a token or "
                                  "credential of this job (or its base64); remove it from the file\n")
    assert github.server.requests == [] and actions["REPO_TOKEN"] not in result.stderr


def test_asset_publish_of_a_missing_file_is_an_error(actions, github, run_cli):
    result = run_cli("asset", "publish", "nope.png")
    assert result.exit_code == 1 and result.stderr.startswith("cml: error: nope.png: ")
    assert github.server.requests == []
