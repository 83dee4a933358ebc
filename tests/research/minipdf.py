"""Small valid PDFs written byte by byte: pages of text lines in Helvetica, a correct xref table.

pypdf reads PDFs well but cannot lay out text, so the analyser's tests build their papers here.
"""

from __future__ import annotations


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: list[str]) -> bytes:
    if not lines:
        return b"0.5 w 72 700 m 300 700 l S"  # a drawing and no text: a page of a scan has no text layer either
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
    for line in lines:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF of ``pages``, each a list of text lines set top to bottom (an empty list: a page without text)."""
    n = len(pages)
    font_obj = 3 + 2 * n
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
    ]
    for i, lines in enumerate(pages):
        content = _content(lines)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_obj} 0 R >> >> "
            f"/Contents {4 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PAPER_PAGES = [
    [
        "Order Flow Imbalance and Intraday Returns",
        "Jane Q. Researcher",
        "ABSTRACT",
        "We study the order flow imbalance of aggressive trades.",
        "1 Introduction",
        "Short-term price changes follow the imbalance between buyer initiated and seller",
        "initiated volume. We build the imbalance over several windows.",
        "2 Data",
        "We use two years of trades of dollar futures with the aggressor side of each trade.",
        "2.1 Sampling",
        "Bars close every minute of the session.",
    ],
    [
        "3 Method",
        "A gradient boosting model is trained with purged cross-validation and an embargo",
        "of five bars; probabilities are calibrated with temperature scaling.",
        "4 Results",
        "The imbalance improves the log loss out of sample.",
        "Conclusion",
        "Order flow imbalance is a strong short-horizon feature.",
        "REFERENCES",
        "[1] R. Cont, A. Kukanov, S. Stoikov. The price impact of order book events. 2014.",
        "[2] A transformer for limit order books. 2023.",
    ],
]
