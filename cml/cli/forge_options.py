"""Options of the commands that talk to a forge: which repository and token, and where a report's files are
published. Kept apart from :mod:`cml.cli.options` so that commands which never reach a forge start without
loading the adapters."""

from __future__ import annotations

import functools

import click

from cml.assets.backends import PublishSettings
from cml.ci import RepositoryContext
from cml.cli.app import Application
from cml.cli.options import Duration
from cml.forges.base import Forge
from cml.forges.registry import DRIVERS, TOKEN_VARIABLES, find_token, open_forge, repository_context


def forge_options(function):
    """``--repo``, ``--token``, ``--driver`` and ``--api-url``, for every command that talks to a forge.

    The command receives them as one ``forge_settings`` mapping for :func:`open_forge_from_options`.
    """

    @click.option("--repo", metavar="URL", help="Repository URL; another repository than the CI's gets none of its pull request or commit, "
                       "so --target must name one  [default: from the CI, else the 'origin' remote]")
    @click.option("--token", "--driver-token", "token", metavar="TOKEN",
                  help=f"API token  [default: {', '.join(TOKEN_VARIABLES)}]")
    @click.option("--driver", type=click.Choice(DRIVERS),
                  help="Forge kind  [default: from the CI or the repository host]")
    @click.option("--api-url", metavar="URL", help="API base URL, for self-hosted forges  [default: from the CI]")
    @functools.wraps(function)
    def wrapper(*args, repo, token, driver, api_url, **kwargs):
        settings = {"repo": repo, "token": token, "driver": driver, "api_url": api_url}
        return function(*args, forge_settings=settings, **kwargs)

    return wrapper


def open_forge_from_options(app: Application, settings: dict) -> tuple[RepositoryContext, Forge]:
    """The repository context and forge adapter for ``forge_settings`` and the CI environment."""
    context = repository_context(app.environ, settings["repo"], settings["driver"], settings["api_url"])
    token = find_token(settings["token"], context.driver, app.environ)
    return context, open_forge(context, token, app.environ)


def publish_options(url_flags: tuple[str, ...] = ("--publish-url",), for_report: bool = True):
    """``--publish-url``, ``--native``, ``--publish-branch``, ``--publish-public``, ``--publish-expires``,
    ``--allow-outside``, ``--strict`` and the hidden ``--skip-missing`` (now the default); the command
    receives one ``publish_settings`` keyword (a :class:`cml.assets.backends.PublishSettings`) plus
    ``allow_outside``, ``strict`` and ``skip_missing``. Without ``for_report`` (one file, not a report's links)
    ``--strict`` is hidden: every problem is an error there."""

    def decorate(function):
        @click.option(*url_flags, "publish_url", metavar="URL",
                      help="Publish to s3://BUCKET/PREFIX (or an https:// asset server) instead of the forge's storage.")
        @click.option("--native", "--publish-native", "native", is_flag=True,
                      help="Publish to the forge's own storage (the default; kept for iterative/cml workflows).")
        @click.option("--publish-branch", default="cml-assets", show_default=True, metavar="BRANCH",
                      help="GitHub: the branch that holds published files (needs 'contents: write').")
        @click.option("--publish-public", is_flag=True,
                      help="S3: make files public-read and link them plainly instead of with presigned links.")
        @click.option("--publish-expires", type=Duration(), default="7d", show_default=True, metavar="DURATION",
                      help="S3: how long presigned links work (at most 7d).")
        @click.option("--allow-outside", multiple=True, metavar="FOLDER", type=click.Path(file_okay=False),
                      help="Also publish files from FOLDER (by default only the report's folder and the CI workspace) "
                           "and read the report from it (by default only the current folder and the CI workspace).")
        @click.option("--strict", is_flag=True, hidden=not for_report,
                      help="Fail, posting nothing, when a linked file cannot be published (missing, outside the "
                           "allowed folders, too large, of unknown type, or on GitHub a token without 'contents: "
                           "write'); by default the report is posted with such links left as written (or a note in "
                           "place of the image) and a warning. A file carrying a token always fails.")
        @click.option("--skip-missing", is_flag=True, hidden=True,
                      help="Leave links to missing files as they are (the default; with --strict, only missing files).")
        @functools.wraps(function)
        def wrapper(*args, publish_url, native, publish_branch, publish_public, publish_expires, **kwargs):
            settings = PublishSettings(publish_url, native, publish_branch, publish_public, publish_expires)
            return function(*args, publish_settings=settings, **kwargs)

        return wrapper

    return decorate
