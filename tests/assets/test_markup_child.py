"""A report past the markup count is parsed by cmark in a child process of bounded memory and CPU time
(cml.sandbox): a long training log in a code fence, which the count overestimates, is posted and
previewed; a flood cmark would spend a gigabyte on is still refused, on its line."""

import json
import os
import subprocess
import sys

import pytest

from cml import sandbox
from cml.assets.links import TooMuchMarkup, find_destinations
from cml.sandbox import MEMORY_BUDGET, run_bounded, supported
from cml.assets.references import Boundary, collect_references
from cml.errors import InputError
from cml.report.truncate import markup_overflow
from tests.assets.conftest import CONFUSION, content_name

#: What the scan runs in the child.
DESTINATIONS = "cml.assets.links:destinations_in_child"
pytestmark = pytest.mark.skipif(not supported(), reason="the child's memory is bounded on Linux only")

MEBIBYTE = 1 << 20


def keras_log(size: int) -> str:
    """What Keras prints while it trains, ``size`` characters of it: a third of it is punctuation."""
    lines: list[str] = []
    length, epoch = 0, 0
    while length < size:
        epoch += 1
        lines.append(f"Epoch {epoch}/1000")
        for step in range(1, 41):
            bar = "=" * (step * 30 // 40) + ">" + "." * (30 - step * 30 // 40)
            lines.append(f"{step:>4}/40 [{bar}] - ETA: 0s - loss: {1 / (epoch + step):.4f} - accuracy: "
                         f"{step / 41:.4f} - val_loss: {0.5 / epoch:.4f}")
        length += sum(len(line) + 1 for line in lines[-41:])
    return "\n".join(lines)


LOG_REPORT = ("# Training\n\n![loss](loss.png)\n\n<details><summary>Log</summary>\n\n```\n" + keras_log(1_300_000)
              + "\n```\n\n</details>\n\nSee [the model card](card.md).\n")
FLOOD = "# R\n\n![a](a.png)\n\n" + "[" * (4 * MEBIBYTE) + "](a.png)\n"


def test_a_long_log_in_a_code_fence_is_scanned_exactly():
    assert markup_overflow(LOG_REPORT.encode()) is not None  # refused before the child
    found = find_destinations(LOG_REPORT)
    assert found == find_destinations(LOG_REPORT, bounded=False)  # cmark's parse, in this process
    assert [(d.url, d.kind, d.line) for d in found] == [("loss.png", "image", 3),
                                                        ("card.md", "link", LOG_REPORT.count("\n"))]
    assert found[1].whole is not None and LOG_REPORT[slice(*found[1].whole)] == "[the model card](card.md)"


def test_non_ascii_reports_get_character_offsets_from_the_child():
    text = "# Résumé ✓\n\n![é](é.png)\n\n```\n" + "ü=[…]; " * 200_000 + "\n```\n[ß](ß.md)\n"
    assert markup_overflow(text.encode()) is not None
    found = find_destinations(text)
    assert found == find_destinations(text, bounded=False)
    assert [text[d.start:d.end] for d in found] == ["é.png", "ß.md"]


def test_a_flood_that_passes_the_childs_memory_is_refused_on_its_line():
    with pytest.raises(TooMuchMarkup) as raised:
        find_destinations(FLOOD)
    assert raised.value.line == 5
    assert run_bounded(DESTINATIONS, FLOOD.encode()) is None
    assert run_bounded(DESTINATIONS, FLOOD.encode(), memory=4 << 30) is not None  # it dies of the limit


def test_a_child_out_of_cpu_time_is_refused_with_the_one_line_error(tmp_path, monkeypatch):
    some = "# R\n\n" + "[a](plot.png) " * 70_000 + "\n"  # over the markup count, under the destinations' cap
    assert run_bounded(DESTINATIONS, some.encode(), cpu_seconds=0) is None
    assert len(json.loads(run_bounded(DESTINATIONS, some.encode()) or b"")) == 70_000
    links = "# R\n\n" + "[a](plot.png) " * 200_000 + "\n"  # 2 s of CPU time to scan, 250 MiB
    assert run_bounded(DESTINATIONS, links.encode()) is None  # more destinations than the parent may hold
    monkeypatch.setattr(sandbox, "CPU_SECONDS", 1)
    report = tmp_path / "report.md"
    with pytest.raises(InputError) as raised:
        collect_references(links, str(report), Boundary([str(tmp_path)]))
    message = str(raised.value)
    assert message.startswith(f"{report}:3: more than 400,000 characters of Markdown markup") and "\n" not in message


def test_the_child_gets_no_secret_of_the_job(monkeypatch):
    monkeypatch.setenv("REPO_TOKEN", "ghs_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("PYTHONPATH", "/nowhere")  # ignored: the child imports the cml of its parent (-I)
    assert sandbox.child_environment() == {"PATH": os.environ["PATH"]}
    assert run_bounded(DESTINATIONS, LOG_REPORT.encode()) is not None


#: Runs ``collect_references`` or ``preview_file`` on the report named on the command line in a fresh process and
#: prints the peak resident memory (KiB) of the children it started and waited for (0 if none) and the outcome.
PROBE = """
import os, resource, sys
from cml.errors import InputError
task, path = sys.argv[1:]
try:
    if task == "scan":
        from cml.assets.references import Boundary, collect_references
        with open(path, encoding="utf-8") as handle:
            outcome = len(collect_references(handle.read(), path, Boundary([os.path.dirname(path)])))
    else:
        from cml.report.preview import preview_file
        outcome = len(preview_file(path).html)
except InputError as error:
    outcome = str(error)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(outcome)
"""


def _probe(tmp_path, task, text):
    path = tmp_path / "report.md"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "loss.png").write_bytes(CONFUSION)
    result = subprocess.run([sys.executable, "-c", PROBE, task, str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    child, outcome = result.stdout.split("\n", 1)
    return int(child) // 1024, outcome.strip()


@pytest.mark.parametrize("task", ["scan", "preview"])
def test_a_child_is_started_only_for_a_report_past_the_markup_count(tmp_path, task):
    normal = "# R\n\n![loss](loss.png)\n\n```\n" + keras_log(100_000) + "\n```\n"
    assert markup_overflow(normal.encode()) is None
    child, outcome = _probe(tmp_path, task, normal)
    assert child == 0 and outcome.isdigit()
    child, outcome = _probe(tmp_path, task, LOG_REPORT)
    assert 0 < child < 200 and outcome.isdigit(), (child, outcome)


@pytest.mark.parametrize("task", ["scan", "preview"])
def test_a_flood_is_refused_when_the_child_reaches_its_memory_limit(tmp_path, task):
    child, outcome = _probe(tmp_path, task, FLOOD)
    assert outcome.startswith(f"{tmp_path / 'report.md'}:") and "characters of Markdown markup" in outcome
    assert MEMORY_BUDGET // MEBIBYTE // 2 < child < MEMORY_BUDGET // MEBIBYTE + 100, child  # cmark: 1 GB unbounded


def test_a_long_log_in_a_code_fence_is_previewed_as_cmark_renders_it(tmp_path):
    from cml.report.preview import markdown_to_html, preview_file, sanitise

    (tmp_path / "report.md").write_text(LOG_REPORT)
    (tmp_path / "loss.png").write_bytes(CONFUSION)
    page = preview_file(tmp_path / "report.md").html
    expected = sanitise(markdown_to_html(LOG_REPORT))
    assert expected.count("<pre>") == 1
    expected = expected.replace('src="loss.png"', 'src="data:image/png;base64,')
    body = page.split('<article class="markdown-body">\n', 1)[1].rsplit("</article>", 1)[0]
    before, after = expected.split('src="data:image/png;base64,', 1)
    assert body.startswith(before + 'src="data:image/png;base64,') and body.endswith(after.split('"', 1)[1])


def test_a_long_log_in_a_code_fence_is_posted(actions, github, tmp_path, run_cli, monkeypatch):
    store = github.enable_git_data(str(tmp_path / "github.git"))
    monkeypatch.setenv("GITHUB_SERVER_URL", github.base_url)
    (tmp_path / "report.md").write_text(LOG_REPORT)
    (tmp_path / "loss.png").write_bytes(CONFUSION)
    (tmp_path / "card.md").write_text("# Card\n")
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    (comment,) = github.comments_on(number=7)
    assert "characters of Markdown markup" not in result.stderr
    assert content_name(CONFUSION, ".png") in store.git("ls-tree", "--name-only", "cml-assets")
    assert f"![loss]({github.base_url}/{github.repository}/raw/cml-assets/{content_name(CONFUSION, '.png')})" \
        in comment["body"]


def test_a_deeply_nested_quote_under_the_markup_count_is_previewed_in_the_child(tmp_path):
    """nh3 takes seconds on tens of thousands of nested quotes (a few hundred KB, under the count): bounded too."""
    nested = "# R\n\n" + ">" * 20_000 + " deep\n"
    assert markup_overflow(nested.encode()) is None
    child, outcome = _probe(tmp_path, "preview", nested)
    assert child > 0, (child, outcome)
