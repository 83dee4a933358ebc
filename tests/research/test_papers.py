"""The PDF analyser on PDFs the tests write themselves (minipdf), and the Paper row."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pytest
from minipdf import PAPER_PAGES, make_pdf

from quantumtrader.errors import InputError
from research.papers import FRONT, Paper, Section, analyse_pdf, heading_of, split_sections


def _titles(sections: list[Section]) -> list[str]:
    return [s.title for s in sections]


def test_a_two_page_paper_splits_at_its_numbered_caps_and_named_headings(tmp_path: Path) -> None:
    pdf = tmp_path / "ofi.pdf"
    pdf.write_bytes(make_pdf(PAPER_PAGES))

    sections = analyse_pdf(pdf)

    assert _titles(sections) == [FRONT, "ABSTRACT", "1 Introduction", "2 Data", "2.1 Sampling", "3 Method",
                                 "4 Results", "Conclusion", "REFERENCES"]
    by_title = {s.title: s.text for s in sections}
    assert by_title[FRONT].startswith("Order Flow Imbalance and Intraday Returns")
    assert "seller\ninitiated volume" in by_title["1 Introduction"]
    assert by_title["3 Method"].startswith("A gradient boosting model")  # page 2 continues the text
    assert "Cont, A. Kukanov" in by_title["REFERENCES"]


def test_bytes_and_a_page_limit_read_only_the_first_pages() -> None:
    sections = analyse_pdf(make_pdf(PAPER_PAGES), max_pages=1)

    assert _titles(sections)[-1] == "2.1 Sampling"
    assert "Method" not in " ".join(_titles(sections))


@pytest.mark.parametrize("line, heading", [
    ("1 Introduction", "1 Introduction"),
    ("2.1 Data sources", "2.1 Data sources"),
    ("4. Experiments", "4. Experiments"),
    ("IV. RESULTS", "IV. RESULTS"),
    ("RELATED WORK", "RELATED WORK"),
    ("EMPIRICAL ANALYSIS", "EMPIRICAL ANALYSIS"),
    ("ABSTRACT", "ABSTRACT"),
    ("BEGIN", None),
    ("Related Work", "Related Work"),
    ("Methods:", "Methods"),
    ("Conclusions", "Conclusions"),
    ("2 Figures show that the imbalance predicts returns over short horizons.", None),
    ("10 000 trades were removed as duplicates and the rest were kept", None),
    ("We use the data of 2023.", None),
    ("1 We thank the referee", None),
    ("2 Email: jane@example.org", None),
    ("", None),
])
def test_heading_lines_are_told_from_body_lines(line: str, heading: str | None) -> None:
    assert heading_of(line) == heading


def test_text_without_headings_is_one_front_section_and_hyphen_breaks_are_joined() -> None:
    assert split_sections("A title\nsome im-\nbalance text") == [Section(FRONT, "A title\nsome imbalance text")]
    assert split_sections("") == []


def test_a_file_that_is_not_a_pdf_is_an_input_error_naming_it(tmp_path: Path) -> None:
    page = tmp_path / "abs.pdf"
    page.write_text("<html><body>arXiv abstract page</body></html>")

    with pytest.raises(InputError, match=r"abs\.pdf is not a PDF .*pass the paper's PDF file"):
        analyse_pdf(page)


def test_a_missing_file_and_a_damaged_pdf_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.pdf: cannot read the file"):
        analyse_pdf(tmp_path / "missing.pdf")
    with pytest.raises(InputError, match=r"cut\.pdf is not a readable PDF .*download it again"):
        analyse_pdf(b"%PDF-1.4\n1 0 obj\n<< /Type /Catal", name="cut.pdf")


def test_an_encrypted_pdf_is_an_input_error_saying_to_save_an_unencrypted_copy() -> None:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(PAPER_PAGES))))
    writer.encrypt("secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)

    with pytest.raises(InputError, match=r"locked\.pdf is encrypted.*unencrypted copy"):
        analyse_pdf(buffer.getvalue(), name="locked.pdf")


def test_a_pdf_without_a_text_layer_says_to_run_ocr() -> None:
    with pytest.raises(InputError, match=r"<PDF bytes> has no text layer .*OCR"):
        analyse_pdf(make_pdf([[], []]))


def test_a_paper_row_holds_plain_json_values() -> None:
    when = datetime(2024, 1, 11, 17, 20, tzinfo=UTC)
    paper = Paper("2401.05678", 2, "T", ("A", "B"), "abs", when, when, ("q-fin.ST",), "q-fin.ST",
                  "http://arxiv.org/pdf/2401.05678v2", doi=None, comment="9 pages")

    row = paper.to_row()

    assert json.loads(json.dumps(row)) == row
    assert row["published"] == "2024-01-11T17:20:00+00:00"
    assert row["authors"] == ["A", "B"] and row["version"] == 2 and row["doi"] is None
    assert paper.versioned_id == "2401.05678v2"
