"""Print the settings table rendered from src/saler_tracing/_internal/config/settings.py, or
with ``--write`` put it into docs/configuration.md (between its markers)."""

from __future__ import annotations

import sys
from pathlib import Path

from saler_tracing._internal.config import table

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def main() -> None:
    if "--write" in sys.argv[1:]:
        DOC.write_text(table.replace_in(DOC.read_text()))
        print(f"wrote {DOC.name}")
    else:
        print(table.render())


if __name__ == "__main__":
    main()
