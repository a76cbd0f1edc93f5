"""What cml does on a forge, as Python functions: the command line's ``comment``, ``asset publish``, ``check``,
``pr``, ``workflow rerun`` and ``repo prepare`` call these and only print their results.

Every function takes the forge as ``connection=`` (a :class:`Connection`, by default the CI's repository and
token), returns a result value, and raises only :class:`cml.errors.CmlError` subclasses; a
:class:`~cml.errors.UsageError` names the Python parameter at fault. Warnings and notes go to the ``warn`` and
``note`` callables when given, else to the ``cml`` logger (warnings reach stderr even without logging set up).
"""

from cml.actions.assets import PublishedFile, publish
from cml.actions.checks import create_check
from cml.actions.comments import CommentOptions, post_report, watch_report
from cml.actions.connection import Connection
from cml.actions.delivery import Delivery
from cml.actions.files import FileOptions
from cml.actions.pulls import Committer, PullRequestResult, open_pull_request
from cml.actions.repository import prepare_repository
from cml.actions.workflows import rerun_workflow
from cml.assets.backends import PublishSettings

__all__ = [
    "CommentOptions", "Committer", "Connection", "Delivery", "FileOptions", "PublishSettings", "PublishedFile",
    "PullRequestResult", "create_check", "open_pull_request", "post_report", "prepare_repository", "publish",
    "rerun_workflow", "watch_report",
]
