"""Start-up cost: light commands must not import the heavy libraries."""

import json
import subprocess
import sys

import pytest

HEAVY = ("matplotlib", "sklearn", "numpy", "scipy", "boto3", "github", "gitlab", "cmarkgfm", "nh3", "kubernetes", "google")

PROBE = """
import sys
from cml.cli.main import cli
code = cli.main(sys.argv[1:], standalone_mode=False)
modules = sorted(sys.modules)
import json  # after the list: the command's imports only
print(json.dumps(modules))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["metrics", "--help"],
        ["metrics", "show", "metrics.json"],
        ["metrics", "diff", "HEAD", "metrics.json"],
        ["metrics", "classification", "predictions.csv"],
        ["params", "diff", "HEAD", "params.yaml"],
        ["table", "predictions.csv"],
        ["plot", "--help"],
        ["comment", "create", "--help"],
        ["check", "create", "--help"],
        ["asset", "publish", "--help"],
        ["pr", "create", "--help"],
        ["repo", "prepare", "--help"],
        ["workflow", "rerun", "--help"],
        ["mlflow", "download", "--help"],
        ["runner", "--help"],
        ["runner", "launch", "--help"],
        ["runner", "stop", "--help"],
    ],
    ids=lambda args: " ".join(args),
)
def test_light_commands_do_not_import_heavy_libraries(repo, args):
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.write("params.yaml", "lr: 0.1\n")
    repo.write("predictions.csv", "actual,predicted\na,a\nb,a\n")
    repo.commit()
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    loaded = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert loaded == [], f"cml {' '.join(args)} imported {loaded}"


#: What only an option loads: the trackers (--mlflow-*, --sacred, --dvclive), the quality gates (--fail-on), the
#: history (--history) and the rest of the report library. A command that was not given the option must not import
#: it: cml/cli/metrics.py and cml/cli/run_options.py import them where they are used.
TRACKERS = ("cml.trackers.mlflow", "cml.trackers.files", "cml.http")
OPTION_ONLY = (*TRACKERS, "cml.report.gates", "cml.report.history", "cml.report.classification", "cml.report.plots",
               "cml.report.builder", "cml.actions", "cml.forges")
#: What no ``--help`` needs: every report module, git, the CI detection, the run sources and the standard library
#: they bring (subprocess, tempfile, json, dataclasses…), and shutil (bz2, lzma), which click loads for the terminal's
#: width (cml.cli.options.HelpFormatter measures it without).
HELP_ONLY = (*OPTION_ONLY, "cml.trackers", "cml.git", "cml.ci", "cml.fileio", "cml.report", "subprocess", "tempfile",
             "json", "dataclasses", "base64", "traceback", "csv", "shutil")
FORBIDDEN = {
    ("--help",): HELP_ONLY,
    ("metrics", "--help"): HELP_ONLY,
    ("metrics", "diff", "--help"): HELP_ONLY,
    ("metrics", "show", "--help"): HELP_ONLY,
    ("metrics", "history", "--help"): HELP_ONLY,
    ("params", "diff", "--help"): HELP_ONLY,
    ("metrics", "diff", "HEAD", "metrics.json"): OPTION_ONLY,
    ("metrics", "diff", "HEAD", "metrics.json", "--json"): OPTION_ONLY,
    ("metrics", "show", "metrics.json"): OPTION_ONLY,
    ("params", "diff", "HEAD", "params.yaml"): OPTION_ONLY,
}
#: And what the options do load, so that the lists above are checked against a probe that sees imports.
LOADED = {
    ("metrics", "diff", "HEAD", "metrics.json", "--fail-on", "accuracy<-0.5"): ("cml.report.gates", "cml.git"),
    ("metrics", "diff", "HEAD", "metrics.json", "--history", "2"): ("cml.report.history",),
    ("metrics", "diff", "--sacred", "run"): ("cml.trackers.files", "cml.trackers.sources"),
}


def loaded_modules(repo, args) -> set[str]:
    """The modules ``cml ARGS`` imported, run in a fresh interpreter in ``repo`` (whatever its exit code)."""
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.write("params.yaml", "lr: 0.1\n")
    repo.write("run/metrics.json", '{"accuracy": {"values": [0.9], "steps": [0]}}')
    repo.write("run/config.json", '{"lr": 0.1}')
    repo.commit()
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", list(FORBIDDEN), ids=" ".join)
def test_a_command_loads_only_what_its_options_need(repo, args):
    modules = loaded_modules(repo, args)
    assert "cml.cli.main" in modules
    loaded = sorted(name for name in FORBIDDEN[args] if name in modules)
    assert loaded == [], f"cml {' '.join(args)} imported {loaded}"


@pytest.mark.parametrize("args", list(LOADED), ids=" ".join)
def test_an_option_loads_what_it_needs(repo, args):
    modules = loaded_modules(repo, args)
    missing = [name for name in LOADED[args] if name not in modules]
    assert missing == [], f"cml {' '.join(args)} did not import {missing}"


def test_version_prints_version(run_cli):
    from cml import __version__

    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"cml {__version__}\n"


@pytest.mark.parametrize("kind", ["roc", "pr"])
def test_roc_and_pr_plots_compute_curves_without_scikit_learn_or_scipy(repo, kind):
    repo.write("predictions.csv", "actual,score\n0,0.1\n1,0.8\n1,0.4\n0,0.35\n1,0.4\n0,0.9\n")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "cml", "plot", kind, "predictions.csv",
                             "-o", f"{kind}.png"], capture_output=True, text=True, check=True)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "matplotlib" in imported and "numpy" in imported  # the module list is there
    assert not imported & {"sklearn", "scipy"}, f"cml plot {kind} imported {sorted(imported & {'sklearn', 'scipy'})}"
    assert (repo.path / f"{kind}.png").stat().st_size > 0
