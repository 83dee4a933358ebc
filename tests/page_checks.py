"""What the browser tests share: Debian's Chromium, where screenshots go, and the overflow probe."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT = 1280


def overflow_js(open_details: bool = False) -> str:
    """A page function returning the document's scroll width and up to 10 elements right of ``VIEWPORT``
    (with ``open_details``, every ``<details>`` is opened first)."""
    opener = "  document.querySelectorAll('details').forEach(d => { d.open = true; });\n" if open_details else ""
    return ("() => {\n  const VIEWPORT = " + str(VIEWPORT) + ";\n" + opener + """  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > VIEWPORT + 0.5) wide.push(el.tagName + '.' + el.className + ' right=' + r.right);
  }
  return {scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 10)};
}""")
