"""Contact normalisers: known answers, whole columns, the fast paths against the libraries."""

from __future__ import annotations

import random
from typing import Any

import langcodes
import pandas as pd
import phonenumbers
import pyarrow as pa
import pytest
from email_validator import EmailNotValidError, validate_email

from loan_recovery.config import load_settings
from loan_recovery.data import contacts
from loan_recovery.data.contacts import (
    LANGCODES_CACHE_LIMIT,
    MAX_EMAIL_LENGTH,
    InvalidContactError,
    check_emails,
    check_languages,
    check_phones,
    normalize_email,
    normalize_language,
    normalize_phone,
)
from loan_recovery.exceptions import ConfigError, LoanRecoveryError

LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".com"  # 259 characters


# --- email ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("asha.rao@example.com", "asha.rao@example.com"),
        ("  asha.rao@example.com ", "asha.rao@example.com"),
        ("Asha.Rao+loans@Example.CO.IN", "Asha.Rao+loans@example.co.in"),
        ("müller.naidu@example.com", "müller.naidu@example.com"),
        ("Müller.Naidu@Example.COM", "Müller.Naidu@example.com"),
        ("ravi@müller.de", "ravi@müller.de"),
        ("ravi@xn--mller-kva.de", "ravi@müller.de"),
        ("Postmaster@example.com", "postmaster@example.com"),
        ("o'neil_x-y@mail.example.org", "o'neil_x-y@mail.example.org"),
    ],
)
def test_usable_emails_are_normalised_as_the_library_does(given: str, expected: str) -> None:
    """Gives usable addresses (ASCII, internationalised, odd case); expects the normal form
    from both the column and the one-value function."""
    assert check_emails([given]).normalized.to_pylist() == [expected]
    assert normalize_email(given) == expected


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("not-an-email", "no @-sign"),
        ("a@b, c@d", "comma"),
        ("asha@example.com, ravi@example.com", "comma"),
        ("asha@example.com;ravi@example.com", "semicolon"),
        ("Asha Rao <asha@example.com>", "space"),
        (LONG_EMAIL, f"longer than {MAX_EMAIL_LENGTH}"),
        ("asha@localhost", "period"),
        ("asha@mail.test", "special-use"),
        ("asha..rao@example.com", "two periods"),
        ("asha@", "after the @-sign"),
        ("@example.com", "before the @-sign"),
        ("asha@exa_mple.com", "invalid characters"),
        ("a" * 65 + "@example.com", "before the @ is longer than 64 octets"),
        ("ü" * 33 + "@example.com", "before the @ is longer than 64 octets"),  # 66 octets
    ],
)
def test_unusable_emails_say_why_without_quoting_the_address(given: str, why: str) -> None:
    """Gives unusable addresses; expects no normal form, a reason naming the rule broken,
    the address never in it, and InvalidContactError (a ValueError) for one value."""
    checked = check_emails([given])
    assert checked.normalized.to_pylist() == [None]
    assert checked.invalid.tolist() == [True]
    (problem,) = checked.problems.to_pylist()
    assert why in problem
    local = given.split("@")[0]
    assert given not in problem
    assert len(local) < 4 or local not in problem
    with pytest.raises(InvalidContactError, match="not a usable email address") as raised:
        normalize_email(given)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, LoanRecoveryError)


def test_blank_emails_are_neither_usable_nor_invalid() -> None:
    """Gives empty, blank and missing cells; expects nulls and no problem."""
    checked = check_emails(["", "   ", None])
    assert checked.normalized.to_pylist() == [None, None, None]
    assert checked.problems.to_pylist() == [None, None, None]
    assert not checked.invalid.any()
    with pytest.raises(InvalidContactError, match="blank"):
        normalize_email(" ")


# --- phone ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "region", "expected"),
    [
        ("+919876543210", "IN", "+919876543210"),
        ("+91 98765 43210", "IN", "+919876543210"),
        ("+91-98765-43210", "IN", "+919876543210"),
        ("098765 43210", "IN", "+919876543210"),
        ("9876543210", "IN", "+919876543210"),
        ("919876543210", "IN", "+919876543210"),
        ("011 2345 6789", "IN", "+911123456789"),  # Delhi landline
        ("+1 650-253-0000", "IN", "+16502530000"),
        ("+44 20 7946 0958", "IN", "+442079460958"),
        ("+65 6123 4567", "IN", "+6561234567"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_usable_phones_become_e164(given: str, region: str, expected: str) -> None:
    """Gives Indian numbers in every usual spelling and international ones; expects E.164,
    national numbers read in the default region."""
    assert check_phones([given], default_region=region).normalized.to_pylist() == [expected]
    assert normalize_phone(given, default_region=region) == expected


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("98765", "not a valid number for country code +91"),
        ("+91 12345", "not a valid number for country code +91"),
        ("+9199900000", "not a valid number for country code +91"),
        ("+999 1234 5678", "country code"),
        ("call me", "not a phone number"),
        ("1" * 70, "longer than 64"),
        ("+91", "not a phone number"),
    ],
)
def test_unusable_phones_say_why_without_quoting_the_number(given: str, why: str) -> None:
    """Gives unusable numbers; expects no E.164, a reason, and never the number in it."""
    checked = check_phones([given])
    assert checked.normalized.to_pylist() == [None]
    (problem,) = checked.problems.to_pylist()
    assert why in problem
    assert given not in problem
    with pytest.raises(InvalidContactError, match="not a usable phone number"):
        normalize_phone(given)


# --- language ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "en"),
        ("hi", "hi"),
        ("ta", "ta"),
        ("mr", "mr"),
        ("pt-BR", "pt-BR"),
        ("pt_br", "pt-BR"),
        ("EN", "en"),
        ("hi-in", "hi-IN"),
        ("tam", "ta"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("iw", "he"),
    ],
)
def test_well_formed_languages_are_kept_as_bcp47(given: str, expected: str) -> None:
    """Gives tags with or without templates, in any case and separator; expects BCP 47."""
    checked = check_languages([given])
    assert checked.normalized.to_pylist() == [expected]
    assert not checked.invalid.any()
    assert normalize_language(given) == expected


@pytest.mark.parametrize("given", ["english", "Tamil", "123", "x-klingon", "e", "en--US", "a" * 40])
def test_malformed_languages_become_the_default(given: str) -> None:
    """Gives names, digits, private-use and broken tags; expects the default language with
    a problem, and InvalidContactError for one value."""
    checked = check_languages([given], default_language="hi")
    assert checked.normalized.to_pylist() == ["hi"]
    assert checked.problems.to_pylist() == ["it is not a BCP 47 language tag"]
    with pytest.raises(InvalidContactError, match="not a usable language tag"):
        normalize_language(given)


def test_blank_language_stays_blank() -> None:
    """Gives a blank language; expects null (the reminder code falls back), no problem."""
    checked = check_languages(["", None])
    assert checked.normalized.to_pylist() == [None, None]
    assert not checked.invalid.any()


# --- whole columns ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "wrap",
    [
        list,
        lambda values: pa.array(values, type=pa.string()),
        lambda values: pa.chunked_array([values[:2], values[2:]], type=pa.large_string()),
        lambda values: pd.Series(values, dtype=object),
    ],
    ids=["list", "array", "chunked", "series"],
)
def test_columns_of_any_form_keep_row_order(wrap: Any) -> None:
    """Gives the same column as a list, Arrow arrays and a Series (None/NaN blanks); expects
    one answer per row, in order, equal values answered alike."""
    values = ["Asha@Example.com", None, "bad", "Asha@Example.com", ""]
    checked = check_emails(wrap(values))
    assert checked.normalized.to_pylist() == [
        "Asha@example.com",
        None,
        None,
        "Asha@example.com",
        None,
    ]
    assert checked.invalid.tolist() == [False, False, True, False, False]


def test_the_libraries_are_asked_once_per_distinct_unusual_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gives 3,000 rows: plain addresses and E.164 numbers, and three distinct unusual
    values repeated; expects no library call for the plain ones, one per unusual value."""
    asked: list[str] = []

    def counting_email(value: str, **options: Any) -> Any:
        asked.append(value)
        return validate_email(value, **options)

    parse = phonenumbers.parse

    def counting_parse(value: str, region: str) -> Any:
        asked.append(value)
        return parse(value, region)

    monkeypatch.setattr(contacts, "validate_email", counting_email)
    monkeypatch.setattr(contacts.phonenumbers, "parse", counting_parse)
    plain = [f"user{i}@example.com" for i in range(1_000)]
    unusual = ["Ünal@example.com", "a..b@example.com", "UPPER@EXAMPLE.COM"] * 333
    assert check_emails([*plain, *unusual, "x"]).invalid.sum() == 334
    assert sorted(asked) == sorted(set(unusual))
    asked.clear()
    numbers = [f"+9198{i:08d}" for i in range(1_000)]
    national = ["098765 43210", "98765", "+1 650 253 0000"] * 333
    assert check_phones([*numbers, *national]).invalid.sum() == 333
    assert sorted(asked) == sorted(set(national))


# --- the fast paths give exactly the libraries' answers ----------------------------------------
def _library_email(value: str) -> str | None:
    """email-validator's normal form, and RFC 5321's 64 octets before the @ (which the
    library checks only in strict mode, and an SMTP server need not accept beyond)."""
    if not value.strip():
        return None
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return None if len(checked.local_part.encode("utf-8")) > 64 else checked.normalized


def _library_phone(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_email_column_agrees_with_email_validator_on_random_addresses() -> None:
    """Gives 4,000 random addresses built from tricky parts (case, dots, hyphens, Punycode,
    reserved domains, lists, long labels); expects exactly email-validator's normal forms."""
    rng = random.Random(7)
    locals_ = ["ravi", "Ravi.Kumar", "a..b", ".a", "a.", "postmaster", "Abuse", "a+b", "o'n"]
    locals_ += ["a_b", "a" * 70, "müller", "a b", "x`y", "é"]
    domains = ["gmail.com", "Example.CO.IN", "x--y.com", "xn--mller-kva.de", "mail.test"]
    domains += ["localhost", "a.b", "a.1", "-a.com", "a-.com", "b" * 63 + ".com", "b" * 64 + ".in"]
    alphabet = "abXY09._+-@!#'`~ ,;\"<>é"
    values = []
    for _ in range(4_000):
        if rng.random() < 0.6:
            values.append(f"{rng.choice(locals_)}@{rng.choice(domains)}")
        else:
            values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))
    got = check_emails(values).normalized.to_pylist()
    assert got == [_library_email(value) for value in values]


@pytest.mark.parametrize("region", ["IN", "US", "GB", "DE"])
def test_phone_column_agrees_with_phonenumbers_on_random_numbers(region: str) -> None:
    """Gives 4,000 random digit strings, with and without a country code; expects exactly
    phonenumbers' E.164 (or nothing) in each default region."""
    rng = random.Random(11)
    prefixes = ["+91", "+91", "+1", "+44", "+49", "+9", "+", "", "0"]
    values = [
        rng.choice(prefixes) + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 14)))
        for _ in range(4_000)
    ]
    got = check_phones(values, default_region=region).normalized.to_pylist()
    assert got == [_library_phone(value, region) for value in values]


# --- settings -----------------------------------------------------------------------------------
def test_contact_settings_default_to_india_and_english_and_normalise() -> None:
    """Gives no settings, then lower-case values; expects IN/en, then US and pt-BR."""
    assert (load_settings().contacts.default_region, load_settings().contacts.default_language) == (
        "IN",
        "en",
    )
    custom = load_settings(contacts={"default_region": "us", "default_language": "pt_br"})
    assert (custom.contacts.default_region, custom.contacts.default_language) == ("US", "pt-BR")


@pytest.mark.parametrize(
    ("field", "value"), [("default_region", "XX"), ("default_language", "english")]
)
def test_contact_settings_refuse_unknown_regions_and_malformed_languages(
    field: str, value: str
) -> None:
    """Gives an unknown region and a language name; expects a ConfigError naming the field."""
    with pytest.raises(ConfigError, match=f"contacts.{field}"):
        load_settings(contacts={field: value})


def test_normal_forms_are_fixed_points() -> None:
    """Gives normal forms back to the normalisers (as re-validating a written table does);
    expects each unchanged and usable."""
    emails = ["Asha.Rao+loans@example.co.in", "Müller.Naidu@example.com", "ravi@müller.de"]
    phones = ["+919876543210", "+16502530000", "+442079460958"]
    languages = ["ta", "pt-BR", "zh-Hant-TW", "hi-IN"]
    assert check_emails(emails).normalized.to_pylist() == emails
    assert check_phones(phones).normalized.to_pylist() == phones
    assert check_languages(languages).normalized.to_pylist() == languages


def test_many_distinct_languages_do_not_grow_langcodes_cache_without_bound() -> None:
    """Gives 12,000 distinct well-formed tags (Tamil with a variant); expects each kept and
    langcodes' parse cache no larger than the bound afterwards."""
    tags = [f"ta-{chr(97 + number % 26)}{number:05d}" for number in range(12_000)]
    checked = check_languages(tags)
    assert checked.normalized.to_pylist() == tags
    assert len(tags) > LANGCODES_CACHE_LIMIT
    assert len(langcodes.Language._PARSE_CACHE) <= LANGCODES_CACHE_LIMIT
