"""Pull requests as each fake forge stores them: opened, listed, auto-merged or merged."""

from __future__ import annotations

import itertools


class PullStore:
    def __init__(self, first_number: int = 11):
        self.pulls: list[dict] = []
        self._numbers = itertools.count(first_number)
        #: Target branches on which opening a pull request is refused (to test clean-up).
        self.refuse_targets: set[str] = set()
        self.auto_merge_allowed = True

    def open(self, source: str, target: str, title: str, body: str, author: str) -> dict:
        pull = {"number": next(self._numbers), "source": source, "target": target, "title": title, "body": body,
                "author": author, "state": "open", "auto_merge": None, "merged_with": None}
        self.pulls.append(pull)
        return pull

    def find(self, source: str | None = None, target: str | None = None, state: str | tuple = "open") -> list[dict]:
        """Pull requests in ``state`` (``"all"``, one state, or several)."""
        states = ("open", "merged", "closed") if state == "all" else (state,) if isinstance(state, str) else state
        return [p for p in self.pulls if p["state"] in states and source in (None, p["source"])
                and target in (None, p["target"])]

    def get(self, number: int) -> dict | None:
        return next((p for p in self.pulls if p["number"] == number), None)

    def merge(self, pull: dict, method: str) -> None:
        pull["state"], pull["merged_with"] = "merged", method
