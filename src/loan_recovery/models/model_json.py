"""Reading the JSON description file every saved model piece carries, checked the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loan_recovery.exceptions import IncompatibleModelError


def incompatible(json_path: Path, kind: str, detail: str) -> IncompatibleModelError:
    """The error for a description file this code cannot use, naming the file and why."""
    return IncompatibleModelError(f"{json_path} is not {kind} this code can load: {detail}.")


def read_model_json(
    json_path: Path, *, kind: str, format_name: str, format_version: int
) -> dict[str, Any]:
    """The file's JSON object, after checking it is one and of the expected format version."""
    try:
        raw = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise incompatible(json_path, kind, f"invalid JSON ({error})") from None
    if not isinstance(raw, dict):
        raise incompatible(json_path, kind, "expected a JSON object")
    if raw.get("format") != format_name or raw.get("format_version") != format_version:
        raise incompatible(
            json_path,
            kind,
            f"format {raw.get('format')!r} version {raw.get('format_version')!r}, expected "
            f"{format_name!r} version {format_version}",
        )
    return raw
