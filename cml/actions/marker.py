"""The invisible marker that lets ``--update`` find this tool's previous report.

It is a Markdown link reference definition, which every forge keeps in the
body and none renders, so no viewer's browser fetches anything. iterative/cml's
watermark image is still recognised, so its users' old comments are updated in
place (and lose the third-party image).

Only the marker the tool appends identifies a report: the last non-empty line of
the body. Reports come from pull requests, so marker-like lines inside the content
are neutralised before posting and never match.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

_MARKER_LINE = re.compile(
    r"^ {0,3}\[//\]: # \(cml-report label=(?P<label>[^ )]*) sha=(?P<sha>[0-9a-fA-F]*)(?: post=(?P<post>[0-9a-f]*))?\)\s*$")
_ANY_MARKER_LINE = re.compile(r"^( {0,3})(\[//\]: # \(cml-report\b)", re.MULTILINE)
_LEGACY_URL = "https://cml.dev/watermark.png"
_LEGACY_IMAGE = re.compile(r"(?<!\\)(!\[\]\(" + re.escape(_LEGACY_URL) + "#)")


def legacy_title(label: str) -> str:
    """iterative/cml's watermark title, escaped as it escaped it."""
    title = f"CML watermark {label}".strip()
    for character in "_*[<":
        title = title.replace(character, "\\" + character)
    return title


def _last_line(body: str) -> str:
    return next((line for line in reversed((body or "").splitlines()) if line.strip()), "")


@dataclass(frozen=True)
class Marker:
    """A report's marker: its label (after ``{workflow}``/``{run}`` substitution), commit, and this post's
    random id, which finds the comment again when the answer to its creation is lost."""

    label: str = ""
    sha: str = ""
    post: str = field(default_factory=lambda: secrets.token_hex(6), compare=False)
    #: Other labels iterative/cml's watermark may carry for the same report: it wrote an unknown workflow or
    #: run as ``undefined`` where this marker has an empty string.
    legacy_labels: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def for_run(cls, title: str, workflow: str | None, run: str | None, sha: str | None) -> Marker:
        def label(unknown: str) -> str:
            return title.replace("{workflow}", workflow or unknown, 1).replace("{run}", run or unknown, 1)

        legacy = label("undefined")
        return cls(label(""), sha or "", legacy_labels=(legacy,) if legacy != label("") else ())

    def __str__(self) -> str:
        return f"[//]: # (cml-report label={quote(self.label, safe='')} sha={self.sha} post={self.post})"

    def append_to(self, report: str) -> str:
        """``report`` with marker-like content neutralised, then this marker as the last line."""
        return f"{neutralise(report).rstrip()}\n\n{self}\n"

    def found_in(self, body: str) -> bool:
        """True if the last line of ``body`` is this label's marker, ours or iterative/cml's watermark."""
        last = _last_line(body)
        match = _MARKER_LINE.match(last)
        if match:
            return unquote(match["label"]) == self.label
        titles = "|".join(re.escape(legacy_title(label)) for label in (self.label, *self.legacy_labels))
        legacy = "(?<!\\\\)" + re.escape(f"![]({_LEGACY_URL}#") + "[0-9a-fA-F]+" + f' "(?:{titles})"' + re.escape(")") + r"\s*$"
        return re.search(legacy, last) is not None

    def posted_in(self, body: str) -> bool:
        """True if ``body`` ends with this very marker: this post, not only this label."""
        match = _MARKER_LINE.match(_last_line(body))
        return bool(match and match["post"] == self.post and unquote(match["label"]) == self.label)


def neutralise(report: str) -> str:
    """``report`` with lines that look like a cml marker, and iterative/cml watermark images, escaped so that
    they show as text and can never be taken for the marker of another report."""
    report = _ANY_MARKER_LINE.sub(r"\1\\\2", report)
    return _LEGACY_IMAGE.sub(r"\\\1", report)


def strip_marker(body: str) -> str:
    """``body`` without the marker on its last line (for comparing report contents)."""
    lines = (body or "").rstrip().splitlines()
    if lines and _MARKER_LINE.match(lines[-1]):
        lines.pop()
    return "\n".join(lines).rstrip()
