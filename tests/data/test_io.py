"""Reading and writing tables, and column mappings: formats, errors and line numbers."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loan_recovery.data import schema
from loan_recovery.data.io import (
    SUPPORTED_SUFFIXES,
    load_mapping,
    read_raw_table,
    table_stem,
    write_table,
)
from loan_recovery.exceptions import DataFileError, MappingError, UnsupportedFormatError

CSV_TEXT = f"{schema.LOAN_ID},{schema.AGE},Notes\nL1, 007 ,nan\nL2,,\n"


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` and return the path."""
    path.write_text(text, encoding="utf-8")
    return path


# --- reading ------------------------------------------------------------------------------
def test_csv_values_stay_text_exactly_as_written(tmp_path: Path) -> None:
    """Gives padded numbers, "nan" and blanks; expects the same text back, blanks as ""."""
    frame = read_raw_table(write_text(tmp_path / "loans.csv", CSV_TEXT))
    assert frame[schema.AGE].tolist() == [" 007 ", ""]
    assert frame["Notes"].tolist() == ["nan", ""]
    assert not frame.isna().any().any()
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in frame.dtypes)


def test_rows_carry_their_source_line(tmp_path: Path) -> None:
    """Gives rows around blank lines; expects header = line 1 and blank lines counted."""
    text = f"{schema.LOAN_ID},{schema.AGE}\nL1,30\n\nL2,40\n\n\nL3,50\n"
    frame = read_raw_table(write_text(tmp_path / "gaps.csv", text))
    assert frame.index.name == schema.SOURCE_LINE
    assert frame.index.tolist() == [2, 4, 7]
    assert frame[schema.LOAN_ID].tolist() == ["L1", "L2", "L3"]


def test_gzipped_csv_is_read(tmp_path: Path) -> None:
    """Gives a .csv.gz file; expects the same frame as the plain CSV."""
    path = tmp_path / "loans.csv.gz"
    path.write_bytes(gzip.compress(CSV_TEXT.encode()))
    plain = read_raw_table(write_text(tmp_path / "loans.csv", CSV_TEXT))
    pd.testing.assert_frame_equal(read_raw_table(path), plain)


def test_header_names_are_trimmed(tmp_path: Path) -> None:
    """Gives a header with padded names; expects trimmed column names."""
    frame = read_raw_table(write_text(tmp_path / "pad.csv", f" {schema.LOAN_ID} ,Age \nL1,30\n"))
    assert list(frame.columns) == [schema.LOAN_ID, schema.AGE]


def test_parquet_keeps_typed_values_and_lines(tmp_path: Path) -> None:
    """Gives a typed Parquet file; expects the typed values and lines starting at 2."""
    typed = pd.DataFrame({schema.LOAN_ID: ["L1", "L2"], schema.AGE: [30, 41]})
    frame = read_raw_table(write_table(typed, tmp_path / "loans.pq"))
    assert frame[schema.AGE].tolist() == [30, 41]
    assert frame[schema.AGE].dtype == np.int64
    assert frame.index.tolist() == [2, 3]
    assert frame.index.name == schema.SOURCE_LINE


@pytest.mark.parametrize("name", ["loans.txt", "loans.xls", "loans"])
def test_unsupported_suffix_is_refused(tmp_path: Path, name: str) -> None:
    """Gives a file of another type; expects UnsupportedFormatError naming what is supported."""
    path = write_text(tmp_path / name, CSV_TEXT)
    with pytest.raises(UnsupportedFormatError) as caught:
        read_raw_table(path)
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in str(caught.value)
    if "." in name:
        assert name[name.index(".") :] in str(caught.value)


def test_missing_file_is_a_data_file_error(tmp_path: Path) -> None:
    """Gives a path that does not exist; expects DataFileError saying "not found"."""
    with pytest.raises(DataFileError, match="not found"):
        read_raw_table(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        (f"{schema.LOAN_ID},{schema.AGE}\n", "no data rows"),
        (f"{schema.LOAN_ID},{schema.AGE}\n\n,\n", "no data rows"),
        (f"{schema.LOAN_ID},{schema.LOAN_ID}\nL1,L2\n", "repeats column"),
        (f"{schema.LOAN_ID},{schema.AGE}\nL1,30,extra\n", "cannot read CSV"),
    ],
)
def test_unusable_csv_is_a_data_file_error(tmp_path: Path, text: str, fragment: str) -> None:
    """Gives empty, header-only, repeated-header and ragged files; expects a clear message."""
    with pytest.raises(DataFileError, match=fragment):
        read_raw_table(write_text(tmp_path / "bad.csv", text))


def test_non_utf8_csv_is_a_data_file_error(tmp_path: Path) -> None:
    """Gives a Latin-1 header; expects DataFileError rather than a decoding traceback."""
    path = tmp_path / "latin.csv"
    path.write_bytes("Nom_Emprunteur\u00e9\nx\n".encode("latin-1"))
    with pytest.raises(DataFileError, match="UTF-8"):
        read_raw_table(path)


def test_corrupt_parquet_is_a_data_file_error(tmp_path: Path) -> None:
    """Gives a .parquet file holding CSV text; expects DataFileError."""
    with pytest.raises(DataFileError, match="Parquet"):
        read_raw_table(write_text(tmp_path / "fake.parquet", CSV_TEXT))


# --- mapping ------------------------------------------------------------------------------
def test_mapping_renames_and_keeps_extra_columns(tmp_path: Path) -> None:
    """Gives lender names and an unmapped column; expects canonical names, extra untouched."""
    path = write_text(tmp_path / "lender.csv", "loan ref,age_years,Branch\nL1,30,North\n")
    mapping = {"loan ref": schema.LOAN_ID, "age_years": schema.AGE, "not there": schema.GENDER}
    frame = read_raw_table(path, mapping)
    assert list(frame.columns) == [schema.LOAN_ID, schema.AGE, "Branch"]
    assert frame["Branch"].tolist() == ["North"]


def test_mapping_onto_an_existing_column_is_refused(tmp_path: Path) -> None:
    """Gives a rename onto a column the file keeps; expects MappingError naming it."""
    path = write_text(tmp_path / "both.csv", f"age_years,{schema.AGE}\n30,31\n")
    with pytest.raises(MappingError, match=schema.AGE):
        read_raw_table(path, {"age_years": schema.AGE})


def test_swapping_two_columns_is_allowed(tmp_path: Path) -> None:
    """Gives a mapping that swaps two names; expects both renamed, no data lost."""
    path = write_text(tmp_path / "swap.csv", f"{schema.AGE},{schema.LOAN_ID}\nL1,30\n")
    frame = read_raw_table(path, {schema.AGE: schema.LOAN_ID, schema.LOAN_ID: schema.AGE})
    assert frame[schema.AGE].tolist() == ["30"]


def test_two_sources_onto_one_target_are_refused(tmp_path: Path) -> None:
    """Gives two lender names for Age; expects MappingError naming both sources."""
    path = write_text(tmp_path / "two.csv", "a,b\n1,2\n")
    with pytest.raises(MappingError, match="a, b -> Age"):
        read_raw_table(path, {"a": schema.AGE, "b": schema.AGE})


def test_load_mapping_reads_the_columns_table(tmp_path: Path) -> None:
    """Gives a valid TOML mapping; expects the lender -> canonical dict."""
    text = f'[columns]\n"Customer Age" = "{schema.AGE}"\nloan_amt = "{schema.LOAN_AMOUNT}"\n'
    mapping = load_mapping(write_text(tmp_path / "map.toml", text))
    assert mapping == {"Customer Age": schema.AGE, "loan_amt": schema.LOAN_AMOUNT}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[columns]\nx = "Agee"\ny = "Loan_Amt"\n', "Agee, Loan_Amt"),
        ('[column]\nx = "Age"\n', r"\[columns\]"),
        ('x = "Age"\n', r"\[columns\]"),
        ("[columns]\nx = 3\n", "must be text"),
        ("[columns\n", "not valid TOML"),
        ('[columns]\nx = "Age"\ny = "Age"\n', "x, y -> Age"),
    ],
)
def test_bad_mapping_files_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    """Gives unknown targets, a wrong table, a non-text target, bad TOML and a shared target."""
    with pytest.raises(MappingError, match=fragment):
        load_mapping(write_text(tmp_path / "map.toml", text))


def test_missing_mapping_file_is_refused(tmp_path: Path) -> None:
    """Gives a mapping path that does not exist; expects MappingError saying "not found"."""
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "absent.toml")


# --- writing ------------------------------------------------------------------------------
def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LOAN_ID: pd.array(["L1", "L2"], dtype="str"),
            schema.LOAN_AMOUNT: [100000.0, 8884.878867],
            schema.GENDER: pd.Categorical(["Male", None], categories=schema.GENDERS),
            schema.AS_OF_DATE: pd.to_datetime(["2026-06-30", "NaT"]),
        },
        index=pd.RangeIndex(2, 4, name=schema.SOURCE_LINE),
    )


def test_csv_output_is_deterministic_and_plain(tmp_path: Path) -> None:
    """Gives the same typed frame twice; expects identical bytes, dates as YYYY-MM-DD."""
    first = write_table(_typed_frame(), tmp_path / "a" / "one.csv")
    second = write_table(_typed_frame(), tmp_path / "two.csv")
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text().splitlines()
    assert schema.SOURCE_LINE not in lines[0]
    assert lines[1].split(",") == ['"L1"', "100000", '"Male"', "2026-06-30"]
    assert lines[2].split(",") == ['"L2"', "8884.878867", "", ""]


def test_mixed_object_columns_are_written_as_text(tmp_path: Path) -> None:
    """Gives an object column mixing numbers and text; expects it written, not an error."""
    frame = pd.DataFrame({schema.AGE: pd.array([30, "forty", None], dtype=object)})
    path = write_table(frame, tmp_path / "mixed.parquet")
    assert read_raw_table(path)[schema.AGE].tolist()[:2] == ["30", "forty"]


def test_write_to_unsupported_suffix_is_refused(tmp_path: Path) -> None:
    """Gives a .json target; expects UnsupportedFormatError and no file."""
    with pytest.raises(UnsupportedFormatError):
        write_table(_typed_frame(), tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_unwritable_target_is_a_data_file_error(tmp_path: Path) -> None:
    """Gives a target whose parent is a file; expects DataFileError."""
    blocker = write_text(tmp_path / "blocker", "")
    with pytest.raises(DataFileError, match="cannot write"):
        write_table(_typed_frame(), blocker / "out.csv")


def test_table_stem_strips_known_suffixes() -> None:
    """Gives names with table suffixes; expects the bare stem."""
    assert table_stem("x/loans.csv.gz") == "loans"
    assert table_stem("LOANS.CSV") == "LOANS"
    assert table_stem("loans.v2.parquet") == "loans.v2"
