"""Documentation generated from code, so the data-format page cannot drift from the schema.

``python -m loan_recovery.docs`` rewrites the tables of ``docs/data-format.md`` between
their markers (or of the page given as the only argument); a test fails when the page is
out of date.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from loan_recovery.data import schema

#: The page that holds the generated tables, relative to the repository root.
DATA_FORMAT_PAGE = Path("docs") / "data-format.md"

TABLE_START = "<!-- data-format-table:start -->"
TABLE_END = "<!-- data-format-table:end -->"
PAYMENT_TABLE_START = "<!-- payment-table:start -->"
PAYMENT_TABLE_END = "<!-- payment-table:end -->"

_HEADER = [
    "| column | type | unit | allowed values | role | meaning |",
    "|---|---|---|---|---|---|",
]


def _role(spec: schema.ColumnSpec) -> str:
    if spec.name in schema.REQUIRED_COLUMNS:
        return "required"
    if spec.name in schema.DERIVABLE_COLUMNS:
        return "required, derived when blank or absent"
    if spec.name == schema.RECOVERY_STATUS:
        return "label (training only)"
    return "optional"


def _payment_role(spec: schema.ColumnSpec) -> str:
    if spec.name == schema.PAID_DATE:
        return "required, blank when not paid"
    return "required"


def _table(specs: tuple[schema.ColumnSpec, ...], role: Callable[[schema.ColumnSpec], str]) -> str:
    rows = [
        f"| `{spec.name}` | {spec.kind.value} | {spec.unit} | {spec.domain_text()} "
        f"| {role(spec)} | {spec.description} |"
        for spec in specs
    ]
    return "\n".join([*_HEADER, *rows])


def data_format_table() -> str:
    """The canonical table as a Markdown table: column, type, unit, domain, role, meaning."""
    return _table(schema.ALL_SPECS, _role)


def payment_table() -> str:
    """The monthly instalment history (early warning) as a Markdown table, same columns."""
    return _table(schema.PAYMENT_SPECS, _payment_role)


def _replace(text: str, start: str, end: str, table: str) -> str:
    head, found, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise ValueError(f"Expected a {start} ... {end} section in the page; found none.")
    return f"{head}{start}\n{table}\n{end}{tail}"


def render_data_format(text: str) -> str:
    """``text`` with both generated sections replaced by the current tables."""
    text = _replace(text, TABLE_START, TABLE_END, data_format_table())
    return _replace(text, PAYMENT_TABLE_START, PAYMENT_TABLE_END, payment_table())


def main(argv: list[str]) -> int:
    """Rewrite the data-format page given as the only argument (default: docs/data-format.md)."""
    path = Path(argv[0]) if argv else DATA_FORMAT_PAGE
    path.write_text(render_data_format(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
