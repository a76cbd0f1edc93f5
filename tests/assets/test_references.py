"""What may be published: the report's folder tree (or the CI workspace), and only files that exist."""

import os

import pytest

from cml.assets.content import Asset, AssetError, guess_mime_type
from cml.assets.references import Boundary, collect_references
from cml.errors import InputError
from cml.assets.links import local_path
from tests.assets.conftest import CONFUSION, DATA_URI, EMBEDDED, LOCAL


def _collect(text, folder, **options):
    (folder / "report.md").write_text(text)
    return collect_references(text, str(folder / "report.md"), Boundary.for_report(str(folder / "report.md"), {}),
                              **options)


def test_every_kind_of_local_destination_is_found_with_its_bytes(report_folder):
    references = _collect((report_folder / "report.md").read_text(), report_folder)
    in_document_order = ["plots/confusion.png", "./plots/confusion.png", "plots/roc.png", "card.pdf", DATA_URI,
                         "assets/logo one.png"]
    assert [local_path(r.destination.url) if r.fragment else r.destination.url for r in references] == in_document_order
    assert [r.asset.data for r in references] == [LOCAL[written][0] for written in in_document_order]
    assert [r.fragment for r in references] == ["", "", "", "page=2", "", ""]
    assert references[0].asset is references[1].asset  # the same file is read once


@pytest.mark.parametrize("link", ["/etc/passwd", "../secret.txt", "plots/../../secret.txt", "%2e%2e/secret.txt"])
def test_paths_outside_the_report_folder_are_refused_naming_the_path_and_line(tmp_path, link):
    (tmp_path / "secret.txt").write_text("token")
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "plots").mkdir()
    with pytest.raises(InputError) as error:
        _collect(f"# R\n\n![x]({link})\n", folder, strict=True)
    assert str(error.value).startswith(f"{folder / 'report.md'}:3: refusing to publish")
    assert "--allow-outside" in str(error.value)


def test_a_symlink_leading_outside_is_refused_and_allow_outside_widens_on_purpose(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "id_rsa").write_text("private key")
    folder = tmp_path / "report"
    folder.mkdir()
    os.symlink(outside / "id_rsa", folder / "plot.png")
    with pytest.raises(InputError, match="refusing to publish plot.png"):
        _collect("![x](plot.png)\n", folder, strict=True)
    report = folder / "report.md"
    widened = Boundary.for_report(str(report), {}, [str(outside)])
    (reference,) = collect_references("![x](plot.png)\n", str(report), widened)
    assert reference.asset.data == b"private key"


def test_the_ci_workspace_is_inside_the_boundary(tmp_path):
    workspace = tmp_path / "workspace"
    (workspace / "plots").mkdir(parents=True)
    (workspace / "plots" / "a.png").write_bytes(CONFUSION)
    reports = workspace / "out" / "reports"
    reports.mkdir(parents=True)
    report = reports / "report.md"
    report.write_text("![](../../plots/a.png)")
    boundary = Boundary.for_report(str(report), {"GITHUB_WORKSPACE": str(workspace)})
    (reference,) = collect_references(report.read_text(), str(report), boundary)
    assert reference.asset.data == CONFUSION


def test_missing_files_warn_and_leave_the_link_or_fail_with_strict(tmp_path):
    text = "# R\n\nok\n\n![plot](plots/none.png)\n[folder](plots)\n"
    (tmp_path / "plots").mkdir()
    warnings = []
    assert _collect(text, tmp_path, warn=lambda *args, **place: warnings.append((*args, place["line"]))) == []
    assert warnings == [("plots/none.png does not exist; the link is left as it is", 5),
                        ("plots is a folder, not a file; the link is left as it is", 6)]
    with pytest.raises(InputError, match=r"report.md:5: plots/none.png does not exist.*drop --strict"):
        _collect(text, tmp_path, strict=True)
    assert _collect(text, tmp_path, strict=True, skip_missing=True) == []


def test_a_broken_data_uri_names_the_line(tmp_path):
    with pytest.raises(InputError, match=r"report.md:2: cannot decode a data: URI"):
        _collect("x\n![](data:image/png;base64,@@@)\n", tmp_path, strict=True)


def test_asset_names_are_content_addressed_and_typed():
    first = Asset.from_bytes(CONFUSION, "plots/a.png")
    assert first.name == Asset.from_bytes(CONFUSION, "other/b.PNG").name
    assert first.name.endswith(".png") and first.mime_type == "image/png" and first.is_image
    assert Asset.from_bytes(CONFUSION, "no-extension").name.endswith(".png")
    assert Asset.from_data_uri("data:image/png;base64," + __import__("base64").b64encode(EMBEDDED).decode()).data == EMBEDDED
    assert guess_mime_type("plot.svg") == "image/svg+xml"
    assert guess_mime_type("metrics.json") == "application/json"
    assert guess_mime_type("card.pdf") == "application/pdf"
    assert guess_mime_type("unknown", b"<svg xmlns='http://www.w3.org/2000/svg'/>") == "image/svg+xml"
    with pytest.raises(AssetError, match=rf"plots/a.png is {len(CONFUSION)} bytes; GitHub branch accepts at most 10 bytes"):
        first.check_size(10, "GitHub branch")


def test_a_refused_report_makes_no_request(actions, github, tmp_path, run_cli):
    (tmp_path / "report.md").write_text("# R\n\n![key](/etc/passwd)\n")
    result = run_cli("comment", "create", "report.md", "--strict")
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: report.md:3: refusing to publish /etc/passwd: it is outside the report's "
                             "folder and the CI workspace (resolves to /etc/passwd); pass --allow-outside FOLDER "
                             "if this is intended\n")
    assert github.server.requests == []


def test_asset_publish_refuses_files_outside_the_current_folder(actions, github, tmp_path, run_cli):
    result = run_cli("asset", "publish", "/etc/hostname")
    assert result.exit_code == 1 and "outside the current folder" in result.stderr
    assert github.server.requests == []


def test_a_file_linked_many_times_is_checked_once_and_every_link_is_kept_or_warned_about(tmp_path):
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "secret.txt").write_text("x")
    report = tmp_path / "report"
    report.mkdir()
    (report / "plot.png").symlink_to(tmp_path / "plot.png")  # outside once resolved: refused at every link
    (report / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    text = "".join(f"![a](ok.png) [b](missing.png) ![c](plot.png) [d](./ok.png#p{line})\n\n" for line in range(3))
    warnings = []
    references = _collect(text, report, warn=lambda message, file=None, line=None: warnings.append((line, message)))
    assert [(r.destination.line, r.destination.url, r.fragment) for r in references] == [
        (2 * index + 1, url, fragment) for index in range(3)
        for url, fragment in (("ok.png", ""), (f"./ok.png#p{index}", f"p{index}"))]
    assert len({id(r.asset) for r in references}) == 1  # one file, read once, whatever the spelling
    assert [(line, message.split(";")[0]) for line, message in warnings] == [
        (line, message) for line in (1, 3, 5) for message in ("missing.png does not exist",
                                                             f"refusing to publish plot.png: it is outside the report's "
                                                             f"folder and the CI workspace (resolves to "
                                                             f"{tmp_path / 'plot.png'})")]
    with pytest.raises(InputError, match=r"report\.md:1: missing\.png does not exist"):
        _collect(text, report, strict=True)
