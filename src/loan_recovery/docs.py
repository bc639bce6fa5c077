"""Documentation generated from code, so the README cannot drift from the schema.

``python -m loan_recovery.docs README.md`` rewrites the data-format table between its
markers; a test fails when the README is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loan_recovery.data import schema

TABLE_START = "<!-- data-format-table:start -->"
TABLE_END = "<!-- data-format-table:end -->"


def _role(spec: schema.ColumnSpec) -> str:
    if spec.name in schema.REQUIRED_COLUMNS:
        return "required"
    if spec.name in schema.DERIVABLE_COLUMNS:
        return "required, derived when blank or absent"
    if spec.name == schema.RECOVERY_STATUS:
        return "label (training only)"
    return "optional"


def data_format_table() -> str:
    """The canonical table as a Markdown table: column, type, unit, domain, role, meaning."""
    lines = [
        "| column | type | unit | allowed values | role | meaning |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{spec.name}` | {spec.kind.value} | {spec.unit} | {spec.domain_text()} "
        f"| {_role(spec)} | {spec.description} |"
        for spec in schema.ALL_SPECS
    ]
    return "\n".join(lines)


def render_readme(text: str) -> str:
    """``text`` with the data-format section replaced by the current table."""
    head, found, rest = text.partition(TABLE_START)
    _, found_end, tail = rest.partition(TABLE_END)
    if not (found and found_end):
        raise ValueError(f"README has no {TABLE_START} ... {TABLE_END} section.")
    return f"{head}{TABLE_START}\n{data_format_table()}\n{TABLE_END}{tail}"


def main(argv: list[str]) -> int:
    """Rewrite the README given as the only argument."""
    path = Path(argv[0] if argv else "README.md")
    path.write_text(render_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
