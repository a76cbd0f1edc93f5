"""The root command: commands load when called, and ``cml --help`` lists them from its own table."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from cml.cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_summary_is_the_command_s_own(name):
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    listed = click.Command(name, help=COMMANDS[name][2])
    for limit in (45, 80, 10_000):
        assert listed.get_short_help_str(limit) == command.get_short_help_str(limit)


def test_help_lists_every_command_without_importing_any(run_cli):
    probe = ("import json, sys\nfrom cml.cli.main import cli\ncli.main(['--help'], standalone_mode=False)\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('cml.cli.'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == ["cml.cli.app", "cml.cli.main", "cml.cli.options"]
    listing = run_cli("--help").stdout.split("Commands:")[1]
    assert [line.split()[0] for line in listing.strip().splitlines()] == sorted(COMMANDS)


def test_a_command_loaded_on_call_reads_its_group_and_legacy_variables():
    command = cli.get_command(click.Context(cli), "comment").get_command(click.Context(cli), "create")
    assert command.environment_prefixes == ("CML_COMMENT_CREATE", "CML_COMMENT", "CML_SEND_COMMENT")
    assert cli.get_command(click.Context(cli), "ci").environment_prefixes == ("CML_CI", "CML_REPO_PREPARE", "CML_REPO")


@pytest.mark.parametrize("columns", [None, "", "60", "120", "300", "0", "-5", "junk"])
def test_help_is_as_wide_as_click_would_make_it_without_importing_shutil(monkeypatch, columns):
    import shutil

    from cml.cli.options import HelpFormatter, terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns
    for max_width in (None, 70, 100):
        assert HelpFormatter(max_width=max_width).width == click.HelpFormatter(max_width=max_width).width
    assert HelpFormatter(width=33).width == 33


def test_every_command_lays_out_its_help_with_cml_s_formatter():
    from cml.cli.options import HelpFormatter

    context = cli.make_context("cml", ["--help"], resilient_parsing=True)
    assert isinstance(context.make_formatter(), HelpFormatter)
    for name in ("metrics", "params", "plot", "runner", "comment"):
        group = cli.get_command(context, name)
        assert isinstance(group, click.Group)
        for command in [group, *group.commands.values()]:
            assert command.context_class.formatter_class is HelpFormatter, (name, command.name)
