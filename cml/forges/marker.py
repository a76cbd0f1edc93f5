"""The invisible marker that lets ``--update`` find this tool's previous report.

It is a Markdown link reference definition, which every forge keeps in the
body and none renders, so no viewer's browser fetches anything. iterative/cml's
watermark image is still recognised, so its users' old comments are updated in
place (and lose the third-party image).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

_MARKER = re.compile(r"^\[//\]: # \(cml-report label=(?P<label>[^ )]*) sha=(?P<sha>[0-9a-fA-F]*)\)\s*$", re.MULTILINE)
_LEGACY_URL = "https://cml.dev/watermark.png"


def legacy_title(label: str) -> str:
    """iterative/cml's watermark title, escaped as it escaped it."""
    title = f"CML watermark {label}".strip()
    for character in "_*[<":
        title = title.replace(character, "\\" + character)
    return title


@dataclass(frozen=True)
class Marker:
    """A report's marker: its label (after ``{workflow}``/``{run}`` substitution) and commit."""

    label: str = ""
    sha: str = ""

    @classmethod
    def for_run(cls, title: str, workflow: str | None, run: str | None, sha: str | None) -> "Marker":
        label = title.replace("{workflow}", workflow or "", 1).replace("{run}", run or "", 1)
        return cls(label, sha or "")

    def __str__(self) -> str:
        return f"[//]: # (cml-report label={quote(self.label, safe='')} sha={self.sha})"

    def append_to(self, report: str) -> str:
        return f"{report.rstrip()}\n\n{self}\n"

    def found_in(self, body: str) -> bool:
        """True if ``body`` carries this label's marker, ours or iterative/cml's."""
        for match in _MARKER.finditer(body or ""):
            if unquote(match["label"]) == self.label:
                return True
        legacy = re.escape(f"![]({_LEGACY_URL}#") + "[0-9a-fA-F]+" + re.escape(f' "{legacy_title(self.label)}")')
        return re.search(legacy, body or "") is not None


def strip_marker(body: str) -> str:
    """``body`` without any cml-report marker (for comparing report contents)."""
    return _MARKER.sub("", body or "").rstrip()
