"""Image links printed for the report they are appended to (``--report``), without drawing anything."""

import os

import pytest

from cml.report.markdown import link_target
from cml.report.plots import Plot


@pytest.mark.parametrize("image, report, link", [
    ("out/cm.png", None, "out/cm.png"),
    ("out/cm.png", "out/report.md", "cm.png"),
    ("out/cm.png", "report.md", "out/cm.png"),
    ("out/cm.png", "docs/not/yet/report.md", "../../../out/cm.png"),
    ("./out/../out/cm.png", "out/report.md", "cm.png"),
    ("plots dir/a (1).png", "report.md", "<plots dir/a (1).png>"),
])
def test_image_links_are_relative_to_the_report_folder(tmp_path, monkeypatch, image, report, link):
    monkeypatch.chdir(tmp_path)
    assert Plot(image, "Title").markdown_in(report) == f"![Title]({link})"
    assert not os.path.exists("out") and not os.path.exists("docs")


def test_absolute_image_paths_become_relative_to_the_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = str(tmp_path / "out" / "cm.png")
    assert Plot(absolute, "t").markdown_in("out/report.md") == "![t](cm.png)"
    assert Plot(absolute, "t").markdown_in(str(tmp_path / "report.md")) == "![t](out/cm.png)"
    assert Plot(absolute, "t").markdown_in(None) == f"![t]({absolute})"


def test_a_path_with_no_relative_form_stays_absolute(tmp_path, monkeypatch):
    def other_drive(path, start=os.curdir):
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os.path, "relpath", other_drive)
    assert link_target("cm.png", "elsewhere") == os.path.abspath("cm.png").replace(os.sep, "/")


def test_the_python_report_links_its_images_the_same_way(tmp_path):
    from cml import Report

    image = tmp_path / "plots" / "cm.png"
    report = Report(tmp_path).image(image, "cm")
    assert report.markdown(tmp_path / "docs") == "![cm](../plots/cm.png)\n"
    assert Plot(str(image), "cm").markdown_in(tmp_path / "docs" / "report.md") == "![cm](../plots/cm.png)"
