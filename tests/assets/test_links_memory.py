"""The link scanner's peak memory on a megabyte of Markdown: cmark keeps a node of some 200 bytes for each "[", "<",
"&", line end... of a paragraph, so a report in which nothing can be found is not parsed."""

import random
import subprocess
import sys

import pytest

from cml.assets.links import _definitions, _scan, _Source, find_destinations

MEGABYTE = 1 << 20

#: Prints the peak resident memory (KiB) of scanning each file named on the command line, in a fresh process.
PROBE = """
import resource, sys
from cml.assets.links import find_destinations
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        assert find_destinations(handle.read()) == [], path
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak // 1024 if sys.platform == "darwin" else peak)
"""

_FLOODS = {
    "unmatched [": "[" * MEGABYTE,
    "![ repeated": "![" * (MEGABYTE // 2),
    "< repeated": "<" * MEGABYTE,
    "& repeated": "&" * MEGABYTE,
    "backslashes": "\\" * MEGABYTE,
    "nested quotes": ">" * MEGABYTE + " x\n",
    "short lines": "a\n" * (MEGABYTE // 2),
    "alternating emphasis": "*_" * (MEGABYTE // 2),
}


def _peak_kib(tmp_path, texts):
    paths = []
    for index, text in enumerate(texts):
        paths.append(tmp_path / f"report-{index}.md")
        paths[-1].write_text("# Report\n\n" + text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, paths)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.skipif(sys.platform == "win32", reason="the resource module is Unix only")
def test_a_megabyte_flood_without_links_costs_what_plain_prose_costs(tmp_path):
    sentence = "The model was trained for ten epochs and reached a validation accuracy of 0.93. "
    prose = _peak_kib(tmp_path, [sentence * (MEGABYTE // len(sentence))])
    floods = _peak_kib(tmp_path, list(_FLOODS.values()))
    # cmark would take 190-270 MiB for any one of them
    assert floods < prose + 20 * 1024, (floods, prose)


_PIECES = ["[", "]", "(", ")", "!", "<", ">", "img", "&amp;", "\\", "`", "*", "_", "~", "|", "-", ":", "a.png",
           "\n", "\n\n", " ", "    ", "> ", "- ", "1. ", "#", "=", "<!--", "-->", "<div>", "http://x.test", "www.x.test"]


def test_without_a_link_opening_an_img_tag_or_a_definition_cmark_finds_nothing():
    """What the early return stands on: a full scan of text lacking "](", "<img" and "]:" finds nothing."""
    generator = random.Random(7)
    for _ in range(2000):
        text = "".join(generator.choice(_PIECES) for _ in range(generator.randint(1, 40)))
        data = text.encode()
        if b"](" in data or b"]:" in data or b"<img" in data.lower():
            continue
        source = _Source(data)
        found, covered = _scan(source)
        assert found + _definitions(source, covered) == [], text
        assert find_destinations(text) == []


@pytest.mark.parametrize("text, url", [
    ("[" * 1000 + "](a.png)", "a.png"),
    ("<" * 1000 + "<img src=a.png>", "a.png"),
    ("&" * 1000 + "\n\n[x]: a.png\n", "a.png"),
    ("[x]\n\n[x]:\na.png\n", "a.png"),
])
def test_a_flood_with_one_link_still_has_its_link_found(text, url):
    assert [destination.url for destination in find_destinations(text)] == [url]
