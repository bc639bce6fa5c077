"""Model registry: immutable numbered versions, verified loads, the champion alias."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loan_recovery.data import schema
from loan_recovery.exceptions import (
    IncompatibleModelError,
    ModelError,
    ModelNotFoundError,
    TamperedModelError,
)
from loan_recovery.models import registry as registry_module
from loan_recovery.models.registry import (
    CHAMPION_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    METADATA_FILE,
    ModelRegistry,
    data_fingerprint,
)

FEATURES = [schema.DAYS_PAST_DUE, schema.NUM_MISSED_PAYMENTS, schema.EMI_TO_INCOME_RATIO]


def _write_model(folder: Path) -> None:
    """Stands in for a model serialiser: a binary file and a file in a sub-folder."""
    (folder / "model.bin").write_bytes(b"\x00\x01weights\xff")
    (folder / "extra").mkdir()
    (folder / "extra" / "segments.json").write_text('{"k": 3}', encoding="utf-8")


def _metadata(**extra: object) -> dict[str, object]:
    return {
        "feature_names": FEATURES,
        "champion_family": "xgboost",
        "metrics_summary": {"roc_auc": 0.81},
        **extra,
    }


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    """An empty registry in a fresh folder that does not exist yet."""
    return ModelRegistry(tmp_path / "models")


def _make_writable(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_save_then_open_round_trips_files_and_metadata(registry: ModelRegistry) -> None:
    """Gives one saved version; opens it; expects its files and enriched metadata back."""
    info = registry.save_version(_write_model, _metadata())
    loaded = registry.open_version(info.version)

    assert loaded.version == info.version == "v0001"
    assert loaded.file("model.bin").read_bytes() == b"\x00\x01weights\xff"
    assert (loaded.path / "extra" / "segments.json").is_file()
    meta = loaded.metadata
    assert meta["feature_names"] == FEATURES
    assert meta["version"] == "v0001"
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["created_at"].endswith("+00:00")
    assert set(meta["library_versions"]) == {
        "python",
        "numpy",
        "pandas",
        "scikit-learn",
        "xgboost",
        "loan_recovery",
    }
    manifest = json.loads((loaded.path / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert list(manifest["files"]) == sorted(["extra/segments.json", METADATA_FILE, "model.bin"])
    assert info.summary == {"champion_family": "xgboost", "metrics_summary": {"roc_auc": 0.81}}
    assert not list(registry.root.glob(".staging-*"))


def test_version_ids_increment_and_list_in_order(registry: ModelRegistry) -> None:
    """Gives three saves; expects v0001..v0003, listed oldest first, none champion."""
    for _ in range(3):
        registry.save_version(_write_model, _metadata())
    listed = registry.versions()
    assert [info.version for info in listed] == ["v0001", "v0002", "v0003"]
    assert not any(info.is_champion for info in listed)


def test_id_taken_by_a_concurrent_writer_moves_to_next_number(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives a stale listing that offers v0002 while another writer already holds it;
    expects the rename to fail, the save to land on v0003 and v0002 to stay intact."""
    registry.save_version(_write_model, _metadata())
    registry.save_version(_write_model, _metadata(description="the other writer"))
    real_next = registry._next_number
    offers = iter([2])
    monkeypatch.setattr(registry, "_next_number", lambda: next(offers, None) or real_next())

    info = registry.save_version(_write_model, _metadata())

    assert info.version == "v0003"
    assert registry.open_version("v0002").metadata["description"] == "the other writer"
    assert registry.open_version("v0003").metadata["version"] == "v0003"
    assert not list(registry.root.glob(".staging-*"))


def test_files_are_read_only(registry: ModelRegistry) -> None:
    """Gives a saved, promoted version; expects read-only files, readable folder and alias."""
    info = registry.save_version(_write_model, _metadata())
    files = [path for path in info.path.rglob("*") if path.is_file()]
    assert len(files) == 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, path
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o755  # readable by a serving user
    registry.promote(info.version)
    assert stat.S_IMODE((registry.root / CHAMPION_FILE).stat().st_mode) == 0o644


def test_failed_write_leaves_no_version_or_staging(registry: ModelRegistry) -> None:
    """Gives a callback that raises; expects the error to surface and nothing left behind."""

    def broken(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        (folder / "half.bin").chmod(0o444)
        raise RuntimeError("serialiser crashed")

    with pytest.raises(RuntimeError, match="serialiser crashed"):
        registry.save_version(broken, _metadata())
    assert registry.versions() == []
    assert not list(registry.root.glob(".staging-*"))


def test_reserved_names_are_refused(registry: ModelRegistry) -> None:
    """Gives metadata with 'version' and a callback writing metadata.json; expects ModelError."""
    with pytest.raises(ModelError, match="version"):
        registry.save_version(_write_model, _metadata(version="v9"))

    def writes_metadata(folder: Path) -> None:
        (folder / METADATA_FILE).write_text("{}", encoding="utf-8")

    with pytest.raises(ModelError, match=METADATA_FILE):
        registry.save_version(writes_metadata, _metadata())


def test_promote_moves_the_champion_alias(registry: ModelRegistry) -> None:
    """Gives two versions; promotes one then the other; expects the alias to follow."""
    first = registry.save_version(_write_model, _metadata())
    second = registry.save_version(_write_model, _metadata())
    assert registry.champion() is None

    registry.promote(first.version)
    assert registry.champion() == "v0001"
    assert registry.resolve() == registry.resolve("champion") == registry.resolve(None) == "v0001"
    assert registry.open_version().version == "v0001"

    registry.promote(second.version)
    record = json.loads((registry.root / CHAMPION_FILE).read_text(encoding="utf-8"))
    assert record["version"] == "v0002"
    assert record["previous"] == "v0001"
    assert [info.is_champion for info in registry.versions()] == [False, True]
    assert not list(registry.root.glob(".champion-*"))


def test_promote_unknown_version_raises_not_found(registry: ModelRegistry) -> None:
    """Gives one version; promotes v0042; expects ModelNotFoundError listing what exists."""
    registry.save_version(_write_model, _metadata())
    with pytest.raises(ModelNotFoundError, match=r"v0042.*v0001"):
        registry.promote("v0042")
    assert registry.champion() is None


@pytest.mark.parametrize("version", ["../secrets", "v1", "latest"])
def test_resolve_rejects_unknown_or_malformed_ids(registry: ModelRegistry, version: str) -> None:
    """Gives ids that are not vNNNN folders; expects ModelNotFoundError (a LookupError)."""
    registry.save_version(_write_model, _metadata())
    with pytest.raises(LookupError, match="available"):
        registry.resolve(version)


def test_resolve_without_champion_says_what_to_do(registry: ModelRegistry) -> None:
    """Gives an empty registry, then one unpromoted version; expects actionable messages."""
    with pytest.raises(ModelNotFoundError, match=r"no champion.*train a model"):
        registry.open_version()
    registry.save_version(_write_model, _metadata())
    with pytest.raises(ModelNotFoundError, match=r"no champion.*promote one of \['v0001'\]"):
        registry.resolve("champion")


def test_modified_byte_is_detected(registry: ModelRegistry) -> None:
    """Gives a version whose model file had one byte changed; expects TamperedModelError."""
    info = registry.save_version(_write_model, _metadata())
    registry.promote(info.version)
    target = info.path / "model.bin"
    _make_writable(target)
    data = bytearray(target.read_bytes())
    data[3] ^= 0x01
    target.write_bytes(bytes(data))

    with pytest.raises(TamperedModelError, match=r"model\.bin.*checksum"):
        registry.open_version()
    with pytest.raises(TamperedModelError):
        registry.promote(info.version)


def test_edited_metadata_is_detected(registry: ModelRegistry) -> None:
    """Gives metadata.json edited to claim other features; expects TamperedModelError."""
    info = registry.save_version(_write_model, _metadata())
    path = info.path / METADATA_FILE
    _make_writable(path)
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["feature_names"] = ["forged"]
    path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(TamperedModelError, match=METADATA_FILE):
        registry.open_version(info.version)


def test_deleted_file_is_detected(registry: ModelRegistry) -> None:
    """Gives a version with a file removed; expects TamperedModelError naming it."""
    info = registry.save_version(_write_model, _metadata())
    (info.path / "extra" / "segments.json").unlink()
    with pytest.raises(TamperedModelError, match=r"segments\.json.*missing"):
        registry.open_version(info.version)


def test_added_file_is_detected(registry: ModelRegistry) -> None:
    """Gives a version with a file dropped in; expects TamperedModelError naming it."""
    info = registry.save_version(_write_model, _metadata())
    (info.path / "evil.pkl").write_bytes(b"payload")
    with pytest.raises(TamperedModelError, match=r"evil\.pkl"):
        registry.open_version(info.version)


def test_missing_manifest_is_detected(registry: ModelRegistry) -> None:
    """Gives a version without manifest.json; expects TamperedModelError."""
    info = registry.save_version(_write_model, _metadata())
    (info.path / MANIFEST_FILE).unlink()
    with pytest.raises(TamperedModelError, match=MANIFEST_FILE):
        registry.open_version(info.version)


def test_expected_features_must_match(registry: ModelRegistry) -> None:
    """Gives a model trained on 3 features; code expects 2 of them; expects the key named."""
    info = registry.save_version(_write_model, _metadata())
    same = registry.open_version(info.version, expected={"feature_names": tuple(FEATURES)})
    assert same.metadata["feature_names"] == FEATURES

    with pytest.raises(IncompatibleModelError, match="feature_names") as error:
        registry.open_version(info.version, expected={"feature_names": FEATURES[:2]})
    assert schema.EMI_TO_INCOME_RATIO in str(error.value)

    with pytest.raises(IncompatibleModelError, match="label_definition"):
        registry.open_version(info.version, expected={"label_definition": "anything"})


def test_other_format_version_is_incompatible(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives a bundle saved by code with another format_version; expects IncompatibleModelError."""
    monkeypatch.setattr(registry_module, "FORMAT_VERSION", FORMAT_VERSION + 1)
    info = registry.save_version(_write_model, _metadata())
    monkeypatch.undo()
    with pytest.raises(IncompatibleModelError, match="format_version"):
        registry.open_version(info.version)


def test_corrupt_champion_file_is_reported(registry: ModelRegistry) -> None:
    """Gives a champion file with garbage; expects a ModelError, not a JSON traceback."""
    registry.root.mkdir(parents=True)
    (registry.root / CHAMPION_FILE).write_text("not json", encoding="utf-8")
    with pytest.raises(ModelError, match="champion"):
        registry.champion()


def test_versions_of_missing_root_is_empty(tmp_path: Path) -> None:
    """Gives a registry pointed at a missing folder; expects an empty listing, no folder made."""
    registry = ModelRegistry(tmp_path / "nowhere")
    assert registry.versions() == []
    assert registry.champion() is None
    assert not (tmp_path / "nowhere").exists()


# --- data fingerprint --------------------------------------------------------------------------
@pytest.fixture
def table() -> pd.DataFrame:
    """A small validated-looking table: Arrow text, category, int, float and a missing ID."""
    return pd.DataFrame(
        {
            schema.LOAN_ID: pd.array(["L1", "L2", None, "L4", "L5"], dtype="str"),
            schema.LOAN_TYPE: pd.Categorical(["Home", "Auto", "Home", "Other", "Personal"]),
            schema.DAYS_PAST_DUE: np.array([0, 45, 120, 400, 7], dtype=np.int64),
            schema.OUTSTANDING_LOAN_AMOUNT: [1000.0, 2000.5, np.nan, 4000.0, 5.0],
        },
        index=[10, 11, 12, 13, 14],
    )


def test_fingerprint_is_deterministic(table: pd.DataFrame) -> None:
    """Gives the same table twice, re-indexed and as a sliced copy; expects equal fingerprints."""
    first = data_fingerprint(table)
    assert first == data_fingerprint(table.copy())
    assert first == data_fingerprint(table.reset_index(drop=True))
    assert first["rows"] == 5
    assert first["columns"] == list(table.columns)
    assert len(first["sha256"]) == 64
    longer = pd.concat([table.iloc[:1], table])
    assert data_fingerprint(longer.iloc[1:]) == first


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (schema.LOAN_ID, "L2x"),
        (schema.LOAN_TYPE, "Auto"),
        (schema.DAYS_PAST_DUE, 121),
        (schema.OUTSTANDING_LOAN_AMOUNT, 0.0),
    ],
)
def test_fingerprint_changes_with_one_value(
    table: pd.DataFrame, column: str, value: object
) -> None:
    """Gives the table with a single cell changed; expects a different hash."""
    changed = table.copy()
    changed.loc[12, column] = value
    assert data_fingerprint(changed)["sha256"] != data_fingerprint(table)["sha256"]


def test_fingerprint_changes_with_column_name_order_and_dtype(table: pd.DataFrame) -> None:
    """Gives renamed, reordered and re-typed tables; expects three new hashes."""
    base = data_fingerprint(table)["sha256"]
    renamed = table.rename(columns={schema.DAYS_PAST_DUE: schema.NUM_MISSED_PAYMENTS})
    reordered = table[list(reversed(table.columns))]
    retyped = table.astype({schema.DAYS_PAST_DUE: np.float64})
    hashes = {data_fingerprint(frame)["sha256"] for frame in (renamed, reordered, retyped)}
    assert base not in hashes
    assert len(hashes) == 3


def test_fingerprint_of_a_large_table_is_fast() -> None:
    """Gives 200k rows x 6 columns (text included); expects well under a second."""
    rows = 200_000
    rng = np.random.default_rng(0)
    big = pd.DataFrame(
        {
            schema.LOAN_ID: pd.array([f"L{i:08d}" for i in range(rows)], dtype="str"),
            schema.DAYS_PAST_DUE: rng.integers(0, 400, rows),
            schema.MONTHLY_INCOME: rng.random(rows),
            schema.LOAN_TYPE: pd.Categorical(rng.choice(list(schema.LOAN_TYPES), rows)),
            schema.LOAN_AMOUNT: rng.random(rows),
            schema.INTEREST_RATE: rng.random(rows),
        }
    )
    start = time.perf_counter()
    data_fingerprint(big)
    assert time.perf_counter() - start < 1.0


def test_saved_metadata_accepts_numpy_values(registry: ModelRegistry) -> None:
    """Gives metadata with numpy scalars/arrays; expects plain JSON numbers back."""
    info = registry.save_version(
        _write_model, _metadata(threshold=np.float64(0.5), counts=np.array([1, 2]))
    )
    meta = registry.open_version(info.version).metadata
    assert meta["threshold"] == 0.5
    assert meta["counts"] == [1, 2]
