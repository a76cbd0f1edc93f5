"""Start-up cost: light commands must not import the heavy libraries."""

import json
import subprocess
import sys

import pytest

HEAVY = ("matplotlib", "sklearn", "numpy", "scipy", "boto3", "github", "gitlab", "cmarkgfm", "nh3", "kubernetes", "google")

PROBE = """
import json, sys
from cml.cli.main import cli
code = cli.main(sys.argv[1:], standalone_mode=False)
print(json.dumps(sorted(sys.modules)))
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
