"""The invisible report marker, and iterative/cml's watermark."""

from cml.actions.marker import Marker, legacy_title, strip_marker
from cml.report.preview import markdown_to_html


def test_marker_round_trip_with_odd_labels():
    for label in ("", "train", "a b (c) [d] _e_ *f* <g> ) #", "{workflow}"):
        marker = Marker(label, "abc123")
        body = marker.append_to("# Report\n")
        assert marker.found_in(body)
        assert not Marker(label + "x", "abc123").found_in(body)
        assert strip_marker(body) == "# Report"


def test_marker_is_invisible_and_fetches_nothing():
    html = markdown_to_html(Marker("train (nightly)", "abc").append_to("# Report"))
    assert html.strip() == "<h1>Report</h1>"


def test_placeholders_are_replaced_once():
    assert Marker.for_run("{workflow}-{run}-{run}", "train", "42", "ff").label == "train-42-{run}"


def test_iterative_cml_watermarks_are_recognised():
    legacy = f'![](https://cml.dev/watermark.png#0a1b "{legacy_title("my_label")}")'
    assert legacy == '![](https://cml.dev/watermark.png#0a1b "CML watermark my\\_label")'
    assert Marker("my_label").found_in(f"report\n\n{legacy}")
    assert not Marker("other").found_in(f"report\n\n{legacy}")
    assert Marker("").found_in('x ![](https://cml.dev/watermark.png#99 "CML watermark")')


def test_iterative_cml_undefined_workflow_and_run_are_recognised_as_well_as_empty():
    marker = Marker.for_run("{workflow} report {run}", None, None, "ff")
    assert marker.label == " report " and str(marker).startswith("[//]: # (cml-report label=%20report%20 ")
    for label in ("undefined report undefined", " report "):
        assert marker.found_in(f'r\n\n![](https://cml.dev/watermark.png#0a1b "{legacy_title(label)}")'), label
    assert not marker.found_in('r\n\n![](https://cml.dev/watermark.png#0a1b "CML watermark train report 1")')
    known = Marker.for_run("{workflow}-{run}", "train", None, "ff")
    assert known.found_in('![](https://cml.dev/watermark.png#0a1b "CML watermark train-undefined")')
    assert not known.found_in('![](https://cml.dev/watermark.png#0a1b "CML watermark undefined-undefined")')
    assert not Marker.for_run("{workflow}", "train", "1", "ff").legacy_labels
