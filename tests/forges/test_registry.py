"""Every forge class answers every question the registry asks, and no other module asks by name."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from cml.ci import RepositoryContext
from cml.forges.base import Forge
from cml.forges.registry import (
    DRIVERS,
    FORGES,
    TOKEN_VARIABLES,
    ci_repository_context,
    driver_for_host,
    find_token,
    forge_class,
    git_credentials,
    open_forge,
)
from cml.forges.errors import ForgeConfigurationError
from cml.http import HttpPolicy
from tests.fakes.ci_env import bitbucket_env, gitea_env, gitlab_env
from tests.python_source import parse_python

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cml"
#: A name the registry does not hold but that names a forge (Gitea's fork) in CI detection.
OTHER_FORGE_NAMES = ("forgejo",)


class Server:
    url = "http://127.0.0.1:9"


def github_actions_env(tmp_path: Path) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 7, "head": {"sha": "%s"}}}' % ("a" * 40))
    return {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": "https://api.github.com",
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "octo/models",
            "GITHUB_EVENT_PATH": str(event), "GITHUB_SHA": "f" * 40, "GITHUB_RUN_ID": "555",
            "GITHUB_WORKFLOW": "train"}


def ci_environments(tmp_path: Path) -> dict[str, list[dict[str, str]]]:
    """Each forge's CI jobs' environments, built as :mod:`tests.fakes.ci_env` builds them."""
    forgejo = {key: value for key, value in gitea_env(Server, tmp_path).items() if key != "GITEA_ACTIONS"}
    return {
        "github": [github_actions_env(tmp_path)],
        "gitlab": [gitlab_env(Server)],
        "bitbucket": [bitbucket_env(Server, "token")],
        "gitea": [gitea_env(Server, tmp_path), {**forgejo, "FORGEJO_ACTIONS": "true"}],
    }


forges = pytest.mark.parametrize("forge", FORGES, ids=lambda forge: forge.name)


def test_the_registry_names_each_forge_once():
    assert tuple(forge.name for forge in FORGES) == DRIVERS
    assert len(set(DRIVERS)) == len(DRIVERS)
    assert all(issubclass(forge, Forge) for forge in FORGES)
    for forge in FORGES:
        assert forge_class(forge.name) is forge
    with pytest.raises(ForgeConfigurationError, match="unknown driver 'svn'; use one of github, gitlab"):
        forge_class("svn")


def test_tokens_are_looked_for_in_repo_token_then_each_forges_variable():
    assert TOKEN_VARIABLES == ("REPO_TOKEN", "repo_token", "GITHUB_TOKEN", "GITLAB_TOKEN", "BITBUCKET_TOKEN", "GITEA_TOKEN")
    with pytest.raises(ForgeConfigurationError) as missing:
        find_token(None, None, {})
    assert str(missing.value) == ("no token: set REPO_TOKEN (or GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, "
                                  "GITEA_TOKEN) or pass --token")


@forges
def test_each_forge_says_who_it_is_and_what_it_calls_things(forge: type[Forge]):
    for text in (forge.name, forge.label, forge.pull_request_term, forge.check_kind, forge.publishes_files_to,
                 forge.api_url_variable, forge.token_variable, forge.git_username):
        assert isinstance(text, str) and text.strip()
    assert forge.name == forge.name.lower() and forge.name.isidentifier()
    for limit in (forge.comment_limit, forge.summary_limit):
        assert isinstance(limit, int) and limit > 0
    for flag in (forge.skip_ci_in_title, forge.check_shows_report, forge.registers_runners,
                 forge.edits_commit_comments, forge.checkout_stores_token_header):
        assert isinstance(flag, bool)
    assert forge.ci_names and forge.name in forge.ci_names
    if forge.job_token_variable:
        assert forge.job_token_user and forge.job_token_advice


@forges
def test_each_forge_recognises_its_own_hosts_and_no_other_forges(forge: type[Forge]):
    assert forge.well_known_hosts
    for host in forge.well_known_hosts:
        assert forge.recognises_host(host) and forge.recognises_host(host.upper() + ":443")
        assert driver_for_host(host) == forge.name
        for other in FORGES:
            if other is not forge:
                assert not other.recognises_host(host)
    assert not forge.recognises_host("forge.example") and driver_for_host("forge.example") is None


@forges
def test_each_forge_finds_its_api_on_its_public_host_and_on_a_self_hosted_one(forge: type[Forge]):
    assert forge.default_api_url and forge.default_api_url.startswith("https://")
    for host in forge.well_known_hosts:
        assert forge.api_url_for("https", host) == forge.default_api_url
    assert forge.api_path == "" or forge.api_path.startswith("/")
    assert forge.api_url_for("https", "forge.example:8443") == f"https://forge.example:8443{forge.api_path}"
    assert forge.api_url_for("http", "forge.example") == f"http://forge.example{forge.api_path}"


def test_bitbucket_cloud_includes_its_subdomains_and_has_one_web_address():
    bitbucket = forge_class("bitbucket")
    assert driver_for_host("altssh.bitbucket.org") == "bitbucket"
    assert bitbucket.api_url_for("https", "altssh.bitbucket.org") == bitbucket.default_api_url
    assert bitbucket.public_web_url == "https://bitbucket.org"
    assert driver_for_host("notbitbucket.org") is None


@forges
def test_each_forge_recognises_its_own_ci_and_no_other_forges(forge: type[Forge], tmp_path):
    environments = ci_environments(tmp_path)
    assert set(environments) == set(DRIVERS), "every forge needs its CI environment here"
    for environ in environments[forge.name]:
        context = forge.from_ci(environ)
        assert isinstance(context, RepositoryContext)
        assert (context.driver, context.ci) == (forge.name, forge.name)
        assert context.api_url and context.repository and context.sha
        assert ci_repository_context(environ) == context
    for name, others in environments.items():
        if name != forge.name:
            assert all(forge.from_ci(environ) is None for environ in others), name
    assert forge.from_ci({}) is None and forge.from_ci({"CI": "true"}) is None


def test_outside_a_known_ci_there_is_no_ci_context():
    assert ci_repository_context({}) is None
    assert ci_repository_context({"CI": "true"}) is None


@forges
def test_each_forge_names_the_run_it_reruns_and_the_page_of_its_run(forge: type[Forge], tmp_path):
    for environ in ci_environments(tmp_path)[forge.name]:
        context = forge.from_ci(environ)
        assert forge.rerun_target(context) in (context.run_id, context.workflow)
        assert forge.rerun_target(context)
        url = forge.run_url(context)
        assert url is None or url.startswith(context.server_url or "http")


def test_only_github_actions_runs_have_a_run_page(tmp_path):
    context = forge_class("github").from_ci(github_actions_env(tmp_path))
    assert forge_class("github").run_url(context) == "https://github.com/octo/models/actions/runs/555"
    gitea = forge_class("gitea")
    assert gitea.run_url(gitea.from_ci(gitea_env(Server, tmp_path))) is None


@forges
def test_each_forge_opens_an_adapter_for_its_context(forge: type[Forge]):
    context = RepositoryContext(driver=forge.name, api_url=f"{Server.url}{forge.api_path or '/2.0'}",
                                repository="team/models", project_id="42", server_url="https://forge.example")
    adapter = forge.open(context, "a-token", HttpPolicy(), {})
    assert isinstance(adapter, forge)
    assert (adapter.repository, adapter.token, adapter.api_url) == ("team/models", "a-token", context.api_url)
    assert isinstance(open_forge(context, "a-token", {}), forge)
    user, password = git_credentials(forge.name, "a-token")
    assert (user, password) == (forge.git_username, "a-token")


@forges
def test_a_job_token_alone_is_refused_with_the_forges_advice(forge: type[Forge]):
    if not forge.job_token_variable:
        with pytest.raises(ForgeConfigurationError, match="^no token"):
            find_token(None, forge.name, {"CI_JOB_TOKEN": "job"})
        return
    with pytest.raises(ForgeConfigurationError) as refused:
        find_token(None, forge.name, {forge.job_token_variable: "job"})
    assert str(refused.value) == forge.job_token_advice
    assert find_token(None, forge.name, {forge.job_token_variable: "job", "REPO_TOKEN": "repo"}) == "repo"


def _forge_name_comparisons(tree: ast.AST, names: set[str]):
    """``(line, name)`` of every string constant in ``names`` that code compares with, looks up or keys by."""

    def named(node: ast.AST):
        if isinstance(node, ast.Constant) and node.value in names:
            yield node.lineno, node.value
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):  # x in ("github", "gitea")
            for element in node.elts:
                yield from named(element)

    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):  # a hand-kept list of forges: ("github", "gitlab")
            listed = [element for element in node.elts if isinstance(element, ast.Constant) and element.value in names]
            if len(listed) > 1:
                yield from ((element.lineno, element.value) for element in listed)
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                yield from named(operand)
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    yield from named(key)
        elif isinstance(node, ast.Subscript):  # TABLE["github"]
            yield from named(node.slice)


@pytest.mark.parametrize("code", [
    'driver == "gitlab"', 'forge.name != "github"', 'ci in ("gitea", "forgejo")', '{"bitbucket": 1}',
    'URLS["github"]', 'CHOICES = ["github", "gitlab"]',
])
def test_the_scan_finds_forge_names_compared_looked_up_or_listed(code):
    assert list(_forge_name_comparisons(parse_python(code), set(DRIVERS) | set(OTHER_FORGE_NAMES)))


def test_the_scan_leaves_names_in_text_and_data_rows_alone():
    code = 'help = "github or gitlab"\nROW = CISystem("github", ("GITHUB_ACTIONS",), "GITHUB_BASE_REF")\n'
    assert list(_forge_name_comparisons(parse_python(code), set(DRIVERS))) == []


def test_no_module_outside_a_forges_own_compares_forge_names():
    names = set(DRIVERS) | set(OTHER_FORGE_NAMES)
    own = {Path(sys.modules[forge.__module__].__file__).resolve(): {forge.name, *forge.ci_names} for forge in FORGES}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        allowed = own.get(path.resolve(), set())
        tree = parse_python(path)
        found += [f"{path.relative_to(ROOT)}:{line}: {name!r}"
                  for line, name in sorted(set(_forge_name_comparisons(tree, names))) if name not in allowed]
    assert found == [], "forge names compared outside the forge's own module (ask the Forge class instead):\n" + \
        "\n".join(found)
