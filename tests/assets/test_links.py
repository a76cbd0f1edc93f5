"""Golden tests: which destinations the scanner finds, and that rewriting touches nothing else."""

import pytest

from cml.assets.links import find_destinations, is_local_file, local_path, rewrite

DOCUMENT = """# Report

![plot](plots/a.png) and ![titled](b.png "Title (with parens)")
A [model card](card.pdf) and [nested [brackets] text](c.png) and ![spaced](<my plots/d e.png>)
Balanced: ![x](f(1).png) escaped: \\[not](a link.png) url: [site](https://example.com/x.png)
Inline code `![no](code.png)` and ``![no](double `tick`.png)`` stay.

```python
plt.savefig("![no](fenced.png)")
```

    ![no](indented.png)

- item

    ![yes](in-list.png)

<!-- ![no](comment.png) -->
<img src="html.png" width="300"> <img alt=x src='single.png'>
![data](data:image/png;base64,iVBORw0KGgo=) [anchor](#results) [mail](mailto:a@b.c)

[ref]: refs/r.png "Ref title"
  [angled ref]: <refs/with space.png>
![by reference][ref]
"""


def test_finds_every_destination_outside_code():
    urls = [(d.kind, d.url) for d in find_destinations(DOCUMENT)]
    assert urls == [
        ("image", "plots/a.png"), ("image", "b.png"), ("link", "card.pdf"), ("link", "c.png"),
        ("image", "my plots/d e.png"), ("image", "f(1).png"), ("link", "https://example.com/x.png"),
        ("image", "in-list.png"), ("html", "html.png"), ("html", "single.png"),
        ("image", "data:image/png;base64,iVBORw0KGgo="), ("link", "#results"), ("link", "mailto:a@b.c"),
        ("definition", "refs/r.png"), ("definition", "refs/with space.png"),
    ]


def test_lines_are_reported():
    lines = {d.url: d.line for d in find_destinations(DOCUMENT)}
    assert lines["plots/a.png"] == 3 and lines["refs/r.png"] == 22


def test_rewriting_changes_only_destinations():
    destinations = [d for d in find_destinations(DOCUMENT) if is_local_file(d.url)]
    replaced = rewrite(DOCUMENT, {d: f"https://cdn.test/{i}.bin" for i, d in enumerate(destinations)})
    expected = DOCUMENT
    for index, destination in enumerate(destinations):
        expected = expected.replace(destination.url, f"https://cdn.test/{index}.bin", 1)
    assert replaced == expected
    assert "`![no](code.png)`" in replaced and '"![no](fenced.png)"' in replaced and "    ![no](indented.png)" in replaced


def test_new_urls_with_spaces_are_wrapped():
    (destination,) = find_destinations("![a](x.png)")
    assert rewrite("![a](x.png)", {destination: "new dir/x.png"}) == "![a](<new dir/x.png>)"


@pytest.mark.parametrize(
    "url, local",
    [("a.png", True), ("./dir/a b.png", True), ("/etc/passwd", True), ("C:\\x.png", True),
     ("https://x/y.png", False), ("#top", False), ("mailto:x@y", False), ("data:image/png;base64,x", False),
     ("//cdn/x.png", False)],
)
def test_is_local_file(url, local):
    assert is_local_file(url) is local


def test_local_path_decodes():
    assert local_path("plots/my%20plot.png?raw=1#x") == "plots/my plot.png"


@pytest.mark.parametrize("text, expected", [
    ('é ![a](x.png) and [b](y.pdf "t")\n', 'é N and [b](y.pdf "t") N\n'),
    ("[![badge](x.png)](y.pdf)\n", "[N](y.pdf) N\n"),
    ('text <img src="x.png" alt=a> after\n', "text N after\n"),
    ("> quoted ![q](x.png)\n> and [l](<y y.pdf>)\n", "> quoted N\n> and [l](<y y.pdf>) N\n"),
    ("| a | ![t](x.png) |\n|---|---|\n| 1 | ![u](z.png) |\n", "| a | N |\n|---|---|\n| 1 | N |\n"),
    ("* item ![a](x.png)\n  next ![b](\nz.png)\n", "* item N\n  next N\n"),
    ("![ref][r]\n\n[r]: x.png\n", "![ref][r]\n\n[r]: x.png\n"),  # a definition has no image to replace
    ("line one\nsecond ![a\nb](x.png)\n", "line one\nsecond ![a\nb](x.png)\n"),  # where cmark misplaces it
])
def test_notes_replace_whole_images_and_follow_links(text, expected):
    assert rewrite(text, {}, {destination: "N" for destination in find_destinations(text)}) == expected
