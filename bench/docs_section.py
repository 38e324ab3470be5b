"""docs/benchmarks.md: each benchmark rewrites only its own marked section."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = """# Benchmarks

Figures from the benchmarks under `bench/`, each run with a `make bench-*` target on the machine
named in its section. `make bench` runs them all. Each benchmark rewrites only its own section,
between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; text outside the markers is kept.
"""


def write_section(docs: Path, name: str, section: str) -> None:
    """Replaces the section `name` (markers included in `section`), or appends it."""
    text = docs.read_text() if docs.exists() else HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text)
