"""project_refusal: the one check of paths a project's own files name (dvc.yaml's metrics, params and plots, the
report settings), so a pull request cannot make cml read and publish other files of the machine."""

from __future__ import annotations

import os

import pytest

from cml.fileio import project_refusal


@pytest.fixture
def project(tmp_path):
    (tmp_path / "secret.json").write_text("{}")
    folder = tmp_path / "project"
    (folder / "eval").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[http] extraheader = AUTHORIZATION: basic token")
    (folder / "metrics.json").write_text("{}")
    os.symlink(tmp_path / "secret.json", folder / "link.json")
    os.symlink(folder / ".git" / "config", folder / "config.json")
    os.symlink("../metrics.json", folder / "eval" / "inner.json")
    return folder


@pytest.mark.parametrize("path", ["metrics.json", "eval/../metrics.json", "./eval/x.csv", "git/x.csv", ".github/x"])
def test_files_of_the_project_are_read(project, path):
    assert project_refusal(path) is None
    assert project_refusal(path, root=str(project)) is None


@pytest.mark.parametrize("path", ["/etc/passwd", "/" + "x.csv", "\\\\server\\share\\x.csv"])
def test_an_absolute_path_is_refused_saying_what_to_do(project, path):
    expected = "is an absolute path; give a path inside the project folder"
    assert project_refusal(path, "the project folder") == expected
    assert project_refusal(path, "the project folder", str(project)) == expected


@pytest.mark.parametrize("path", ["..", "../secret.json", "eval/../../secret.json", "eval/../.."])
def test_a_path_leaving_the_project_is_refused(project, path):
    assert project_refusal(path) == "is outside the project; give a path inside it"
    assert project_refusal(path, root=str(project)) == (f"is outside the project ({os.path.realpath(project)}); "
                                                        "give a path inside it")


@pytest.mark.parametrize("path", [".git/config", "eval/../.git/config", ".GIT/config", "sub/.git/HEAD", ".git"])
def test_a_path_in_a_git_folder_is_refused_as_written(project, path):
    expected = "is inside the .git folder, which holds the repository's credentials; give a path outside it"
    assert project_refusal(path) == expected
    assert project_refusal(path, root=str(project)) == expected


def test_a_link_is_followed_on_disk_only(project):
    real = os.path.realpath(project.parent / "secret.json")
    assert project_refusal("link.json") is None  # text only: a git revision's link is not followed
    assert project_refusal("link.json", "the repository", str(project)) == (
        f"is outside the repository ({os.path.realpath(project)}): it resolves to {real}; give a path inside it")
    assert project_refusal("link.json", root=str(project), resolve=False) is None
    assert project_refusal("config.json", root=str(project)).startswith("is inside the .git folder")
    assert project_refusal("eval/inner.json", root=str(project)) is None  # a link inside the project


def test_a_subfolder_may_name_files_up_to_the_root(project):
    folder = str(project / "eval")
    assert project_refusal("../metrics.json", root=str(project), folder=folder) is None
    assert project_refusal("../../secret.json", root=str(project), folder=folder).startswith("is outside the project (")
    assert project_refusal("../.git/config", root=str(project), folder=folder).startswith("is inside the .git folder")
    # A project reached through a link is the same project.
    os.symlink(project, project.parent / "alias")
    assert project_refusal("metrics.json", root=str(project), folder=str(project.parent / "alias")) is None
    assert project_refusal("../secret.json", root=str(project.parent / "alias")).startswith("is outside")
