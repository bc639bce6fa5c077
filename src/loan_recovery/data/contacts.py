"""Contact details checked and normalised: email addresses, phone numbers, languages.

Each ``check_*`` function takes a whole column and returns a :class:`CheckedColumn`: the
normalised value of every row (null where the cell is blank or the value unusable) and,
where a value was unusable, why. The work is done once per *distinct* value, and the
common, well-formed shapes are decided on whole columns with Arrow compute:

* **email** (``email-validator``, no DNS lookups, internationalised addresses allowed):
  plain ASCII addresses the library would return unchanged (``name.surname+tag@example.co.in``:
  atext, a lower-case host name, nothing reserved) are kept by one regular expression;
  values that cannot be one address (no ``@``, a list, spaces, over 254 characters) are
  refused the same way; only the rest goes through the library, value by value;
* **phone** (``phonenumbers``, normalised to E.164): numbers already written in E.164 for
  the default region are checked against the library's own number patterns on the whole
  column; other values (national format, spaces, other countries) go through the library;
* **language** (``langcodes``, normalised to a BCP 47 tag): any well-formed tag is kept
  (``ta``, ``mr``, ``pt-BR``, ``hi_in`` -> ``hi-IN``), whether or not reminders exist in
  that language; a malformed value becomes the default language.

The single-value functions (:func:`normalize_email`, :func:`normalize_phone`,
:func:`normalize_language`) give the same answers for one value and raise
:class:`InvalidContactError`; the API's request models use them. No message ever quotes
an email address or a phone number: they are personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

import email_validator
import langcodes
import numpy as np
import numpy.typing as npt
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from phonenumbers import NumberParseException, PhoneNumberFormat

from loan_recovery.data import schema
from loan_recovery.exceptions import LoanRecoveryError

BoolArray = npt.NDArray[np.bool_]

#: Longest email address (RFC 5321, as email-validator counts it).
MAX_EMAIL_LENGTH = 254
#: Longest part before the ``@`` an SMTP server must accept (RFC 5321, 4.5.3.1.1), in
#: octets; email-validator checks it only in strict mode, and a longer one is refused at
#: sending, so validation refuses it first.
MAX_LOCAL_PART_OCTETS = 64
#: Longest text read as a phone number: E.164 has at most 15 digits, so even a number
#: written with spaces, brackets and an extension fits; longer text is not a number.
MAX_PHONE_LENGTH = 64
#: Longest language tag kept (RFC 5646 4.4.1 asks every implementation to take 35).
MAX_LANGUAGE_LENGTH = 35
DEFAULT_REGION = "IN"
DEFAULT_LANGUAGE = schema.DEFAULT_LANGUAGE

_TEXT = pa.large_string()
_NULL_TEXT = pa.scalar(None, _TEXT)

# --- why a value is unusable (never quoting it) ------------------------------------------------
NO_AT_SIGN = "it has no @-sign"
SEVERAL_ADDRESSES = "it holds a comma, a semicolon or a space: give exactly one address"
EMAIL_TOO_LONG = f"it is longer than {MAX_EMAIL_LENGTH} characters"
LOCAL_PART_TOO_LONG = f"the part before the @ is longer than {MAX_LOCAL_PART_OCTETS} octets"
_LONG_LOCAL_PART = rf"^[^@]{{{MAX_LOCAL_PART_OCTETS + 1},}}@"
MALFORMED_EMAIL = "it is not a well-formed address"
NOT_A_NUMBER = "it is not a phone number"
PHONE_TOO_LONG = f"it is longer than {MAX_PHONE_LENGTH} characters"
NOT_A_LANGUAGE = "it is not a BCP 47 language tag"
_PARSE_PROBLEMS: dict[int, str] = {
    NumberParseException.INVALID_COUNTRY_CODE: (
        "its country code is missing or unknown (write it as +<country code> <number>)"
    ),
    NumberParseException.NOT_A_NUMBER: NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short to be a phone number",
    NumberParseException.TOO_SHORT_NSN: "it is too short to be a phone number",
    NumberParseException.TOO_LONG: "it is too long to be a phone number",
}

# --- email: the shapes decided on whole columns ------------------------------------------------
# RFC 5322 atext, exactly as email-validator's DOT_ATOM_TEXT accepts it unchanged.
_ATOM = r"[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"  # every TLD ends with a letter
_PLAIN_EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TOP_LABEL}$"
# The same shape without the 63-character cap on labels: RE2 compiles ``{0,61}`` into 61
# copies, and Arrow compiles a pattern on every call. A plain address is ASCII, so a label
# over 63 characters needs 66 or more in all; only those are checked for one.
_UNBOUNDED_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_UNBOUNDED_TOP_LABEL = r"(?:[A-Za-z0-9][A-Za-z0-9-]*)?[A-Za-z]"
_PLAIN_SHAPE = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_UNBOUNDED_LABEL}\.)+{_UNBOUNDED_TOP_LABEL}$"
_LONG_LABEL = r"@.*[A-Za-z0-9-]{64}"
_SHORTEST_WITH_LONG_LABEL = 66  # "a@" + 64 label characters
_LIST_OR_SPACE = r"[\s,;]"
_QUOTED = re.compile(r"'[^']{2,}'|\"[^\"]{2,}\"")
# What the library changes or refuses in a plain address: capitals in the domain (it
# lower-cases them), Punycode and other labels with "--", reserved domains (test,
# localhost, ...), and mailboxes it lower-cases (postmaster, abuse, ...).
_NOT_AS_GIVEN = r"@.*(?:[A-Z]|--)"
_RESERVED_DOMAIN = (
    r"(?i)[@.](?:"
    + "|".join(re.escape(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
    + r")$"
)
_CASELESS_MAILBOX = (
    r"(?i)^(?:" + "|".join(re.escape(name) for name in CASE_INSENSITIVE_MAILBOX_NAMES) + r")@"
)
#: Any of the three, in one pattern (one Arrow call); ``(?i)`` stays inside its group.
_SPECIAL = "|".join(
    f"(?:{pattern})" for pattern in (_NOT_AS_GIVEN, _RESERVED_DOMAIN, _CASELESS_MAILBOX)
)

# --- language -----------------------------------------------------------------------------------
_TAG_SHAPE = r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$"
_TAG_SHAPE_RE = re.compile(_TAG_SHAPE)


class InvalidContactError(LoanRecoveryError, ValueError):
    """An email address, phone number or language tag that cannot be used as given."""


@dataclass(frozen=True, slots=True)
class CheckedColumn:
    """A column of contact values after checking, one entry per input row.

    ``normalized`` holds the value to use: the normalised address or number, null where
    the cell was blank or the value unusable (for languages: the default language where
    the tag was malformed). ``problems`` is null where the value was fine or blank, else
    says why it was not (never quoting it).
    """

    normalized: pa.ChunkedArray
    problems: pa.ChunkedArray

    @property
    def invalid(self) -> BoolArray:
        """Rows whose value was unusable (blank cells are not invalid)."""
        mask: BoolArray = self.problems.is_valid().to_numpy(zero_copy_only=False)
        return mask


ColumnInput: TypeAlias = "pa.Array | pa.ChunkedArray | pd.Series[Any] | Sequence[str | None]"
_Verdict = tuple[str | None, str | None]


# --- whole columns ------------------------------------------------------------------------------
def check_emails(values: ColumnInput) -> CheckedColumn:
    """Email addresses, normalised as email-validator does (no deliverability check).

    ``Müller.Naidu@Example.COM`` -> ``Müller.Naidu@example.com``; a list (``a@x.in, b@x.in``),
    a display name, a reserved domain or an address over 254 characters is unusable.
    """
    return _by_distinct(_text(values), _decide_emails)


def check_phones(values: ColumnInput, *, default_region: str = DEFAULT_REGION) -> CheckedColumn:
    """Phone numbers as E.164 (``+919876543210``); national ones read in ``default_region``.

    A number is usable when phonenumbers calls it valid: a real length and an assigned
    prefix for its country, so ``98765`` or ``+91 12345`` are not.
    """
    region = default_region.upper()
    return _by_distinct(_text(values), lambda distinct: _decide_phones(distinct, region))


def check_languages(
    values: ColumnInput, *, default_language: str = DEFAULT_LANGUAGE
) -> CheckedColumn:
    """BCP 47 tags (``hi_in`` -> ``hi-IN``, ``TA`` -> ``ta``); malformed -> ``default_language``."""
    return _by_distinct(
        _text(values), lambda distinct: _decide_languages(distinct, default_language)
    )


# --- one value ----------------------------------------------------------------------------------
def normalize_email(value: str) -> str:
    """One email address, normalised; raises :class:`InvalidContactError` when unusable."""
    return _required(_email_verdict(value.strip()), "email address")


def normalize_phone(value: str, *, default_region: str = DEFAULT_REGION) -> str:
    """One phone number as E.164; raises :class:`InvalidContactError` when unusable."""
    return _required(_phone_verdict(value.strip(), default_region.upper()), "phone number")


def normalize_language(value: str) -> str:
    """One language tag, normalised; raises :class:`InvalidContactError` when malformed."""
    return _required(_language_verdict(value.strip()), "language tag")


def _required(verdict: _Verdict, what: str) -> str:
    normalized, problem = verdict
    if normalized is None:
        raise InvalidContactError(f"not a usable {what}: {problem or 'it is blank'}.")
    return normalized


# --- the shared machinery -----------------------------------------------------------------------
def _text(values: ColumnInput) -> pa.ChunkedArray:
    """Values as non-null, trimmed large strings (null and missing cells become blank)."""
    if isinstance(values, pa.ChunkedArray):
        array = values
    elif isinstance(values, pa.Array):
        array = pa.chunked_array([values])
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        array = pa.chunked_array([pa.array(series.astype(object), type=_TEXT, from_pandas=True)])
    if array.type != _TEXT:
        array = pc.cast(array, _TEXT)
    return pc.utf8_trim_whitespace(pc.fill_null(array, "") if array.null_count else array)


def _by_distinct(
    text: pa.ChunkedArray, decide: Callable[[pa.Array], tuple[pa.Array, pa.Array]]
) -> CheckedColumn:
    """Decide each distinct value once, then give every row its value's answer."""
    encoded = pc.dictionary_encode(text.combine_chunks())
    normalized, problems = decide(encoded.dictionary)
    return CheckedColumn(
        pa.chunked_array([normalized.take(encoded.indices)]),
        pa.chunked_array([problems.take(encoded.indices)]),
    )


def _mask(array: pa.Array | pa.ChunkedArray) -> BoolArray:
    if array.null_count:  # an Arrow call only when there is something to fill
        array = pc.fill_null(array, False)
    mask: BoolArray = array.to_numpy(zero_copy_only=False)
    return mask


def _lengths(values: pa.Array) -> npt.NDArray[np.int64]:
    """Characters in each value; zero is a blank (one call serves both questions)."""
    lengths: npt.NDArray[np.int64] = pc.utf8_length(values).to_numpy(zero_copy_only=False)
    return lengths


def _matching(values: pa.Array, rows: npt.NDArray[np.intp], pattern: str) -> BoolArray:
    """Which of ``values`` at ``rows`` match ``pattern``; no Arrow call when none is asked."""
    matched = np.zeros(len(values), dtype=bool)
    if rows.size:
        asked = values if rows.size == len(values) else values.take(pa.array(rows))
        matched[rows] = _mask(pc.match_substring_regex(asked, pattern))
    return matched


def _settle(
    distinct: pa.Array,
    normalized: pa.Array,
    problems: pa.Array,
    slow: BoolArray,
    verdict: Callable[[str], _Verdict],
) -> tuple[pa.Array, pa.Array]:
    """Ask ``verdict`` about the ``slow`` values, one by one, and fill in its answers."""
    if not slow.any():
        return normalized, problems
    answers = [verdict(value) for value in distinct.filter(pa.array(slow)).to_pylist()]
    mask = pa.array(slow)
    normalized = pc.replace_with_mask(
        normalized, mask, pa.array([answer[0] for answer in answers], type=_TEXT)
    )
    problems = pc.replace_with_mask(
        problems, mask, pa.array([answer[1] for answer in answers], type=_TEXT)
    )
    return normalized, problems


def _nulls(length: int) -> pa.Array:
    return pa.nulls(length, type=_TEXT)


def _problems(length: int, labelled: Sequence[tuple[BoolArray, str]]) -> pa.Array:
    """A text array: the first matching label of each value, null where none matches."""
    out = np.full(length, None, dtype=object)
    for mask, label in reversed(labelled):
        out[mask] = label
    return pa.array(out, type=_TEXT)


# --- email --------------------------------------------------------------------------------------
def _decide_emails(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Refuse what cannot be one address, keep plain addresses as they are, ask the rest.

    A plain address (ASCII atext, a lower-case host name of a real top-level domain) comes
    back from the library unchanged; one with capitals in its domain, a reserved domain,
    Punycode, or a mailbox the library lower-cases (``Postmaster@``) is asked about.
    """
    size = len(distinct)
    lengths = _lengths(distinct)
    blank = lengths == 0
    too_long = lengths > MAX_EMAIL_LENGTH
    first_at = pc.find_substring(distinct, "@").to_numpy(zero_copy_only=False)  # in bytes
    no_at = ~blank & (first_at < 0)
    listed = _mask(pc.match_substring_regex(distinct, _LIST_OR_SPACE))
    # over 64 characters before the first @: only where it lies over 64 bytes in
    long_local = _matching(
        distinct, np.flatnonzero(first_at > MAX_LOCAL_PART_OCTETS), _LONG_LOCAL_PART
    )
    refused = ~blank & (too_long | no_at | listed | long_local)
    labelled = [
        (too_long, EMAIL_TOO_LONG),
        (no_at, NO_AT_SIGN),
        (listed, SEVERAL_ADDRESSES),
        (long_local, LOCAL_PART_TOO_LONG),
    ]
    plain = ~refused & _mask(pc.match_substring_regex(distinct, _PLAIN_SHAPE))
    plain &= ~_matching(
        distinct, np.flatnonzero(plain & (lengths >= _SHORTEST_WITH_LONG_LABEL)), _LONG_LABEL
    )
    plain &= ~_matching(distinct, np.flatnonzero(plain), _SPECIAL)
    normalized = pc.if_else(pa.array(plain), distinct, _NULL_TEXT)
    problems = _problems(size, labelled)
    return _settle(distinct, normalized, problems, ~(blank | refused | plain), _email_verdict)


def _email_verdict(value: str) -> _Verdict:
    """email-validator's answer about one value, its message scrubbed of the value."""
    if not value:
        return None, None
    if len(value) > MAX_EMAIL_LENGTH:
        return None, EMAIL_TOO_LONG
    if "@" not in value:
        return None, NO_AT_SIGN
    if re.search(_LIST_OR_SPACE, value):
        return None, SEVERAL_ADDRESSES
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        return None, _scrubbed(str(error), value)
    if len(checked.local_part.encode("utf-8")) > MAX_LOCAL_PART_OCTETS:
        return None, LOCAL_PART_TOO_LONG
    return checked.normalized, None


def _scrubbed(message: str, value: str, run: int = 8) -> str:
    """``message`` starting in lower case, or a generic one where it may quote the value.

    The library's messages name the rule broken and show single characters (``','``),
    but a few (IDNA errors) quote a part of the address: a message quoting more than one
    character, or holding ``run`` characters of the value, is replaced, so an address
    never reaches a report or a log.
    """
    quotes_value = any(value[i : i + run] in message for i in range(len(value) - run + 1))
    if not message or quotes_value or _QUOTED.search(message):
        return MALFORMED_EMAIL
    text = message.rstrip(".")
    return text[0].lower() + text[1:]


# --- phone --------------------------------------------------------------------------------------
_NUMBER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


#: A length rule: which national-number lengths a pattern allows (None: any).
_Lengths = BoolArray | None


@dataclass(frozen=True, slots=True, eq=False)
class _E164Rule:
    """The library's own validity test for E.164 numbers of one region, as regexes.

    ``phonenumbers.is_valid_number`` on ``+<code><national>`` (a code shared by no other
    region, no national prefix to strip) is: the national number has a length and shape
    of the region's numbers, and the length and shape of at least one number type.
    ``kinds`` come most common first (mobile): a number one kind accepts is not asked
    about the others, and each pattern (Arrow compiles it on every call, ~0.2 ms for the
    long ones) is only run when some number is left to ask.
    """

    prefix: str
    national_prefix: str | None
    general: tuple[str, _Lengths]
    kinds: tuple[tuple[str, _Lengths], ...]


def _length_rule(lengths: Sequence[int]) -> _Lengths:
    if not lengths:
        return None
    allowed = np.zeros(max(lengths) + 2, dtype=bool)  # the last entry: anything longer
    allowed[list(lengths)] = True
    return allowed


def _fits(digits: npt.NDArray[np.int64], allowed: _Lengths) -> BoolArray:
    if allowed is None:
        return np.ones(len(digits), dtype=bool)
    fits: BoolArray = allowed[np.minimum(digits, len(allowed) - 1)]
    return fits


@lru_cache(maxsize=32)
def _e164_rule(region: str) -> _E164Rule | None:
    """The rule of ``region``, or None when its numbers need the library one by one."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.country_code is None or metadata.general_desc is None:
        return None
    code = str(metadata.country_code)
    codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    shared = len(codes.get(metadata.country_code, ())) != 1
    ambiguous = any(int(code[:end]) in codes for end in range(1, len(code)))
    general = metadata.general_desc.national_number_pattern
    if shared or ambiguous or not general:
        return None
    kinds = []
    for name in reversed(_NUMBER_TYPES):
        desc = getattr(metadata, name)
        if desc is not None and desc.national_number_pattern:
            kinds.append((desc.national_number_pattern, _length_rule(desc.possible_length)))
    rule = _E164Rule(
        prefix=f"+{code}",
        national_prefix=metadata.national_prefix_for_parsing or None,
        general=(general, _length_rule(metadata.general_desc.possible_length)),
        kinds=tuple(kinds),
    )
    patterns = [_whole(rule.general[0]), *(_whole(pattern) for pattern, _ in rule.kinds)]
    if rule.national_prefix:
        patterns.append(_start(rule.national_prefix))
    probe = pa.array([rule.prefix + "1"], type=_TEXT)
    try:  # Arrow's RE2 must take every pattern; else the region goes the slow way
        for pattern in patterns:
            pc.match_substring_regex(probe, pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return rule


def _whole(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _start(pattern: str) -> str:
    return f"^(?:{pattern})"


def _e164_valid(values: pa.Array, rule: _E164Rule, lengths: npt.NDArray[np.int64]) -> BoolArray:
    """Which ``values`` are valid E.164 numbers of ``rule``'s region (False: not known).

    ``lengths`` are the values' lengths in characters.
    """
    canonical = _mask(pc.match_substring_regex(values, rf"^\{rule.prefix}[1-9][0-9]*$"))
    valid = np.zeros(len(values), dtype=bool)
    rows = np.flatnonzero(canonical)
    if not rows.size:
        return valid
    national = pc.utf8_slice_codeunits(values.take(pa.array(rows)), len(rule.prefix))
    digits = lengths[rows] - len(rule.prefix)
    pattern, allowed = rule.general
    known = _fits(digits, allowed)
    known &= _matching(national, np.flatnonzero(known), _whole(pattern))
    if rule.national_prefix:  # the library would try stripping it: let it
        known &= ~_matching(national, np.flatnonzero(known), _start(rule.national_prefix))
    typed = np.zeros(len(national), dtype=bool)
    for pattern, allowed in rule.kinds:
        ask = np.flatnonzero(known & ~typed & _fits(digits, allowed))
        typed |= _matching(national, ask, _whole(pattern))
    valid[rows] = known & typed
    return valid


def _decide_phones(distinct: pa.Array, region: str) -> tuple[pa.Array, pa.Array]:
    size = len(distinct)
    lengths = _lengths(distinct)
    blank = lengths == 0
    too_long = lengths > MAX_PHONE_LENGTH
    no_digit = ~blank & ~_mask(pc.match_substring_regex(distinct, "[0-9]"))
    refused = too_long | no_digit
    problems = _problems(size, [(too_long, PHONE_TOO_LONG), (no_digit, NOT_A_NUMBER)])
    rule = _e164_rule(region)
    fast = np.zeros(size, dtype=bool)
    if rule is not None:
        fast = _e164_valid(distinct, rule, lengths) & ~refused
    normalized = pc.if_else(pa.array(fast), distinct, _NULL_TEXT)
    return _settle(
        distinct,
        normalized,
        problems,
        ~(blank | refused | fast),
        lambda value: _phone_verdict(value, region),
    )


def _phone_verdict(value: str, region: str) -> _Verdict:
    """phonenumbers' answer about one value: E.164 when valid, else why not."""
    if not value:
        return None, None
    if len(value) > MAX_PHONE_LENGTH:
        return None, PHONE_TOO_LONG
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException as error:
        return None, _PARSE_PROBLEMS.get(error.error_type, NOT_A_NUMBER)
    if not phonenumbers.is_valid_number(number):
        return None, (
            f"it is not a valid number for country code +{number.country_code} "
            "(wrong length or unassigned prefix)"
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), None


# --- language -----------------------------------------------------------------------------------
#: Most parsed tags langcodes may keep between checks: its parse cache has no bound, and
#: a file of a million distinct well-formed tags would otherwise stay in memory for good.
LANGCODES_CACHE_LIMIT = 10_000


def _decide_languages(distinct: pa.Array, default: str) -> tuple[pa.Array, pa.Array]:
    blank = _mask(pc.equal(distinct, ""))
    problems = _nulls(len(distinct))
    decided = _settle(
        distinct,
        _nulls(len(distinct)),
        problems,
        ~blank,
        lambda value: _language_or_default(value, default),
    )
    _bound_langcodes_cache(LANGCODES_CACHE_LIMIT)
    return decided


def _bound_langcodes_cache(limit: int) -> None:
    """Empty langcodes' parse cache once it holds more than ``limit`` tags."""
    cache = getattr(langcodes.Language, "_PARSE_CACHE", None)
    if isinstance(cache, dict) and len(cache) > limit:
        cache.clear()


def _language_or_default(value: str, default: str) -> _Verdict:
    tag, problem = _language_verdict(value)
    return (tag, None) if tag is not None else (default, problem)


def _language_verdict(value: str) -> _Verdict:
    """The normalised BCP 47 tag of a well-formed value, else why it is not one.

    Well-formed: letters for the language (``ta``, ``tam``), then subtags (``pt-BR``,
    ``zh-Hant-TW``; ``_`` read as ``-``); langcodes puts the case right and replaces
    deprecated codes (``iw`` -> ``he``). Names (``Tamil``), digits and private-use tags
    are not tags.
    """
    if not value:
        return None, None
    if len(value) > MAX_LANGUAGE_LENGTH or not _TAG_SHAPE_RE.match(value):
        return None, NOT_A_LANGUAGE
    try:
        tag = langcodes.standardize_tag(value)
    except (ValueError, KeyError):  # langcodes' LanguageTagError is a ValueError
        return None, NOT_A_LANGUAGE
    if len(tag) > MAX_LANGUAGE_LENGTH or not _TAG_SHAPE_RE.match(tag):
        return None, NOT_A_LANGUAGE
    return tag, None
