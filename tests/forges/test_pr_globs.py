"""``cml pr create GLOB…`` matches changed files as iterative/cml's globby did: ``**/`` at every depth, the top
level included, whatever the order of the globs; a glob that matches nothing is a visible warning."""

import pytest

from tests.forges.test_pr_create import clone, git  # noqa: F401  (clone is a fixture)


def test_globs_match_at_every_depth_and_md_prints_the_link(clone, github, run_cli):  # noqa: F811
    work, bare, _ = clone
    (work / "src").mkdir()
    for name in ("train.py", "params.json", "src/x.py", "src/.hidden.json", "notes.txt"):
        (work / name).write_text(f"new {name}\n")

    first = run_cli("pr", "create", "**/*.py", "**/*.json")
    assert first.exit_code == 0, first.stderr
    (pull,) = github.pull_store.pulls
    assert first.stdout == f"https://github.test/octo/models/pull/{pull['number']}\n"
    changed = git("diff", "--name-only", "main", pull["source"], cwd=bare).splitlines()
    assert sorted(changed) == ["params.json", "src/.hidden.json", "src/x.py", "train.py"]

    again = run_cli("pr", "create", "**/*.json", "**/*.py", "--md")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == f"[CML's Pull Request](https://github.test/octo/models/pull/{pull['number']})\n\n"
    assert len(github.pull_store.pulls) == 1


def test_no_changed_file_matching_is_a_warning_not_silence(clone, github, run_cli):  # noqa: F811
    work, _, _ = clone
    (work / "train.py").write_text("changed\n")
    result = run_cli("pr", "**/*.csv", "--md")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("::warning::no changed file matches **/*.csv; nothing to commit")
    assert github.pull_store.pulls == []


@pytest.mark.parametrize("patterns, prefix, expected", [
    (["**/*.py"], "", [":(top,glob)**/*.py"]),
    (["*.{json,yaml}"], "sub/", [":(top,glob)sub/*.json", ":(top,glob)sub/*.yaml"]),
    (["a{b,{c,d}}e"], "", [":(top,glob)abe", ":(top,glob)ace", ":(top,glob)ade"]),
    (["./models/", "!models/tmp"], "", [":(top,glob)models", ":(top,glob,exclude)models/tmp"]),
    (["../params.json", "."], "sub/", [":(top,glob)params.json", ":(top,glob)sub"]),
    (["{solo}"], "", [":(top,glob){solo}"]),
])
def test_globs_become_top_relative_git_pathspecs(patterns, prefix, expected):
    from cml.actions.pulls import glob_pathspecs

    assert glob_pathspecs(patterns, prefix) == expected


def test_a_glob_outside_the_repository_is_refused():
    from cml.errors import UsageError
    from cml.actions.pulls import glob_pathspecs

    with pytest.raises(UsageError, match=r"\.\./x is outside the repository"):
        glob_pathspecs(["../x"], "")
