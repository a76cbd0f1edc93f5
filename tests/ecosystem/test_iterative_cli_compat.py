"""iterative/cml's command lines keep working: global options after the subcommand, every option from the
current and the legacy command's environment variables, and the compact environment help."""

from __future__ import annotations

import re

import click
import pytest

from cml.cli.main import cli
from cml.cli.options import CmlCommand
from tests.fakes.ci_env import REPORT, gitlab_env
from tests.fakes.forges import FakeGitLab


def _commands(group: click.Group, path=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


@pytest.fixture
def gitlab(serve, tmp_path, monkeypatch):
    """A fake GitLab with pipelines 77 (this CI run's) and 555, and the environment of a job of pipeline 77."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.md").write_text(REPORT)
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    fake.add_pipeline(77)
    fake.add_pipeline(555)
    fake.env = gitlab_env(serve(fake))
    return fake


# -- global options anywhere on the line ------------------------------------------------------------------


def test_log_debug_after_the_subcommand_shows_the_traceback_as_before_it(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quiet = run_cli("table", "missing.csv")
    for args in (["table", "missing.csv", "--log", "debug"], ["--log", "debug", "table", "missing.csv"],
                 ["table", "missing.csv", "--verbose"]):
        result = run_cli(*args)
        assert result.exit_code == 1
        assert "Traceback" in result.stderr and result.stderr.endswith(quiet.stderr), args
    assert quiet.exit_code == 1 and "Traceback" not in quiet.stderr
    assert run_cli("table", "missing.csv", "--log", "error").stderr == quiet.stderr


def test_log_after_a_forge_command_and_between_group_and_command(gitlab, run_cli):
    assert run_cli("comment", "create", "report.md", "--log", "debug", env=gitlab.env).exit_code == 0
    assert run_cli("comment", "--log", "info", "-v", "create", "report.md", env=gitlab.env).exit_code == 0
    assert len(gitlab.store.on("commit", gitlab.env["CI_COMMIT_SHA"])) == 2


def test_bad_log_level_after_the_subcommand_is_a_one_line_error(run_cli):
    result = run_cli("table", "x.csv", "--log", "loud")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "--log" in result.stderr and "'loud' is not one of" in result.stderr


def test_global_options_before_a_default_subcommand(run_cli):
    for args in (["runner", "--log", "debug", "list", "--help"], ["runner", "-v", "list", "--help"]):
        result = run_cli(*args)
        assert result.exit_code == 0 and result.stdout.startswith("Usage: cml runner list"), (args, result.stderr)
    result = run_cli("runner", "-v", "--cloud-type", "m", "--help")
    assert result.exit_code == 0 and result.stdout.startswith("Usage: cml runner launch")


def test_cml_ci_accepts_iterative_global_forge_options(repo, run_cli):
    repo.commit("init")
    result = run_cli("ci", "--repo", "https://github.com/octo/models", "--token", "ghp_x", "--driver", "github",
                     "--user-name", "Bot", "--log", "debug")
    assert result.exit_code == 0, result.stderr
    assert repo.git("config", "--local", "user.name").strip() == "Bot"


def test_every_command_has_one_log_and_one_verbose_option_and_lists_log_once_in_help(run_cli):
    for path, command in _commands(cli):
        flags = [flag for param in command.params for flag in param.opts]
        assert flags.count("--log") == 1 and flags.count("-v") == 1 and flags.count("--verbose") == 1, path
        assert len(flags) == len(set(flags)), path
    help_text = run_cli("comment", "create", "--help").stdout
    assert help_text.count("--log") == 1 and "--log LEVEL" in help_text


# -- options from current and legacy environment variables --------------------------------------------------


@pytest.mark.parametrize("command, variable", [
    (["comment", "create"], "CML_SEND_COMMENT_TARGET"),
    (["send-comment"], "CML_COMMENT_TARGET"),
    (["send-comment"], "CML_COMMENT_CREATE_TARGET"),
    (["comment", "update"], "CML_SEND_COMMENT_TARGET"),
])
def test_comment_target_from_current_and_legacy_variables(command, variable, gitlab, run_cli):
    result = run_cli(*command, "report.md", env={**gitlab.env, variable: "issue/3"})
    assert result.exit_code == 0, result.stderr
    assert len(gitlab.store.on("issue", 3)) == 1


@pytest.mark.parametrize("command, variable", [
    (["rerun-workflow"], "CML_WORKFLOW_ID"),
    (["rerun-workflow"], "CML_WORKFLOW_RERUN_ID"),
    (["rerun-workflow"], "CML_RERUN_WORKFLOW_ID"),
    (["workflow", "rerun"], "CML_RERUN_WORKFLOW_ID"),
])
def test_rerun_workflow_reads_the_run_id_from_every_name(command, variable, gitlab, run_cli):
    result = run_cli(*command, env={**gitlab.env, variable: "555"})
    assert result.exit_code == 0, result.stderr
    assert gitlab.pipeline_events == [("retry", 555)]


@pytest.mark.parametrize("command, variable", [
    (["check", "create"], "CML_SEND_GITHUB_CHECK_TITLE"),
    (["send-github-check"], "CML_CHECK_TITLE"),
    (["check", "create"], "CML_CHECK_CREATE_TITLE"),
])
def test_check_title_from_current_and_legacy_variables(command, variable, gitlab, run_cli):
    result = run_cli(*command, "report.md", env={**gitlab.env, variable: "Nightly"})
    assert result.exit_code == 0, result.stderr
    ((_, status),) = gitlab.statuses
    assert status["name"] == "Nightly"


@pytest.mark.parametrize("command, variable", [
    (["ci"], "CML_REPO_USER_NAME"),
    (["ci"], "CML_REPO_PREPARE_USER_NAME"),
    (["repo", "prepare"], "CML_CI_USER_NAME"),
    (["ci"], "CML_CI_USER_NAME"),
])
def test_repo_prepare_and_ci_read_each_others_variables(command, variable, repo, run_cli):
    repo.commit("init")
    result = run_cli(*command, env={variable: "Olivaw"})
    assert result.exit_code == 0, result.stderr
    assert repo.git("config", "--local", "user.name").strip() == "Olivaw"


@pytest.mark.parametrize("command, variable", [
    (["asset", "publish"], "CML_ASSET_URL"),
    (["asset", "publish"], "CML_PUBLISH_URL"),
    (["publish"], "CML_ASSET_URL"),
    (["asset", "publish"], "CML_ASSET_PUBLISH_URL"),
])
def test_asset_publish_url_from_iterative_variables(command, variable, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plot.txt").write_text("x")
    result = run_cli(*command, "plot.txt", env={variable: "ftp://assets.example.test/x"})
    assert result.exit_code == 1
    assert "ftp://assets.example.test/x" in result.stderr and "Traceback" not in result.stderr


def test_environment_names_are_listed_once_per_command(run_cli):
    help_text = run_cli("comment", "create", "--help").stdout
    assert "[env var:" not in help_text
    flat = " ".join(help_text.split())
    assert ("Every option --NAME is also read from CML_COMMENT_CREATE_NAME, CML_COMMENT_NAME or "
            "CML_SEND_COMMENT_NAME") in flat
    assert "--token from CML_TOKEN or CML_DRIVER_TOKEN" in flat
    launch = run_cli("runner", "launch", "--help").stdout
    assert "[env var:" not in launch and len(launch.splitlines()) < 100
    assert "--idle-timeout from RUNNER_IDLE_TIMEOUT" in " ".join(launch.split())


def test_no_two_options_of_a_command_share_a_variable():
    for path, command in _commands(cli):
        if not isinstance(command, CmlCommand):
            continue
        command.assign_environment_variables(click.Context(command, info_name=path[-1]))
        seen: dict[str, str] = {}
        for param in command.params:
            names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
            for name in names:
                assert seen.setdefault(name, param.name) == param.name, (path, name)


# -- asset publish --md ------------------------------------------------------------------------------------


def test_asset_publish_md_prints_iterative_image_and_link_forms(gitlab, run_cli, tmp_path):
    from tests.assets.conftest import CONFUSION

    (tmp_path / "plot.png").write_bytes(CONFUSION)
    (tmp_path / "card.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    env = {**gitlab.env, "CI_PROJECT_URL": f"{gitlab.base_url}/ml/models"}
    image = run_cli("asset", "publish", "plot.png", "--native", "--md", "--title", 'Say "hi" \\o/', env=env)
    assert image.exit_code == 0, image.stderr
    (url,) = [u for u in gitlab.uploads if u.endswith(".png")]
    assert image.stdout == f'![]({gitlab.base_url}/ml/models{url} "Say \\"hi\\" \\\\o/")\n\n'
    untitled = run_cli("publish", "plot.png", "--md", env=env)
    assert re.fullmatch(r"!\[\]\(http://[^ )]+\.png\)\n\n", untitled.stdout), untitled.stdout
    link = run_cli("asset", "publish", "card.pdf", "--md", "-t", "Model [card]", env=env)
    assert link.exit_code == 0, link.stderr
    assert link.stdout.startswith("[Model \\[card\\]](") and link.stdout.endswith(".pdf)\n\n")


def test_asset_publish_md_title_renders_as_the_image_title():
    from cml.cli.asset import markdown_reference
    from cml.report.preview import markdown_to_html

    html = markdown_to_html(markdown_reference("https://x.test/a.png", 'a "b" <c>\nd', True, "a.png"))
    assert 'title="a &quot;b&quot; &lt;c&gt; d"' in html and 'alt=""' in html
