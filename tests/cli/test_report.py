"""``cml report preview``: GitHub-flavoured rendering into one offline HTML file, checked in Chromium."""

import base64
import os
import re
from pathlib import Path

import pytest

REPORT = """# Results

| Metric | Value |
|:--|--:|
| accuracy | 0.93 |

- [x] trained
- [ ] deployed

![Confusion matrix](plots/confusion matrix.png)

<details><summary>Raw log</summary>

~~~
epoch 1 loss 0.5
~~~
</details>

<script>alert(1)</script>

https://example.com/autolink
"""


@pytest.fixture
def report_dir(repo, run_cli):
    repo.write("predictions.csv", "actual,predicted\na,a\na,b\nb,b\nc,c\n")
    assert run_cli("plot", "confusion", "predictions.csv", "-o", "plots/confusion matrix.png").exit_code == 0
    repo.write("report.md", REPORT.replace("plots/confusion matrix.png", "<plots/confusion matrix.png>"))
    return repo.path


def test_preview_is_self_contained_and_filters_tags_like_github(report_dir, run_cli):
    result = run_cli("report", "preview", "report.md")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "report.html\n"
    page = (report_dir / "report.html").read_text()
    assert '<th align="right">Value</th>' in page
    assert '<input type="checkbox" checked="" disabled="" />' in page
    assert "<details><summary>Raw log</summary>" in page
    assert "<script>" not in page and "&lt;script>" in page
    assert '<a href="https://example.com/autolink">' in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,")
    png = (report_dir / "plots/confusion matrix.png").read_bytes()
    assert base64.b64decode(images[0].split(",", 1)[1]) == png
    assert not re.search(r'(src|href)="(?!data:|https://example.com)', page), "page must not load anything"


def test_missing_image_is_a_warning_not_a_failure(repo, run_cli):
    repo.write("r.md", "![gone](missing.png)\n")
    result = run_cli("report", "preview", "r.md", "-o", "out/preview.html")
    assert result.exit_code == 0
    assert result.stderr == "cml: warning: r.md: image 'missing.png' not found; it is left as a broken link\n"
    assert Path("out/preview.html").is_file()


def test_preview_errors(repo, run_cli):
    missing = run_cli("report", "preview", "nope.md")
    assert missing.exit_code == 1 and missing.stderr.startswith("cml: error: nope.md: no such file")
    repo.write("same.md", "x")
    same = run_cli("report", "preview", "same.md", "-o", "same.md")
    assert same.exit_code == 1 and "--output" in same.stderr
    assert not Path("nope.html").exists()


@pytest.mark.browser
def test_preview_renders_in_chromium_with_images_loaded(report_dir, run_cli, browser, tmp_path):
    assert run_cli("report", "preview", "report.md", "-o", str(tmp_path / "elsewhere" / "page.html")).exit_code == 0
    browser.get((tmp_path / "elsewhere" / "page.html").as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert images and all(done and width > 300 and height > 300 for done, width, height in images), images
    cells = browser.execute_script("return Array.from(document.querySelectorAll('td')).map(c => c.textContent)")
    assert cells == ["accuracy", "0.93"]
    assert browser.execute_script("return document.querySelector('h1').textContent") == "Results"
    assert browser.execute_script("return getComputedStyle(document.querySelector('td')).borderTopStyle") == "solid"
    shot = tmp_path / "preview.png"
    browser.save_screenshot(str(shot))
    from tests.conftest import assert_image

    assert_image(shot, 800, 800)
    if os.environ.get("PREVIEW_SCREENSHOT"):
        Path(os.environ["PREVIEW_SCREENSHOT"]).write_bytes(shot.read_bytes())
