"""A report folder with real files of every kind a report links to."""

import base64
import hashlib
import struct
import zlib

import pytest


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (built by hand so the tests need no imaging library)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(colour) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def content_name(data: bytes, extension: str) -> str:
    return hashlib.sha256(data).hexdigest() + extension


CONFUSION = png(4, 4, (200, 30, 30))
ROC = png(3, 2, (30, 200, 30))
LOGO = png(2, 2, (30, 30, 200))
EMBEDDED = png(1, 1, (9, 9, 9))
CARD = b"%PDF-1.4\n% model card\n"
DATA_URI = "data:image/png;base64," + base64.b64encode(EMBEDDED).decode()

REPORT = f"""# Results

![confusion](plots/confusion.png "Confusion matrix")
Again, differently spelled: ![](./plots/confusion.png)

<img src="plots/roc.png" width="400">

See the [model card](card.pdf#page=2) and [an external plot](https://example.com/x.png).

![logo][logo]

Inline code `![](plots/missing.png)` stays, and so does this block:

```md
![](plots/also-missing.png)
```

![dvclive]({DATA_URI})

[logo]: <assets/logo one.png>
"""

#: Each local destination as written, and the bytes and extension it should be published as.
LOCAL = {
    "plots/confusion.png": (CONFUSION, ".png"),
    "./plots/confusion.png": (CONFUSION, ".png"),
    "plots/roc.png": (ROC, ".png"),
    "card.pdf": (CARD, ".pdf"),
    "assets/logo one.png": (LOGO, ".png"),
    DATA_URI: (EMBEDDED, ".png"),
}


def expected_report(url_of) -> str:
    """REPORT with exactly the local destinations replaced by ``url_of(content name)``."""
    text = REPORT
    for written, (data, extension) in sorted(LOCAL.items(), key=lambda item: -len(item[0])):
        url = url_of(content_name(data, extension))
        text = text.replace(f"({written}", f"({url}").replace(f'"{written}"', f'"{url}"').replace(f"<{written}>", f"<{url}>")
    return text


@pytest.fixture
def report_folder(tmp_path, monkeypatch):
    """``tmp_path`` holding report.md and every file it links to; the current folder."""
    (tmp_path / "plots").mkdir()
    (tmp_path / "assets").mkdir()
    (tmp_path / "plots" / "confusion.png").write_bytes(CONFUSION)
    (tmp_path / "plots" / "roc.png").write_bytes(ROC)
    (tmp_path / "assets" / "logo one.png").write_bytes(LOGO)
    (tmp_path / "card.pdf").write_bytes(CARD)
    (tmp_path / "report.md").write_text(REPORT)
    monkeypatch.chdir(tmp_path)
    return tmp_path
