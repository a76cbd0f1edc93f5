"""Parsing cml's own source in the tests that check its shape."""

from __future__ import annotations

import ast
from pathlib import Path


def parse_python(source: str | Path) -> ast.Module:
    """``ast.parse`` of ``source`` (text, or a file), parsed once more if CPython 3.11 reports "AST constructor
    recursion depth mismatch": its converter's depth counter is shared by every thread (python/cpython#106905), so
    a fake server's thread parsing at the same moment (pytest rewriting a module it imports) can trip it."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    try:
        return ast.parse(text)
    except SystemError as error:
        if "recursion depth mismatch" not in str(error):
            raise
        return ast.parse(text)
