"""Random contact records for the thousand-record tests: each made valid, invalid or
empty by construction (not by asking the code under test).

Email addresses plain, tagged, padded, with an internationalised domain or a non-ASCII
local part, and broken ones (lists like ``a@b, c@d``, display names, spaces, double dots,
missing parts, header injections, very long); phone numbers plain, laid out, and broken
(letters, lists, too many digits); languages known, regional, written with ``_``, and
malformed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

VALID, INVALID, EMPTY = "valid", "invalid", "empty"
DECORATION = "☎ "
WORDS = ("asha", "ravi", "meera", "john", "li", "fatima", "o'neil", "kumar", "rao", "smith")
UNICODE_WORDS = ("müller", "josé", "δοκιμή", "用户", "राम", "søren", "zoë")
DOMAINS = ("example.com", "mail.example.in", "lender.example.org", "sub.mail.example.co.in")


@dataclass(frozen=True)
class Record:
    """One borrower's contact details and what must become of them.

    ``kind`` is what the sending path must make of the address stored as written;
    ``kind_after_import`` what it is once import has read it: the same, except a phone
    number written with a decoration (``☎ 98...``), which the sender refuses as stored
    but phonenumbers reads as a national number, and import stores in E.164.
    """

    channel: str
    address: str | None
    kind: str
    kind_after_import: str


def _pick(
    rng: random.Random, valid: list[str], invalid: list[str], empty: list[str | None]
) -> tuple[str | None, str]:
    """A kind (valid 50%, invalid 40%, empty 10%), then a value of that kind."""
    kind = rng.choices((VALID, INVALID, EMPTY), weights=(50, 40, 10))[0]
    chosen: list[str | None] = {VALID: list(valid), INVALID: list(invalid), EMPTY: empty}[kind]
    return rng.choice(chosen), kind


def _email(rng: random.Random, number: int) -> tuple[str | None, str]:
    word, other = rng.choice(WORDS), rng.choice(WORDS)
    domain = rng.choice(DOMAINS)
    valid = [
        f"{word}.{other}{number}@{domain}",
        f"{word}+reminders{number}@{domain}",
        f"  {word}{number}@{domain.upper()}\t",
        f"{word}{number}@müller-{number}.de",
        f"{rng.choice(UNICODE_WORDS)}.{word}{number}@{domain}",
        f"{'a' * (64 - len(str(number)))}{number}@{domain}",
    ]
    invalid = [
        f"{word}{number}@{other}",
        f"{word}{number}@{domain}, {other}{number}@{domain}",
        f"a@b, c@d{number}",
        f"{word}{number}@{domain};{other}@{domain}",
        f"{word.title()} {other.title()} <{word}{number}@{domain}>",
        f"{word} {other}{number}@{domain}",
        f"{word}..{other}{number}@{domain}",
        f".{word}{number}@{domain}",
        f"{word}{number}.@{domain}",
        f"@{domain}",
        f"{word}{number}@",
        f"{word}{number}.{domain}",
        f"{word}{number}@@{domain}",
        f"{word}{number}@{domain}\r\nBcc: everyone@{domain}",
        f"{word}\t{number}@{domain}",
        f"{word}{number}@exa mple.com",
        f"{'x' * rng.randint(65, 300)}{number}@{domain}",
        f"{word}{number}@{'.'.join(['d' * 50] * 5)}.com",
    ]
    return _pick(rng, valid, invalid, ["", "   ", None])


def _phone(rng: random.Random) -> tuple[str | None, str]:
    digits = "".join(rng.choice("0123456789") for _ in range(8))
    valid = [
        f"+9198{digits}",
        f"+91 98{digits[:3]} {digits[3:]}",
        f"(+91) 98{digits[:4]}-{digits[4:]}",
    ]
    invalid = [
        f"98abc{digits}",
        f"+9198{digits}, +9197{digits}",
        "1" * rng.randint(16, 40),
        "+",
        f"{DECORATION}98{digits}",
        f"+9198{digits}@example.com",
    ]
    return _pick(rng, valid, invalid, ["", " ", None])


def _after_import(channel: str, address: str | None, kind: str) -> str:
    decorated = channel == "sms" and address is not None and address.startswith(DECORATION)
    return VALID if decorated else kind


def random_records(count: int, seed: int) -> dict[str, Record]:
    """``count`` records by borrower id, about 70% email and 30% SMS."""
    rng = random.Random(seed)
    records: dict[str, Record] = {}
    for number in range(count):
        if rng.random() < 0.7:
            address, kind = _email(rng, number)
            records[f"B{number:04d}"] = Record("email", address, kind, kind)
        else:
            address, kind = _phone(rng)
            after = _after_import("sms", address, kind)
            records[f"B{number:04d}"] = Record("sms", address, kind, after)
    return records


LANGUAGES = ("en", "hi", "ta", "mr", "hi_IN", "pt-BR", "xx-!!", "", "english please")


def random_languages(count: int, seed: int) -> list[str]:
    """``count`` Preferred_Language cells: known, regional, odd spellings, malformed."""
    rng = random.Random(seed)
    return [rng.choice(LANGUAGES) for _ in range(count)]
