"""The CSV export never hands a spreadsheet a formula, whatever a workspace's name holds."""

from __future__ import annotations

import csv
import io
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from installations.reporting import audit

TRIGGERS = ("=", "+", "-", "@")


def exported(text: str) -> str:
    """One cell written by the export's writer and read back as a spreadsheet's import would."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([audit.safe_cell(text)])
    (cell,) = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    return cell


def reads_as_formula(cell: str) -> bool:
    return cell[:1] in ("\t", "\r", "\n") or (
        unicodedata.normalize("NFKC", cell).strip()[:1] in TRIGGERS
    )


# Spreadsheet-ish text: formulas behind whitespace and compatibility forms, and anything else.
LEADS = st.sampled_from(["", " ", "\t", "\r", "\n", "\u3000", "\u00a0", " \t "])
SIGNS = st.sampled_from(
    [
        "=",
        "+",
        "-",
        "@",
        "\uff1d",
        "\uff0b",
        "\uff0d",
        "\uff20",
        "\ufe66",
        "\ufe62",
        "\ufe63",
        "\ufe6b",
        "\u207c",
        "\u208a",
    ]
)
FORMULAS = st.builds(lambda lead, sign, rest: lead + sign + rest, LEADS, SIGNS, st.text())


@given(st.one_of(st.text(), FORMULAS))
@example("=cmd|' /C calc'!A0")
@example("\t=1+1")
@example("\r\n@SUM(A1)")
@example(" +1")
@example('\uff1dHYPERLINK("http://x")')
def test_no_exported_cell_reads_as_a_formula(text: str) -> None:
    cell = exported(text)
    assert not reads_as_formula(cell)


@given(st.text())
def test_a_cell_is_kept_whole_behind_at_most_one_quote(text: str) -> None:
    cell = exported(text)
    assert cell in (text, "'" + text)


@pytest.mark.parametrize("text", ["Acme", "T0123ABC", "chat:write, commands", "", "'quoted"])
def test_plain_cells_are_left_as_they_are(text: str) -> None:
    assert audit.safe_cell(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "=1",
        "+1",
        "-1",
        "@x",
        "\t=1",
        "\r1",
        "\n1",
        "  =1",
        "\u3000=1",
        "\uff1d1",
        "\uff20x",
        "\uff0d1",
    ],
)
def test_formula_shapes_get_a_leading_quote(text: str) -> None:
    assert audit.safe_cell(text) == "'" + text
