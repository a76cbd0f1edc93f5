"""The link scanner against hostile reports: code where cmark-gfm sees code, escaped paths decoded, linear time."""

import contextlib
import random
import re
import time

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from cml.assets.links import TooMuchMarkup, find_destinations, rewrite
from cml.assets.references import Boundary, collect_references
from cml.errors import InputError
from cml.report.truncate import MAX_MARKUP

MEGABYTE = 1 << 20


def _found(text):
    return [(d.kind, d.url, text[d.start:d.end]) for d in find_destinations(text)]


@pytest.mark.parametrize("text", [
    "- item\n\n        ![x](../../etc/passwd)\n",
    "- item\n\n\t\t[x](/etc/passwd)\n",
    "1. item\n\n   ```\n   [a](/etc/passwd)\n   ```\n",
    "> - quoted item\n>\n>       <img src=\"/etc/passwd\">\n",
    "- item\n\n      [ref]: /etc/passwd\n",
    "* a\n  * b\n\n          [deep](/etc/passwd)\n",
])
def test_code_inside_list_items_and_quotes_is_code(text):
    assert find_destinations(text) == []


def test_a_traversal_path_in_list_item_code_does_not_abort_the_post_and_is_not_rewritten(tmp_path):
    text = "- step one\n\n        cp ![x](../../etc/passwd) out\n\n![plot](plot.png)\n"
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "report.md").write_text(text)
    references = collect_references(text, str(tmp_path / "report.md"), Boundary.for_report(str(tmp_path / "r.md"), {}))
    assert [reference.destination.url for reference in references] == ["plot.png"]
    rewritten = rewrite(text, {reference.destination: "https://cdn.test/p.png" for reference in references})
    assert rewritten == text.replace("(plot.png)", "(https://cdn.test/p.png)")


def test_code_spans_and_comments_are_what_cmark_says():
    text = ("``[no](a.png)`` `` ` [no](b.png) ` `` <!-- [no](c.png)\n[no](d.png) -->\n\n"
            "`unclosed [yes](e.png)\n\n<div>\n<!-- <img src=\"f.png\"> --> <img src=\"g.png\">\n</div>\n")
    assert _found(text) == [("link", "e.png", "e.png"), ("html", "g.png", "g.png")]


def test_definition_shaped_lines_count_only_where_cmark_takes_definitions():
    text = ("text\n[para]: /etc/passwd\n\n<!--\n[comment]: /etc/shadow\n-->\n\n```\n[fenced]: /etc/group\n```\n\n"
            "[real]: real.png\n> [quoted]: <quoted one.png>\n\n[real] [quoted]\n")
    assert _found(text) == [("definition", "real.png", "real.png"), ("definition", "quoted one.png", "quoted one.png")]


@pytest.mark.parametrize("text, url, raw", [
    ('<img src="&#47;etc&#47;passwd">', "/etc/passwd", "&#47;etc&#47;passwd"),
    ("<IMG SRC='&sol;etc/passwd'>", "/etc/passwd", "&sol;etc/passwd"),
    ("[a](&#47;etc&#47;passwd)", "/etc/passwd", "&#47;etc&#47;passwd"),
    ("[a](\\/etc/passwd)", "/etc/passwd", "\\/etc/passwd"),
    ("![a](<&#x2F;etc/passwd> 'x')", "/etc/passwd", "&#x2F;etc/passwd"),
    ("[a]: \\.\\./secret\n\n[a]", "../secret", "\\.\\./secret"),
    ("[a](&amp)", "&amp", "&amp"),  # no ";": not a reference, as cmark reads it
])
def test_escaped_destinations_resolve_as_cmark_does_and_cover_the_raw_characters(text, url, raw):
    ((kind, found, written),) = _found(text)
    assert (found, written) == (url, raw)
    (destination,) = find_destinations(text)
    assert rewrite(text, {destination: "https://cdn.test/x"}) == text.replace(raw, "https://cdn.test/x", 1)


def test_an_entity_escaped_path_is_refused_under_its_real_name(tmp_path):
    text = '# R\n\n<img src="&#47;etc&#47;passwd">\n'
    with pytest.raises(InputError, match=r"report.md:3: refusing to publish /etc/passwd: it is outside"):
        collect_references(text, str(tmp_path / "report.md"), Boundary.for_report(str(tmp_path / "report.md"), {}),
                           strict=True)


def test_positions_are_characters_after_non_ascii_text_tabs_and_continuation_lines():
    text = ("é日本 [a](a.png) ü ![b](<ä b.png>)\n> quoted\n> é [c](c.png)\n   lazy é [d](d.png)\n\n"
            "* item\n  next [e](e.png)\n\tтаб [f](f.png)\n\n| é | [g](g.png) |\n|---|---|\n| ü \\| x | [h](h.png) |\n\n"
            "# é [i](i.png) #\n\nSetext é\n  [j](j.png)\n---\n")
    found = find_destinations(text)
    assert [(d.url, text[d.start:d.end], d.line) for d in found] == [
        ("a.png", "a.png", 1), ("ä b.png", "ä b.png", 1), ("c.png", "c.png", 3), ("d.png", "d.png", 4),
        ("e.png", "e.png", 7), ("f.png", "f.png", 8), ("g.png", "g.png", 10), ("h.png", "h.png", 12),
        ("i.png", "i.png", 14), ("j.png", "j.png", 17)]


def test_links_spanning_lines_and_what_follows_them_are_found():
    text = ("a [x](\n  x.png \"title\nmore\") b [y](y.png)\n  c\\\nd [z](\n<z z.png>) [w](w.png)\n"
            "e [u](u(1)\n't') [v](v.png (p))\n")
    assert [(url, raw) for _, url, raw in _found(text)] == [
        ("x.png", "x.png"), ("y.png", "y.png"), ("z z.png", "z z.png"), ("w.png", "w.png"), ("u(1)", "u(1)"),
        ("v.png", "v.png")]


_PIECES = ["[a](x.png)", '![b](y/z.png "t")', "[c](<s p.png>)", "[d](f(1).png)", "[e](&#47;etc)", "[f](\\/g)",
           "`[no](code.png)`", "[nested [x] y](n.png)", "é", "日本", "\t", "  ", "\n", "\n\n", "> ", "- ", "1. ",
           "    ", "[r][ref]", "[ref]", '<img src="i.png">', "<img alt=x src='j.png'>", "<!-- [c](c.png) -->",
           "*em [l](m.png)*", "**", "_", "text", "```", "~~~", "# ", "===", "---", "[a](x.png 'q')",
           "[a](x.png (p))", "[a](\n  nl.png)", '[a](x.png\n "title")', "[a]()", "[a](<>)", "![img](im.png)",
           "[![in](i1.png)](o.png)", "&amp;", "\\", "\\[", "[", "]", "(", ")", "<", ">", '"', "'",
           "[ref]: d.png\n", "[ref]: <d d.png> 'x'\n", "\\\\", "[a](b\\)c)", "[a](b\\(c)", "<div>\n", "</div>",
           "\r\n", "[x]:\n/y.png\n", "\n- a\n\n  ", "\n> ", "\n   ", "\n\t", "- [t](t.png)\n  [u](u.png)",
           "Title [s](s.png)\n===\n", "[q](a&amp;b.png)", '<img\nsrc="m.png">', "\n\n    [i](ind.png)\n"]
_TAG = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)=(["'])(.*?)\1""")


def _html(text):
    return cmarkgfm.markdown_to_html_with_extensions(text, Options.CMARK_OPT_UNSAFE, ["table", "strikethrough"])


def test_every_destination_cmark_renders_is_found_and_only_destinations_change():
    generator = random.Random(13)
    for _ in range(400):
        text = "".join(generator.choice(_PIECES) for _ in range(generator.randint(1, 20)))
        destinations = find_destinations(text)
        html = _html(rewrite(text, {d: f"https://cdn.test/{i}" for i, d in enumerate(destinations)}))
        assert [m.group(2) for m in _TAG.finditer(html) if not m.group(2).startswith("https://cdn.test/")] == [], text
        assert _TAG.sub("TAG", html) == _TAG.sub("TAG", _html(text)), text


_HOSTILE = {
    "unmatched [": "[" * MEGABYTE,
    "[a]( repeated": "[a](" * (MEGABYTE // 4),
    "unmatched backticks": "".join("`" * length + "a" for length in range(1, 1448)),  # no run closes another
    "backtick pairs": "`a" * (MEGABYTE // 2),
    "![ repeated": "![" * (MEGABYTE // 2),
    "<img src= repeated": "<img src=" * (MEGABYTE // 9),
    "unclosed <img quote": '<img src="' * (MEGABYTE // 10),
    "nested brackets": "[" * (MEGABYTE // 2) + "]" * (MEGABYTE // 2),
    "nested links": "[" * (MEGABYTE // 8) + "](x.png)" * (MEGABYTE // 16),
    "long < destination": "[a](<" + "a" * MEGABYTE,
    "[a](< repeated": "[a](<" * (MEGABYTE // 5),
    "unbalanced ( destination": "[a](" + "(" * MEGABYTE + " x)",
    "]( inside a destination": "[a](" + "](" * (MEGABYTE // 2) + " x)",
    "unclosed titles": '[a](b "' * (MEGABYTE // 7),
    "backslashes": "\\" * MEGABYTE,
    "unclosed comments": "<!--" * (MEGABYTE // 4),
    "definition labels": ("[" + "a" * 998 + "\n") * (MEGABYTE // 1000),
    "unclosed definitions": "[a]: <\n" * (MEGABYTE // 7),
    "<img src= in an HTML block": "<div>\n" + "<img src=x.png\n" * (MEGABYTE // 15),
}


@pytest.mark.parametrize("name", list(_HOSTILE))
def test_a_megabyte_of_hostile_markdown_is_scanned_in_well_under_two_seconds(name):
    started = time.thread_time()
    with contextlib.suppress(TooMuchMarkup):  # or refused, for more markup than cmark may be given
        find_destinations(_HOSTILE[name])
    assert time.thread_time() - started < 2.0


@pytest.mark.parametrize("name", list(_HOSTILE))
def test_hostile_markdown_within_the_markup_limit_is_scanned_in_well_under_two_seconds(name):
    text = _HOSTILE[name][:MAX_MARKUP]  # a byte is at most one unit of markup: never refused
    started = time.thread_time()
    find_destinations(text)
    assert time.thread_time() - started < 2.0


def _scan_time(text):
    started = time.thread_time()
    find_destinations(text)
    return time.thread_time() - started


@pytest.mark.parametrize("unit", ["[a](x.png) ", '[é](<x y.png> "t")\n', "a\\\n[b](c.png)\n", "|[a](b.png)|\n",
                                  "[a]: b.png\n", "<img src=x.png>", "a\n"])
def test_reports_full_of_links_take_linear_time(unit):
    small, large = unit * (MEGABYTE // 16 // len(unit)) + "[a](b)", unit * (MEGABYTE // 4 // len(unit)) + "[a](b)"
    assert len(find_destinations(small)) >= (len(small) // len(unit) if unit != "a\n" else 1)
    # four times the text in at most eight times the time, on a busy machine too: quadratic would be sixteen
    assert min(_scan_time(large) for _ in range(2)) < 8 * min(_scan_time(small) for _ in range(2))
