"""The documentation that is generated or checked against the commands."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_command_reference_is_in_sync_with_the_commands():
    from cml.cli.reference import reference

    committed = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert committed == reference(), "docs/commands.md is stale: python -m cml.cli.reference > docs/commands.md"


def test_shell_completion_script_is_generated_by_click():
    env = {**os.environ, "_CML_COMPLETE": "bash_source"}
    script = subprocess.run([sys.executable, "-m", "cml"], env=env, capture_output=True, text=True, check=True).stdout
    assert "_cml_completion()" in script and "complete " in script


def test_help_shows_examples_right_after_the_first_paragraph():
    from click.testing import CliRunner

    from cml.cli.main import cli

    for args in ([], ["check", "create"], ["asset", "publish"], ["workflow", "rerun"], ["demo"]):
        text = CliRunner().invoke(cli, [*args, "--help"]).stdout
        paragraphs = text.split("\n\n")
        assert paragraphs[2].lstrip().startswith("Examples:\n"), args
        assert all(line.strip().startswith("cml ") for line in paragraphs[2].splitlines()[1:]), args
