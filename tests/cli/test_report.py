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
    assert '<input type="checkbox" checked="" disabled="">' in page
    assert "<details><summary>Raw log</summary>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<a href="https://example.com/autolink" rel="noopener noreferrer">' in page
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


HOSTILE = """# Hostile

<img src="x.png" onerror="window.pwned = 'img'; document.title = 'pwned'">
<details open ontoggle="window.pwned = 'details'"><summary>s</summary>body</details>

[click](javascript:window.pwned='link') <a href="JaVaScRiPt:window.pwned='a'">a</a>
<a href=" &#106;avascript:window.pwned='entity'">entity</a> <a href="vbscript:msgbox(1)">vb</a>
<a href="data:text/html,<script>alert(1)</script>">data</a>

<svg onload="window.pwned='svg'"><circle r="5"/></svg>
<iframe srcdoc="<script>parent.pwned='iframe'</script>"></iframe>
<style>body { display: none }</style>
<script>window.pwned = 'script'</script>
<form action="https://evil.test"><input name="q" autofocus onfocus="window.pwned='focus'"><button>go</button></form>
<div style="position:fixed;inset:0" onclick="window.pwned='click'" onmouseover="window.pwned='hover'">div</div>
<math><mtext><table><mglyph><style><img src=x onerror="window.pwned='mxss'"></style></mglyph></table></mtext></math>
<object data="javascript:window.pwned='object'"></object><embed src="javascript:window.pwned='embed'">
<meta http-equiv="refresh" content="0;url=javascript:window.pwned='meta'">
<base href="javascript:window.pwned='base'//">
<noscript><p title="</noscript><img src=x onerror=window.pwned='noscript'>"></noscript>
<a href="https://example.com/ok" target="_blank" onmouseover="window.pwned='a-hover'">fine</a>
"""

GITHUB_FEATURES = """# Title

| left | right |
|:-----|------:|
| a    | 1     |

<details><summary>More</summary>

- [x] done
- [ ] to do

</details>

```python
print("hi")
```

<div align="center"><img src="https://example.com/p.png" alt="plot" width="200" height="100" align="right"></div>
<p align="center">x<sup>2</sup> H<sub>2</sub>O <kbd>Ctrl</kbd> <del>old</del> <ins>new</ins></p>
<picture><source media="(prefers-color-scheme: dark)" srcset="https://example.com/d.png">
<img alt="logo" src="https://example.com/l.png"></picture>

<ol start="3"><li>three</li></ol>

> quoted

[mail](mailto:ml@example.com) [docs](https://example.com/docs#part) [relative](docs/page.md)
"""


def _fragment(page: str) -> str:
    return page.split('<article class="markdown-body">', 1)[1].split("</article>", 1)[0]


def _tags_and_attributes(fragment: str) -> list[tuple[str, dict]]:
    from html.parser import HTMLParser

    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collector().feed(fragment)
    return found


def test_preview_removes_script_event_handlers_and_dangerous_urls(repo, run_cli):
    repo.write("report.md", HOSTILE)
    result = run_cli("report", "preview", "report.md")
    assert result.exit_code == 0, result.stderr
    page = (repo.path / "report.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    elements = _tags_and_attributes(_fragment(page))
    dangerous_tags = {"script", "iframe", "style", "svg", "math", "form", "object", "embed", "meta", "base",
                      "noscript", "button", "mglyph"}
    assert {tag for tag, _ in elements} & dangerous_tags == set()
    attributes = {(tag, name): value for tag, attrs in elements for name, value in attrs.items()}
    assert [key for key in attributes if key[1].startswith("on") or key[1] in ("style", "srcdoc", "action")] == []
    urls = [value.strip().lower() for (tag, name), value in attributes.items() if name in ("href", "src")]
    assert urls and all(url.startswith(("https://", "x.png", "x")) for url in urls), urls
    assert ("a", "href") in attributes and attributes[("a", "href")] == "https://example.com/ok"


def test_preview_keeps_what_github_keeps(repo, run_cli):
    repo.write("report.md", GITHUB_FEATURES)
    assert run_cli("report", "preview", "report.md").exit_code == 0
    fragment = _fragment((repo.path / "report.html").read_text())
    for kept in ('<th align="left">left</th>', '<td align="right">1</td>', "<details><summary>More</summary>",
                 '<input type="checkbox" checked="" disabled="">', '<pre lang="python"><code>',
                 '<div align="center"><img src="https://example.com/p.png" alt="plot" width="200" height="100" '
                 'align="right"></div>', '<p align="center">', "<sup>2</sup>", "<sub>2</sub>", "<kbd>Ctrl</kbd>",
                 "<del>old</del>", "<ins>new</ins>",
                 '<source media="(prefers-color-scheme: dark)" srcset="https://example.com/d.png">',
                 '<ol start="3">', "<blockquote>", 'href="mailto:ml@example.com"',
                 'href="https://example.com/docs#part"', 'href="docs/page.md"', "<h1>Title</h1>"):
        assert kept in fragment, kept


@pytest.mark.browser
def test_a_hostile_report_runs_no_script_in_chromium(repo, run_cli, browser, tmp_path):
    repo.write("report.md", HOSTILE)
    assert run_cli("report", "preview", "report.md").exit_code == 0
    page_url = (repo.path / "report.html").as_uri()
    browser.get(page_url)
    browser.execute_script(
        "document.querySelectorAll('a:not([href^=\"https:\"]), div, details, summary').forEach(e => e.click());"
        "document.querySelectorAll('*').forEach(e => e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})));"
    )
    import time

    time.sleep(0.5)
    assert browser.current_url == page_url
    assert browser.execute_script("return [typeof window.pwned, document.title]") == ["undefined", "report.md"]
    assert browser.execute_script("return document.querySelectorAll('iframe, script:not([src]), svg').length") == 0


def test_preview_inlines_only_images_publishing_would_send(repo, run_cli, tmp_path):
    from tests.assets.conftest import png
    from tests.fakes.ci_env import TOKEN

    ok, plot, outside = png(3, 3, (1, 2, 3)), png(4, 4, (4, 5, 6)), png(5, 5, (7, 8, 9))
    (tmp_path / "secret.png").write_bytes(outside)
    (tmp_path / "other.png").write_bytes(outside)
    (repo.path / "ok.png").write_bytes(ok)
    (repo.path / "plot").write_bytes(plot)
    (repo.path / "fake.png").write_text("not an image at all\n")
    (repo.path / "leak.png").write_bytes(png(1, 1, (0, 0, 0)) + TOKEN.encode())
    repo.write("report.md", "\n\n".join([
        "![ok](ok.png) ![plot](plot)", '<img src="&#47;etc&#47;passwd">', "![host](/etc/hostname)",
        "![up](../secret.png) ![encoded](%2e%2e/other.png)", "![config](.git/config)", "![fake](fake.png)",
        "![leak](leak.png)", "![gone](gone.png)"]) + "\n")
    result = run_cli("report", "preview", "report.md", env={"REPO_TOKEN": TOKEN})
    assert result.exit_code == 0, result.stderr
    secret = os.path.realpath(tmp_path / "secret.png")
    refused = "it is outside the report's folder and the CI workspace (resolves to {}); pass --allow-outside FOLDER " \
              "if this is intended"
    assert result.stderr.splitlines() == [f"cml: warning: report.md: image '{source}' {reason}" for source, reason in [
        ("/etc/passwd", "is left as a link: " + refused.format("/etc/passwd")),
        ("/etc/hostname", "is left as a link: " + refused.format("/etc/hostname")),
        ("../secret.png", "is left as a link: " + refused.format(secret)),
        ("%2e%2e/other.png", "is left as a link: " + refused.format(secret.replace("secret", "other"))),
        (".git/config", "is left as a link: it is inside a .git folder, which holds the repository's credentials; "
                        "link a copy outside it"),
        ("fake.png", "is left as a link: its content is not a PNG, JPEG, GIF, WebP or SVG image"),
        ("leak.png", "is left as a link: it contains a token or credential of this job"),
        ("gone.png", "not found; it is left as a broken link"),
    ]]
    sources = re.findall(r'<img src="([^"]+)"', (repo.path / "report.html").read_text())
    inlined = [base64.b64decode(source.split(",", 1)[1]) for source in sources if source.startswith("data:")]
    assert inlined == [ok, plot]
    assert sources[2:] == ["/etc/passwd", "/etc/hostname", "../secret.png", "%2e%2e/other.png", ".git/config",
                           "fake.png", "leak.png", "gone.png"]

    widened = run_cli("report", "preview", "report.md", "--allow-outside", str(tmp_path), env={"REPO_TOKEN": TOKEN})
    assert "secret.png" not in widened.stderr and "/etc/passwd" in widened.stderr
    assert base64.b64encode(outside).decode() in (repo.path / "report.html").read_text()


def test_preview_inlines_images_up_to_a_bound_per_page(repo, run_cli):
    from tests.assets.conftest import png

    with open(repo.path / "huge.png", "wb") as huge:
        huge.write(png(2, 2, (1, 1, 1)))
        huge.truncate(65 * 1024 * 1024)  # sparse: a PNG signature, then zeros
    (repo.path / "small.png").write_bytes(png(2, 2, (3, 3, 3)))
    repo.write("report.md", "![huge](huge.png) ![small](small.png)\n")
    result = run_cli("report", "preview", "report.md")
    assert result.exit_code == 0
    assert result.stderr == ("cml: warning: report.md: image 'huge.png' is left as a link: the page's inlined images "
                             "would pass 64.0 MiB\n")
    assert (repo.path / "report.html").stat().st_size < 100_000


def test_preview_help_starts_with_examples(run_cli):
    assert "\n  Examples:\n    cml report preview report.md\n" in run_cli("report", "preview", "--help").stdout
