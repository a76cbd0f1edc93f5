"""Find the link and image destinations in a Markdown report, and rewrite only them.

What is a link, an image, code or HTML is decided by cmark-gfm, the parser GitHub
uses, with source positions: a link inside a code block or code span is never
seen, whatever the nesting. cmark gives each inline link's end and resolved URL;
the destination's own characters are found from that end, and checked to resolve
to the same URL. Link reference definitions, which cmark consumes, are the lines
its blocks leave uncovered; ``<img src>`` is read from the HTML cmark found.
Rewriting replaces the destination's characters and nothing else, so every other
byte of the report stays as the user wrote it.

Cost: linear in the size of the report, as cmark is (callers bound the size). cmark's memory is linear too but
steep, some 200 bytes a node, and a paragraph of punctuation is a node a byte: a report with no "](", "<img" or
"]:", where nothing can be found, is not parsed, and one with more markup than
:data:`~cml.report.truncate.MAX_MARKUP` (punctuation, line ends, table cells: ~200 MiB of nodes) is parsed in a
child process of bounded memory and CPU time (:mod:`cml.sandbox`: the count is an upper bound, and a
log in a code fence is one node), and refused (:class:`TooMuchMarkup`) if the child dies of its limits.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
from dataclasses import dataclass
from html import unescape as unescape_html
from html.entities import html5
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from cml.report.truncate import markup_overflow, too_much_markup
from cml.sandbox import run_bounded

#: The part of cmark-gfm's C interface that walking the tree needs.
_DECLARATIONS = """
typedef struct cmark_node cmark_node; typedef struct cmark_parser cmark_parser;
typedef struct cmark_syntax_extension cmark_syntax_extension;
cmark_parser *cmark_parser_new(int options);
void cmark_parser_free(cmark_parser *parser);
void cmark_parser_feed(cmark_parser *parser, const char *buffer, size_t len);
cmark_node *cmark_parser_finish(cmark_parser *parser);
cmark_syntax_extension *cmark_find_syntax_extension(const char *name);
int cmark_parser_attach_syntax_extension(cmark_parser *parser, cmark_syntax_extension *extension);
void cmark_gfm_core_extensions_ensure_registered(void);
void cmark_node_free(cmark_node *node);
void cmark_consolidate_text_nodes(cmark_node *root);
cmark_node *cmark_node_previous(cmark_node *node);
cmark_node *cmark_node_parent(cmark_node *node);
cmark_node *cmark_node_next(cmark_node *node);
cmark_node *cmark_node_first_child(cmark_node *node);
int cmark_node_get_type(cmark_node *node);
const char *cmark_node_get_type_string(cmark_node *node);
int cmark_node_get_start_line(cmark_node *node);
int cmark_node_get_start_column(cmark_node *node);
int cmark_node_get_end_line(cmark_node *node);
int cmark_node_get_end_column(cmark_node *node);
const char *cmark_node_get_url(cmark_node *node);
const char *cmark_node_get_title(cmark_node *node);
const char *cmark_node_get_literal(cmark_node *node);
const char *cmark_node_get_string_content(cmark_node *node);
"""


@dataclass(frozen=True)
class _Binding:
    ffi: Any
    cmark: Any
    extensions: list
    sourcepos: int


@functools.cache
def _binding() -> _Binding:
    """cmark-gfm bound on first use: cmarkgfm is too slow to import when a command starts."""
    import cffi
    from cmarkgfm import _cmark

    ffi = cffi.FFI()
    ffi.cdef(_DECLARATIONS)
    # The cmark-gfm that cmarkgfm compiled in: its cffi module declares too little to walk the tree, so bind it again.
    cmark = ffi.dlopen(_cmark.__file__)
    cmark.cmark_gfm_core_extensions_ensure_registered()
    extensions = [cmark.cmark_find_syntax_extension(name)
                  for name in (b"table", b"autolink", b"strikethrough", b"tagfilter", b"tasklist")]
    return _Binding(ffi, cmark, extensions, _cmark.lib.CMARK_OPT_SOURCEPOS)


class _OnFirstUse:
    """Stands for the object ``make()`` returns, made when an attribute is first read; attributes are kept."""

    def __init__(self, make: Callable[[], Any]):
        self._make = make

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._make(), name)
        setattr(self, name, value)
        return value


_FFI: Any = _OnFirstUse(lambda: _binding().ffi)
_CMARK: Any = _OnFirstUse(lambda: _binding().cmark)
_TYPE_NAMES: dict[int, str] = {}  # the extensions' node types are numbered as they register
_BLOCK, _INLINE = 0x8000, 0xC000  # cmark-gfm's node types: blocks are 0x8000 | n, inlines 0xC000 | n
_CONTAINERS = {_BLOCK | n for n in (1, 2, 3, 4)}  # document, block quote, list, list item
_HTML_BLOCK, _PARAGRAPH, _HEADING = (_BLOCK | n for n in (6, 8, 9))
_LINEBREAK, _HTML_INLINE, _LINK, _IMAGE = (_INLINE | n for n in (3, 5, 9, 10))
_LEAVES = {_INLINE | n for n in (1, 2, 4)}  # text, soft line break, code span: nothing to find, no children

_LINE_END = re.compile(rb"\r\n|\r|\n")
_SPACE = b" \t\r\n"
_DEFINITION = re.compile(
    rb"(?m)^(?:[ \t]*(?:>|[-+*][ \t]|\d{1,9}[.)][ \t]))*[ \t]*\[(?:[^\[\]\\]|\\.){1,999}\]:"
    rb"[ \t]*(?:(?:\r\n|\r|\n)[ \t]*)?(?P<dest><[^<>\r\n]*>|[^\s<]\S*)")
#: How many "](" in an unbalanced link destination are tried as its start (each try reads the destination).
_MAX_OPENINGS = 16
_SPECIAL = re.compile(rb"[\s()<>\"'\\&]")
_INLINE_LINK_OR_IMAGE = re.compile(rb"\]\(|<img", re.IGNORECASE)
_LINK_OPENING = re.compile(rb"\]\(")
_SETEXT_UNDERLINE = re.compile(rb"(?:[ \t]*>)*[ \t]*(?:=+|-+)[ \t]*$")
# cmark ends an HTML block that has an end condition one line early: where each kind of them ends
_HTML_BLOCK_END = [(re.compile(rb"<(?:script|pre|style|textarea)(?:[\s>]|$)", re.IGNORECASE),
                    re.compile(rb"</(?:script|pre|style|textarea)>", re.IGNORECASE)),
                   (re.compile(rb"<!--"), re.compile(rb"-->")), (re.compile(rb"<\?"), re.compile(rb"\?>")),
                   (re.compile(rb"<!\[CDATA\["), re.compile(rb"\]\]>")),
                   (re.compile(rb"<![A-Za-z]"), re.compile(rb">"))]
_IMAGE_OR_COMMENT = re.compile(rb"<!--|<img(?=[\s/>])", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"[\s/]*([^\s\"'>/=]*)(?:\s*=\s*)?")
_UNQUOTED_VALUE = re.compile(rb"[^\s>]*")
_ATX_OPENING = re.compile(rb"#{1,6}[ \t]*")
_ENTITY = re.compile(r"&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([A-Za-z][A-Za-z0-9]{1,31}));")
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_NOT_CONTINUATION = bytes(value for value in range(256) if not 0x80 <= value < 0xC0)


class TooMuchMarkup(ValueError):
    """The report holds more markup than cmark may be given (:func:`~cml.report.truncate.markup_overflow`); ``line``
    is where it passes the limit."""

    def __init__(self, line: int, what: str = "scans for links"):
        self.line = line
        super().__init__(too_much_markup(what))


@dataclass(frozen=True)
class Destination:
    """A link destination in the document: ``start``/``end`` cover its characters (inside any ``<>``, entities
    and escapes as written); ``url`` is what it resolves to, as the forge will link it."""

    start: int
    end: int
    url: str
    kind: str
    line: int
    angle: bool = False
    #: ``(start, end)`` of the whole inline image or link, or ``<img>`` tag, when known.
    whole: tuple[int, int] | None = None


def _entity(match: re.Match) -> str:
    hexadecimal, decimal, name = match.groups()
    if name is not None:
        return html5.get(name + ";", match.group(0))
    codepoint = int(hexadecimal, 16) if hexadecimal is not None else int(decimal)
    return chr(codepoint) if 0 < codepoint < 0x110000 and not 0xD800 <= codepoint < 0xE000 else "\ufffd"


def _resolve(raw: bytes) -> str:
    """What cmark makes of a link destination or title as written: entities, then backslash escapes."""
    text = raw.decode("utf-8", "surrogatepass")
    if "&" not in text and "\\" not in text:
        return text
    return _BACKSLASH_ESCAPE.sub(r"\1", _ENTITY.sub(_entity, text))


def _string(pointer) -> str:
    return "" if pointer == _FFI.NULL else _FFI.string(pointer).decode("utf-8", "surrogatepass")


class _Source:
    """The UTF-8 bytes of the report and where each line starts, numbered as cmark numbers them (from 1)."""

    def __init__(self, data: bytes):
        self.data = data
        self.line_starts = [0, 0] + [match.end() for match in _LINE_END.finditer(data)]

    def line_end(self, number: int) -> int:
        """Where line ``number`` ends, its line ending included."""
        return self.line_starts[number + 1] if number + 1 < len(self.line_starts) else len(self.data)

    def line(self, number: int) -> bytes:
        return self.data[self.line_starts[number]:self.line_end(number)].rstrip(b"\r\n")

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset) - 1

    def is_escaped(self, offset: int) -> bool:
        """True if an odd run of backslashes precedes ``offset``."""
        run = 0
        while offset - run - 1 >= 0 and self.data[offset - run - 1] == 0x5C:
            run += 1
        return run % 2 == 1


class _Block:
    """A block whose inlines cmark parsed (paragraph, heading, table cell): maps cmark's inline positions to bytes.

    cmark 0.29 counts inline columns on a block's later lines from where the block's first line starts, not
    from where each later line's content starts, and its lines from the block's first line even when link
    reference definitions were taken off the front. The block's content, kept by cmark, tells each line's start.
    """

    def __init__(self, source: _Source, node, kind: int):
        self.source, self.node = source, node
        self.start_line = self.inline_start_line = _CMARK.cmark_node_get_start_line(node)
        self.end_line = _CMARK.cmark_node_get_end_line(node)
        self.block_offset = _CMARK.cmark_node_get_start_column(node) - 1
        self.table_cell = kind not in (_PARAGRAPH, _HEADING)
        self.setext = kind == _HEADING and self.end_line > self.start_line
        if self.setext:  # cmark ends a setext heading on the line after its underline, if there is one
            self.end_line = next(number for number in range(self.start_line + 1, self.end_line + 1)
                                 if _SETEXT_UNDERLINE.match(source.line(number)) or number == self.end_line)
        if kind == _HEADING and not self.setext:
            line = source.line(self.start_line)
            self.block_offset += _matched(_ATX_OPENING.match(line, self.block_offset)).end() - self.block_offset
        self._content: bytes | None = None
        self._content_line_starts: list[int] = []
        self._line_starts: dict[int, int | None] = {}
        self._escaped_pipes: list[int] | None = None
        self.uncounted_newlines = 0
        self._lag, self._last_line = 0, self.start_line
        self.exact_first_line = not self.table_cell and 0 < self.start_line == self.first_content_line
        self.first_line_end = source.line_end(self.start_line) - 1
        if self.start_line == 0 and kind == _PARAGRAPH and _CMARK.cmark_node_next(node) != _FFI.NULL:
            # the lines the table extension took off the front of the paragraph that ends with its header row
            self.start_line = _CMARK.cmark_node_get_start_line(_CMARK.cmark_node_next(node))
            self.end_line = self.start_line + len(self.content_line_starts) - 1

    def _parse_content(self) -> bytes:
        if self._content is None:
            self._content = b"" if self.table_cell else _FFI.string(_CMARK.cmark_node_get_string_content(self.node))
            self._content_line_starts = [0] + [match.end() for match in _LINE_END.finditer(self._content)]
            if self._content_line_starts[-1] == len(self._content):
                self._content_line_starts.pop()
        return self._content

    @property
    def content(self) -> bytes:
        """The block's text as cmark parsed it: each line from where its content starts."""
        return self._parse_content()

    @property
    def content_line_starts(self) -> list[int]:
        """Where each line of :attr:`content` starts in it (none for empty content)."""
        self._parse_content()
        return self._content_line_starts

    @property
    def first_content_line(self) -> int:
        if self.table_cell:
            return self.start_line
        return self.end_line - len(self.content_line_starts) + (0 if self.setext else 1)

    def covered_lines(self) -> tuple[int, int]:
        return self.first_content_line, self.end_line

    def _content_line(self, index: int) -> bytes:
        starts = self.content_line_starts
        end = starts[index + 1] if index + 1 < len(starts) else len(self.content)
        return self.content[starts[index]:end].rstrip(b"\r\n")

    def _line_start(self, index: int) -> int | None:
        """The byte of the report where the ``index``-th line of the block's content starts."""
        if index not in self._line_starts:
            number = self.first_content_line + index
            if index == 0 and number == self.start_line and self.inline_start_line:
                self._line_starts[index] = self.source.line_starts[number] + self.block_offset
            elif number > self.end_line:
                self._line_starts[index] = None
            else:
                content = self._content_line(index).rstrip(b" \t")
                text = content.lstrip(b" \t")
                line = self.source.line(number).rstrip(b" \t")
                start = self.source.line_starts[number] + len(line) - len(content)
                self._line_starts[index] = start if line.endswith(text) else None
        return self._line_starts[index]

    def offset(self, line: int, column: int) -> int | None:
        """The byte of the report at cmark's inline position (1-based ``line`` and byte ``column``) of an inline
        that follows, in document order, the ones already located."""
        return self.content_offset(self.content_line_index(line), column - 1 - self.block_offset)

    def may_hold_links(self) -> bool:
        """False if the block's text has neither "](" nor "<img", so no inline link, image or ``<img>`` to find."""
        if self.inline_start_line == 0:
            return True
        data, starts = self.source.data, self.source.line_starts
        if self.table_cell:
            start = starts[self.start_line] + self.block_offset
            end = starts[self.start_line] + _CMARK.cmark_node_get_end_column(self.node)
        else:
            start, end = starts[self.start_line], self.source.line_end(self.end_line)
        return _INLINE_LINK_OR_IMAGE.search(data, start, end) is not None

    def count_line_break(self, node) -> None:
        """Count the hard line break ``node`` among the newlines cmark does not count if it is a backslash one."""
        previous, starts = _CMARK.cmark_node_previous(node), self.content_line_starts
        if previous:  # the break starts just after the node before it
            line, column = _CMARK.cmark_node_get_end_line(previous), _CMARK.cmark_node_get_end_column(previous) + 1
        elif (parent := _CMARK.cmark_node_parent(node)) != self.node:  # or after the opening of its emphasis or link
            line, column = _CMARK.cmark_node_get_start_line(parent), _CMARK.cmark_node_get_start_column(parent)
        else:
            line, column = self.inline_start_line, self.block_offset + 1
        index, column = self.content_line_index(line), column - 1 - self.block_offset
        if line > 0 and 0 <= index < len(starts) and column >= 0:
            position = starts[index] + column
            # past the closing backticks of a code span (cmark's span covers its content only) or an opening
            while self.content[position:position + 1] in ((b"`",) if previous else (b"*", b"_", b"~", b"[", b"!")):
                position += 1
            if self.content[position:position + 2] in (b"\\\n", b"\\\r"):
                self.uncounted_newlines += 1

    def content_line_index(self, line: int) -> int:
        """Which line of the block's content cmark's ``line`` is, for an inline that follows the ones located."""
        if line != self._last_line:  # cmark's next line is the one after every newline so far
            self._lag, self._last_line = self.uncounted_newlines, line
        return line - self.inline_start_line + self._lag

    def content_offset(self, index: int, column: int) -> int | None:
        """The byte of the report at ``column`` of the block's ``index``-th content line; cmark does not count
        the newlines inside a link's destination or title (see :attr:`uncounted_newlines`), so ``column`` may run
        on into the following lines."""
        if self.table_cell:  # the table extension reads ``\|`` in a cell as ``|`` before parsing its inlines
            if self._escaped_pipes is None:
                line = self.source.line(self.start_line)
                self._escaped_pipes = [match.start() - count for count, match in
                                       enumerate(re.finditer(rb"\\\|", line[self.block_offset:]))]
            start = self._line_start(0) if index == 0 else None
            return None if start is None else start + column + bisect.bisect_left(self._escaped_pipes, column)
        starts = self.content_line_starts
        if not 0 <= index < len(starts) or column < 0:
            return None
        position = starts[index] + column
        index = bisect.bisect_right(starts, position) - 1
        start = self._line_start(index)
        following = starts[index + 1] if index + 1 < len(starts) else len(self.content)
        column = position - starts[index]
        return None if start is None or column >= following - starts[index] else start + column


def _matched(match: re.Match[bytes] | None) -> re.Match[bytes]:
    """The match of a pattern that cannot fail where it is tried (every part is optional, or cmark parsed what it
    matches there)."""
    assert match is not None
    return match


def _skip_space_backwards(data: bytes, index: int) -> int:
    while index >= 0 and data[index] in _SPACE:
        index -= 1
    return index


def _unescaped_backwards(source: _Source, index: int, wanted: bytes, stop: bytes) -> int | None:
    """The nearest unescaped byte of ``wanted`` at or before ``index``; ``None`` on an unescaped ``stop`` byte."""
    data = source.data
    while index >= 0:
        if (data[index] in wanted or data[index] in stop) and not source.is_escaped(index):
            return index if data[index] in wanted else None
        index -= 1
    return None


def _plain_destination_openings(source: _Source, close: int, end: int) -> tuple[int, list[int]]:
    """Where a destination without ``<>`` that ends at byte ``end`` may start, and the "(" before each start."""
    data, index = source.data, end
    if end + 1 == close:  # ended by the link's ")", which cmark takes only once parentheses balance
        depth = 0
        while index >= 0 and data[index] not in _SPACE:
            if data[index] in b"()" and not source.is_escaped(index):
                if data[index] == ord(")"):
                    depth += 1
                elif depth == 0:
                    break
                else:
                    depth -= 1
            index -= 1
        return index + 1, [_skip_space_backwards(data, index)]
    # ended by white space, where cmark lets parentheses be unbalanced: the "(" is the first one after a "]" that fits
    while index >= 0 and data[index] not in _SPACE:
        index -= 1
    inside = itertools.islice(_LINK_OPENING.finditer(data, index + 1, end + 1), _MAX_OPENINGS)
    return index + 1, [_skip_space_backwards(data, index)] + [match.start() + 1 for match in inside]


def _inline_destination(source: _Source, close: int, url: str, title) -> tuple[int, int, bool, int] | None:
    """The destination of the inline link ending with the ``)`` at byte ``close``, if it resolves to ``url`` (and
    its title to ``title()``): ``(start, end, angle, where its "(" is)``."""
    data = source.data
    if data[close:close + 1] != b")":
        return None  # a reference link, whose destination is its definition
    wanted = url.encode("utf-8", "surrogatepass")
    start = close - len(wanted)
    if start >= 2 and data[start - 2:start] == b"](" and data[start:close] == wanted and not _SPECIAL.search(wanted):
        return start, close, False, start - 1  # the usual [text](path): no title, nothing escaped
    end = _skip_space_backwards(data, close - 1)
    closer = data[end:end + 1]
    if closer in (b'"', b"'", b")") and not source.is_escaped(end):
        opener = b"(" if closer == b")" else closer
        title_start = _unescaped_backwards(source, end - 1, opener, b"()" if closer == b")" else b"")
        if title_start is not None and title_start > 0 and data[title_start - 1] in _SPACE:
            if _resolve(data[title_start + 1:end]) != title():
                return None
            end = _skip_space_backwards(data, title_start - 1)
    angle = _unescaped_backwards(source, end - 1, b"<", b">\r\n") if data[end:end + 1] == b">" else None
    if angle is not None and not source.is_escaped(end):
        start, finish, openings = angle + 1, end, [_skip_space_backwards(data, angle - 1)]
    else:
        start, openings = _plain_destination_openings(source, close, end)
        finish = end + 1
    plain = data.find(b"\\", start, finish) == -1 and data.find(b"&", start, finish) == -1
    for before in openings:
        begin = before + 1 if before >= start else start
        if data[before:before + 1] == b"(" and data[before - 1:before] == b"]" and (
                data[begin:finish] == wanted if plain else _resolve(data[begin:finish]) == url):
            return begin, finish, angle is not None, before
    return None


def _image_sources(data: bytes, start: int, end: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Spans of the ``src`` values of the ``<img>`` tags in ``data[start:end]``, each with the span of its whole tag;
    HTML comments skipped."""
    found: list[tuple[tuple[int, int], tuple[int, int]]] = []
    position = start
    while match := _IMAGE_OR_COMMENT.search(data, position, end):
        if match.group(0) == b"<!--":
            close = data.find(b"-->", match.end(), end)
            if close == -1:
                break
            position = close + 3
            continue
        position, source = match.end(), None
        while position < end and data[position:position + 1] != b">":
            attribute = _matched(_ATTRIBUTE.match(data, position, end))
            name, position = attribute.group(1).lower(), attribute.end()
            if not attribute.group(0).rstrip().endswith(b"="):
                position += 0 if name or attribute.group(0) else 1
                continue
            quote = data[position:position + 1]
            if quote in (b'"', b"'"):
                close = data.find(quote, position + 1, end)
                if close == -1:
                    return found  # an unclosed value: the tag never ends
                value, position = (position + 1, close), close + 1
            else:
                unquoted = _matched(_UNQUOTED_VALUE.match(data, position, end))
                value, position = unquoted.span(), unquoted.end()
            if name == b"src" and source is None:
                source = value
        if source is not None and position < end:
            found.append((source, (match.start(), position + 1)))
    return found


def _character_offsets(data: bytes, offsets: set[int]) -> dict[int, int]:
    """Byte offsets of ``data`` (UTF-8) as character offsets, in one pass."""
    result, previous, characters = {}, 0, 0
    for offset in sorted(offsets):
        segment = data[previous:offset]
        characters += len(segment) - len(segment.translate(None, _NOT_CONTINUATION))
        result[offset], previous = characters, offset
    return result


def _parse(data: bytes):
    parser = _CMARK.cmark_parser_new(_binding().sourcepos)
    try:
        for extension in _binding().extensions:
            _CMARK.cmark_parser_attach_syntax_extension(parser, extension)
        _CMARK.cmark_parser_feed(parser, data, len(data))
        root = _CMARK.cmark_parser_finish(parser)
        _CMARK.cmark_consolidate_text_nodes(root)  # a flood of "[" or "`" is then one node, not a million
        return root
    finally:
        _CMARK.cmark_parser_free(parser)


def _scan(source: _Source) -> tuple[list[tuple], list[tuple[int, int]]]:
    """The destinations in what cmark parsed as links, images and HTML (``(kind, start, end, url, angle)``, in
    bytes), and the line ranges its leaf blocks cover."""
    found: list[tuple] = []
    covered: list[tuple[int, int]] = []
    root = _parse(source.data)
    block: _Block | None = None
    first_child, following, parent, node_type = (_CMARK.cmark_node_first_child, _CMARK.cmark_node_next,
                                                  _CMARK.cmark_node_parent, _CMARK.cmark_node_get_type)
    try:
        node = first_child(root)
        while node:
            kind = node_type(node)
            if kind in _LEAVES:
                later = following(node)
                if later:  # the usual step, kept short: most nodes are text and line ends
                    node = later
                    continue
            descend = kind not in _LEAVES
            if kind & _INLINE == _INLINE:
                assert block is not None, "inlines are inside a paragraph, heading or table cell"
                if kind in (_LINK, _IMAGE):
                    found.extend(_link(block, node, "image" if kind == _IMAGE else "link"))
                elif kind == _LINEBREAK:
                    block.count_line_break(node)
                elif kind == _HTML_INLINE:
                    found.extend(_inline_html(block, node))
            elif kind not in _CONTAINERS:
                name = _TYPE_NAMES.get(kind) or _TYPE_NAMES.setdefault(
                    kind, _string(_CMARK.cmark_node_get_type_string(node)))
                if kind in (_PARAGRAPH, _HEADING) or name == "table_cell":
                    block = _Block(source, node, kind)
                    descend = block.may_hold_links()
                    if not block.table_cell:  # the table covers its cells' lines
                        covered.append(block.covered_lines())
                elif name not in ("table_row", "table_header"):
                    start_line, end_line = _CMARK.cmark_node_get_start_line(node), _CMARK.cmark_node_get_end_line(node)
                    if kind == _HTML_BLOCK:
                        begin = source.line_starts[start_line] + _CMARK.cmark_node_get_start_column(node) - 1
                        end_line = _html_block_end(source, begin, start_line, end_line, _next_block_line(node))
                        found.extend(_html(source.data, begin, source.line_end(end_line)))
                    covered.append((start_line, end_line))
            child = first_child(node) if descend else None
            if child:
                node = child
                continue
            while node != root and not (later := following(node)):
                node = parent(node)
            node = None if node == root else later
    finally:
        _CMARK.cmark_node_free(root)
    return found, covered


def _link(block: _Block, node, kind: str) -> list[tuple]:
    """The destination of the inline link or image ``node``, if it has one (a reference link has not)."""
    line, column = _CMARK.cmark_node_get_end_line(node), _CMARK.cmark_node_get_end_column(node)
    close = block.source.line_starts[line] + column - 1 if line == block.inline_start_line else None
    if close is None or not block.exact_first_line or block.uncounted_newlines or close >= block.first_line_end:
        close = block.offset(line, column)
    if close is None:
        return []
    opening = _opening(block, node, kind, close)
    url = _string(_CMARK.cmark_node_get_url(node))
    span = _inline_destination(block.source, close, url, lambda: _string(_CMARK.cmark_node_get_title(node)))
    if not span:
        return []
    start, end, angle, parenthesis = span
    block.uncounted_newlines += len(_LINE_END.findall(block.source.data, parenthesis, close))
    return [(kind, start, end, url, angle, (opening, close + 1) if opening is not None else None)]


def _opening(block: _Block, node, kind: str, close: int) -> int | None:
    """Where the inline image or link ``node`` that ends at byte ``close`` starts (its ``![`` or ``[``), if its
    position can be told for sure."""
    line, column = _CMARK.cmark_node_get_start_line(node), _CMARK.cmark_node_get_start_column(node)
    if block.exact_first_line and not block.uncounted_newlines and line == block.inline_start_line:
        start = block.source.line_starts[line] + column - 1
    else:
        state = block._lag, block._last_line  # a look back: later inlines must be located as if it never happened
        start = block.offset(line, column)
        block._lag, block._last_line = state
    opener = b"![" if kind == "image" else b"["
    if start is None or start >= close or block.source.data[start:start + len(opener)] != opener:
        return None
    return start


def _next_block_line(node) -> int | None:
    """The line where the block after ``node`` in the document starts, if one does."""
    while node and not _CMARK.cmark_node_next(node):
        node = _CMARK.cmark_node_parent(node)
    return _CMARK.cmark_node_get_start_line(_CMARK.cmark_node_next(node)) if node else None


def _html_block_end(source: _Source, begin: int, start_line: int, end_line: int, next_line: int | None) -> int:
    """The last line of the HTML block starting at byte ``begin``, of which cmark says ``end_line``: one line early
    when the block ended with its end condition (``-->``, ``?>``...) rather than with its container or document."""
    if next_line == end_line + 1:
        return end_line
    for start, end in _HTML_BLOCK_END:
        if start.match(source.data, begin):
            marker = end.search(source.data, begin + 2, source.line_end(end_line + 1))
            return max(start_line, source.line_of(marker.start()) if marker else end_line)
    return end_line


def _html(data: bytes, start: int, end: int, offsets=lambda start, end: (start, end)) -> list[tuple]:
    """The ``<img src>`` destinations in the HTML ``data[start:end]``; ``offsets`` maps a span of ``data`` to the
    report's bytes (``None`` if it cannot)."""
    found = []
    for value, tag in _image_sources(data, start, end):
        span = offsets(*value)
        if span is not None:
            found.append(("html", *span, unescape_html(data[value[0]:value[1]].decode("utf-8", "surrogatepass")),
                          False, offsets(*tag)))
    return found


def _inline_html(block: _Block, node) -> list[tuple]:
    literal = _FFI.string(_CMARK.cmark_node_get_literal(node))
    line = block.content_line_index(_CMARK.cmark_node_get_start_line(node))
    column = _CMARK.cmark_node_get_start_column(node) - 1 - block.block_offset

    def offsets(start: int, end: int) -> tuple[int, int] | None:
        begin, finish = block.content_offset(line, column + start), block.content_offset(line, column + end)
        if begin is None or finish is None or block.source.data[begin:finish] != literal[start:end]:
            return None
        return begin, finish

    return _html(literal, 0, len(literal), offsets)


def _definitions(source: _Source, covered: list[tuple[int, int]]) -> list[tuple]:
    """Link reference definitions: definition-shaped lines that none of cmark's leaf blocks covers (cmark consumed
    them, and only definitions are consumed without a trace)."""
    covered.sort()
    starts = [start for start, _ in covered]
    found = []
    for match in _DEFINITION.finditer(source.data):
        line = source.line_of(match.start())
        index = bisect.bisect_right(starts, line) - 1
        if index >= 0 and line <= covered[index][1]:
            continue
        start, end = match.span("dest")
        angle = source.data[start:start + 1] == b"<"
        if angle:
            start, end = start + 1, end - 1
        found.append(("definition", start, end, _resolve(source.data[start:end]), angle, None))
    return found


def find_destinations(text: str, bounded: bool = True) -> list[Destination]:
    """Every link, image, definition and ``<img src>`` destination outside code, in document order.

    A report with a link and more markup than :func:`~cml.report.truncate.markup_overflow` allows is parsed in a
    child process of bounded memory (:mod:`cml.sandbox`); raises :class:`TooMuchMarkup` if that child
    dies of its limits, or cannot be bounded on this system. ``bounded=False`` (the child itself) parses here."""
    data = text.replace("\0", "\ufffd").encode("utf-8", "surrogatepass")
    if b"]:" not in data and not _INLINE_LINK_OR_IMAGE.search(data):
        # Nothing to find: every inline link or image has "](", every <img> tag "<img" and every definition "]:".
        # Skipping cmark matters: it keeps a node of some 200 bytes for each "[", "<", "&", line end... of a
        # paragraph, so a 1 MB flood of them would take 250 MB (and _DEFINITION's backtracking on a line of a
        # million ">" another 190 MB).
        return []
    overflow = markup_overflow(data) if bounded else None
    if overflow is not None:
        return list(_in_child(data, overflow))
    source = _Source(data)
    found, covered = _scan(source)
    found.extend(_definitions(source, covered))
    offsets = {offset for item in found for offset in (*item[1:3], *(item[5] or ()))}
    if len(source.data) == len(text):  # ASCII: bytes are characters
        characters = {offset: offset for offset in offsets}
    else:
        characters = _character_offsets(source.data, offsets)
    return sorted((Destination(characters[start], characters[end], url, kind, source.line_of(start), angle,
                               (characters[whole[0]], characters[whole[1]]) if whole else None)
                   for kind, start, end, url, angle, whole in found), key=lambda destination: destination.start)


#: Most destinations a report parsed in a child may have (each costs the parent some 750 bytes): as many as the
#: markup count lets a report parsed here have.
MAX_CHILD_DESTINATIONS = 80_000


@functools.lru_cache(maxsize=2)
def _in_child(data: bytes, overflow: int) -> tuple[Destination, ...]:
    """:func:`find_destinations` of the report ``data``, whose markup passes the count on line ``overflow``, from a
    child process of bounded memory and CPU time; :class:`TooMuchMarkup` on that line if the child died or found
    more than :data:`MAX_CHILD_DESTINATIONS`. Remembered, as ``--watch`` asks again about an unchanged report."""
    output = run_bounded("cml.assets.links:destinations_in_child", data)
    if output is None:
        raise TooMuchMarkup(overflow)
    return tuple(Destination(start, end, url, kind, line, angle, tuple(whole) if whole else None)
                 for start, end, url, kind, line, angle, whole in json.loads(output))


def destinations_in_child(data: bytes, limit: Callable[[], None]) -> bytes:
    """In :func:`~cml.sandbox.run_bounded`'s child: the destinations of the report ``data`` as JSON, parsed once
    cmark is loaded and the child's limits are set."""
    _binding()
    limit()
    text = data.decode("utf-8", "surrogatepass")
    del data
    found = find_destinations(text, bounded=False)
    if len(found) > MAX_CHILD_DESTINATIONS:
        raise SystemExit(1)  # too many for the parent to hold: refused
    return json.dumps([[d.start, d.end, d.url, d.kind, d.line, d.angle, d.whole] for d in found]).encode("ascii")


def is_local_file(url: str) -> bool:
    """True for a relative or absolute file path; false for URLs, fragments, ``mailto:`` and ``data:``."""
    if not url or url.startswith(("#", "//")):
        return False
    parts = urlsplit(url)
    return not parts.scheme or (len(parts.scheme) == 1 and url[1:2] == ":")


def local_path(url: str) -> str:
    """The file path a local destination names (query and fragment dropped, %-escapes decoded)."""
    if re.match(r"^[A-Za-z]:[\\/]", url):
        return url
    return unquote(urlsplit(url.replace("\\", "/")).path)


def rewrite(text: str, replacements: dict[Destination, str], notes: dict[Destination, str] | None = None) -> str:
    """``text`` with each destination's characters replaced (a new URL with spaces gets ``<…>``), and each image
    or ``<img>`` tag of ``notes`` replaced by its note, each link of ``notes`` followed by its note; a destination
    whose image or link cannot be placed (a reference definition) keeps its characters."""
    edits = []
    for destination, new in replacements.items():
        if not destination.angle and destination.kind != "html" and re.search(r"[\s()<>]", new):
            new = "<" + new + ">"
        elif destination.kind == "html":
            new = new.replace('"', "%22").replace("'", "%27")
        edits.append((destination.start, destination.end, new))
    for destination, note in (notes or {}).items():
        if destination.whole is None:
            continue
        start, end = destination.whole
        edits.append((end, end, " " + note) if destination.kind == "link" else (start, end, note))
    parts = []
    position = 0
    for start, end, new in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        if start < position:
            continue  # inside a part already replaced
        parts.append(text[position:start])
        parts.append(new)
        position = end
    parts.append(text[position:])
    return "".join(parts)
