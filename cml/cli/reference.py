"""The command reference (``docs/commands.md``), generated from the click commands themselves.

Regenerate with ``python -m cml.cli.reference > docs/commands.md``; a test fails when the file
and the commands disagree.
"""

from __future__ import annotations

import inspect

import click

from cml.cli.main import cli
from cml.cli.options import CmlCommand

HEADER = """# Command reference

Generated from the commands by `python -m cml.cli.reference`; do not edit by hand.
Every option can also be set from the environment variables named under its command.
"""


def _commands(group: click.Group, context: click.Context):
    for name in sorted(group.list_commands(context)):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        child = click.Context(command, info_name=name, parent=context, auto_envvar_prefix=context.auto_envvar_prefix
                              and f"{context.auto_envvar_prefix}_{name.upper().replace('-', '_')}")
        yield child, command
        if isinstance(command, click.Group):
            yield from _commands(command, child)


def _option_row(param: click.Parameter, context: click.Context) -> list[str] | None:
    if not isinstance(param, click.Option) or "--help" in param.opts:
        return None
    record = param.get_help_record(context)
    if record is None:
        return None
    flags, help_text = (part.replace("|", "\\|").replace("\n", " ") for part in record)
    return [f"`{flags}`", help_text]


def reference() -> str:
    """The whole reference as Markdown."""
    root = click.Context(cli, info_name="cml", auto_envvar_prefix="CML")
    parts = [HEADER]
    for context, command in _commands(cli, root):
        path = context.command_path
        parts.append(f"## `{path}`\n")
        parts.append(f"```\n{command.get_usage(context)}\n```\n")
        if command.help:
            parts.append(inspect.cleandoc(command.help).replace("\b\n", "") + "\n")
        if isinstance(command, click.Group):
            continue
        rows = [row for param in command.get_params(context) if (row := _option_row(param, context))]
        if rows:
            parts.append("| option | description |\n|:--|:--|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows) + "\n")
        if isinstance(command, CmlCommand):
            parts.append(f"Environment: {command.environment_help(context)}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
