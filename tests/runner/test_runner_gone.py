"""A runner that unregisters itself (its machine ended) while cml reads it is gone, not an error."""

from __future__ import annotations

import os

from cml.forges.registry import open_forge, repository_context
from tests.runner.conftest import GITLAB_TOKEN


def test_a_gitlab_runner_deleted_between_its_reads_is_listed_as_not_busy_and_read_as_gone(gitlab_runners):
    runner = gitlab_runners.runner_store.create("trainer-1", ["cml"], run_untagged=False, locked=True)
    runner["status"] = "online"
    # GET /runners/:id answered; then the machine's unregistration removed it before GET /runners/:id/jobs.
    gitlab_runners.server.fail("GET", rf"/api/v4/runners/{runner['id']}/jobs", status=404,
                               body={"message": "404 Not found"}, times=2)
    forge = open_forge(repository_context(os.environ), GITLAB_TOKEN)

    assert forge.runner(runner["id"]) is None
    listed = forge.runners("trainer-1")
    assert [(found.id, found.online, found.busy) for found in listed] == [(runner["id"], True, False)]
