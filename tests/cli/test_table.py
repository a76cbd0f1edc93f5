"""``cml table``."""

import pytest

CSV = "model,accuracy,params\nlarge,0.91234567,1200000\nsmall,0.8,5000\nmedium,0.85,\"80,000\"\n"


def test_csv_to_markdown_with_numbers_right_aligned(repo, run_cli):
    repo.write("models.csv", CSV)
    result = run_cli("table", "models.csv", "--precision", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "| model   |   accuracy | params   |\n"
        "|:--------|-----------:|:---------|\n"
        "| large   |      0.912 | 1200000  |\n"
        "| small   |        0.8 | 5000     |\n"
        "| medium  |       0.85 | 80,000   |\n"
        "\n"
    )


def test_sort_columns_and_max_rows(repo, run_cli):
    repo.write("models.csv", CSV)
    result = run_cli("table", "models.csv", "--sort", "accuracy", "--desc", "--columns", "accuracy,model",
                     "--max-rows", "2")
    assert result.stdout == (
        "|   accuracy | model   |\n"
        "|-----------:|:--------|\n"
        "|    0.91235 | large   |\n"
        "|       0.85 | medium  |\n"
        "\n"
        "… 1 more row\n"
        "\n"
    )


def test_numeric_sort_is_numeric_not_lexical(repo, run_cli):
    repo.write("n.tsv", "n\tname\n10\tten\n9\tnine\n100\thundred\n")
    result = run_cli("table", "n.tsv", "--sort", "n")
    assert [line.split("|")[2].strip() for line in result.stdout.splitlines()[2:] if line] == ["nine", "ten", "hundred"]


def test_json_records_and_json_lines(repo, run_cli):
    repo.write("r.json", '[{"a": 1, "b": "x|y"}, {"a": 2.5, "c": true}]')
    repo.write("r.jsonl", '{"a": 1}\n\n{"a": 2}\n')
    assert run_cli("table", "r.json").stdout == (
        "|   a | b    | c    |\n"
        "|----:|:-----|:-----|\n"
        "|   1 | x\\|y |      |\n"
        "| 2.5 |      | true |\n"
        "\n"
    )
    assert run_cli("table", "r.jsonl").stdout == "|   a |\n|----:|\n|   1 |\n|   2 |\n\n"


@pytest.mark.parametrize(
    "name, content, args, message",
    [
        ("t.csv", "a,b\n1,2\n", ["--sort", "c"], "t.csv: has no column 'c' (from --sort); its columns are: a, b"),
        ("t.csv", "a,b\n1,2\n", ["--columns", "a,z"], "t.csv: has no column 'z' (from --columns); its columns are: a, b"),
        ("t.csv", "", [], "t.csv: is empty; expected a header row and data rows"),
        ("t.csv", "a,b\n", [], "t.csv: has no data rows"),
        ("t.jsonl", '{"a": 1}\n{"a": \n', [], "t.jsonl:2:7: invalid JSON: Expecting value"),
        ("t.json", '{"a": 1}', [], "t.json: must hold a list of records, or an object of equal-length column lists"),
        ("t.csv", "a,a\n1,2\n", [], "t.csv:1: has the column 'a' twice; give columns unique names"),
    ],
)
def test_bad_tables_are_one_line_errors(repo, run_cli, name, content, args, message):
    repo.write(name, content)
    result = run_cli("table", name, *args)
    assert result.exit_code == 1
    assert result.stderr == f"cml: error: {message}\n"
    assert result.stdout == ""


def test_negative_max_rows_is_rejected_by_the_option(repo, run_cli):
    repo.write("t.csv", "a\n1\n")
    result = run_cli("table", "t.csv", "--max-rows", "-1")
    assert result.exit_code == 1
    assert "--max-rows" in result.stderr


HOSTILE_CELLS = ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "<details ontoggle=alert(1) open>",
                 "&lt;b&gt; already escaped", "a < b && c > d"]


def rendered(markdown: str) -> str:
    """The HTML GitHub's cmark-gfm makes of ``markdown``, before any sanitiser."""
    from cml.report.preview import markdown_to_html

    return markdown_to_html(markdown)


def assert_shown_literally(html: str, texts) -> None:
    import html as html_module

    for tag in ("<img", "<script", "<details", "<b>"):
        assert tag not in html, f"data became markup: {tag}"
    for text in texts:
        assert html_module.escape(text, quote=False) in html, text


def test_html_in_cells_is_shown_as_text_never_as_markup(repo, run_cli):
    lines = ["name,note"] + [f'"{cell}",{index}' for index, cell in enumerate(HOSTILE_CELLS)]
    repo.write("hostile.csv", "\n".join(lines + ['"two\nlines",9']) + "\n")
    result = run_cli("table", "hostile.csv")
    assert result.exit_code == 0, result.stderr
    assert "| two<br>lines " in result.stdout, "cml's own line breaks stay"
    html = rendered(result.stdout)
    assert_shown_literally(html, HOSTILE_CELLS)
    assert "two<br>lines" in html


def test_the_table_ends_with_a_blank_line_so_appended_text_is_a_paragraph(repo, run_cli):
    repo.write("models.csv", CSV)
    for args in ((), ("--max-rows", "1")):
        result = run_cli("table", "models.csv", *args)
        assert "<p>Trained on 2 GPUs</p>" in rendered(result.stdout + "Trained on 2 GPUs\n"), args
    assert not run_cli("table", "models.csv", "--terminal").stdout.endswith("\n\n")
    assert "\n  Examples:\n    cml table " in run_cli("table", "--help").stdout
