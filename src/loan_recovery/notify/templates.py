"""Reminder templates: Jinja2 files per channel and language, shipped in the package.

Layout: ``templates/<channel>/<language>/<template>.txt.j2`` holds the body and, for
email, ``<template>.subject.j2`` the subject line. ``notify.template_dir`` may hold files
of the same layout that replace the packaged ones.

Rendering is strict (:class:`jinja2.StrictUndefined`): a template that names a variable
the message does not carry raises :class:`TemplateRenderError` instead of printing a
blank. :func:`check_templates` renders every template once with a sample message, so a
broken template stops a run before anything is sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import jinja2

from loan_recovery.data import schema
from loan_recovery.money import MoneyFormat
from loan_recovery.notify.errors import TemplateRenderError
from loan_recovery.store.models import Channel

#: The packaged reminder template.
REMINDER_TEMPLATE = "reminder"
#: Language of a borrower without a (known) preferred language.
DEFAULT_LANGUAGE = "en"

_MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "hi": (
        "जनवरी",
        "फ़रवरी",
        "मार्च",
        "अप्रैल",
        "मई",
        "जून",
        "जुलाई",
        "अगस्त",
        "सितंबर",
        "अक्टूबर",
        "नवंबर",
        "दिसंबर",
    ),
}


@dataclass(frozen=True, slots=True)
class MessageVariables:
    """Everything a reminder template may use, already formatted for its language."""

    borrower_name: str
    amount_due: str
    due_date: str
    loan_reference: str
    payment_reference: str
    lender_name: str


#: Names a template may use; anything else is an error.
TEMPLATE_VARIABLES: tuple[str, ...] = tuple(MessageVariables.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A rendered reminder: the subject (email only) and the body."""

    subject: str | None
    body: str


def reminder_amount(amount: float, money: MoneyFormat) -> str:
    """The amount due as a reminder states it: exact, in the currency's minor units
    (``₹1,23,456.50``), never rounded to crores or lakhs whatever the screens show."""
    return money.amount(amount, decimals=None, exact=True)


def format_date(day: date, language: str) -> str:
    """``day`` spelled for ``language`` without the process locale: ``5 March 2026``."""
    months = _MONTHS.get(language, _MONTHS[DEFAULT_LANGUAGE])
    return f"{day.day} {months[day.month - 1]} {day.year}"


def message_language(language: str | None) -> str:
    """The template language of a borrower: theirs (or its main subtag: ``hi-IN`` gets
    Hindi) when a template exists, else English."""
    if not isinstance(language, str) or not language:
        return DEFAULT_LANGUAGE
    if language in schema.LANGUAGES:
        return language
    primary = language.split("-", 1)[0].lower()
    return primary if primary in schema.LANGUAGES else DEFAULT_LANGUAGE


def is_language_fallback(language: str | None) -> bool:
    """True when the borrower asked for a language we have no template for."""
    if not isinstance(language, str) or not language:
        return False
    return message_language(language) == DEFAULT_LANGUAGE and (
        language.split("-", 1)[0].lower() != DEFAULT_LANGUAGE
    )


class TemplateRenderer:
    """Loads and renders reminder templates (packaged, or overridden from a folder)."""

    def __init__(self, template_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if template_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders.append(jinja2.PackageLoader("loan_recovery.notify", "templates"))
        self.template_dir = template_dir
        #: (channel, language, template) combinations :func:`check_templates` has passed.
        self.checked: set[tuple[str, str, str]] = set()
        self._environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain text: SMS and text/plain email
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self,
        *,
        channel: str,
        language: str,
        variables: MessageVariables | dict[str, str],
        template: str = REMINDER_TEMPLATE,
    ) -> RenderedMessage:
        """The message of ``template`` for ``channel`` and ``language``.

        Raises :class:`TemplateRenderError` naming the template and the problem: a
        missing file, a syntax error, or a variable the message does not carry.
        """
        values = asdict(variables) if isinstance(variables, MessageVariables) else variables
        folder = f"{channel}/{message_language(language)}"
        subject = None
        if channel == Channel.EMAIL:
            subject = self._render(f"{folder}/{template}.subject.j2", values)
            subject = " ".join(subject.split())  # one header line
        body = self._render(f"{folder}/{template}.txt.j2", values).strip()
        return RenderedMessage(subject=subject, body=body)

    def _render(self, name: str, values: dict[str, str]) -> str:
        try:
            return self._environment.get_template(name).render(values)
        except jinja2.TemplateNotFound:
            raise TemplateRenderError(
                f"no template {name} (packaged or in template_dir)."
            ) from None
        except jinja2.UndefinedError as error:
            raise TemplateRenderError(
                f"template {name} uses a variable the message does not have: {error.message}; "
                f"available: {', '.join(sorted(values))}."
            ) from None
        except jinja2.TemplateError as error:
            raise TemplateRenderError(f"template {name} cannot be rendered: {error}") from None


def sample_variables(language: str) -> MessageVariables:
    """A complete made-up message, for checking templates (no real borrower)."""
    return MessageVariables(
        borrower_name="Sample Borrower",
        amount_due=reminder_amount(12_345.5, MoneyFormat()),
        due_date=format_date(date(2026, 1, 5), language),
        loan_reference="LN-SAMPLE",
        payment_reference="LN-SAMPLE-20260105",
        lender_name="Sample Lender",
    )


def check_templates(
    renderer: TemplateRenderer,
    *,
    channels: tuple[str, ...] = tuple(Channel),
    languages: tuple[str, ...] = schema.LANGUAGES,
    template: str = REMINDER_TEMPLATE,
) -> None:
    """Render every channel and language once; raise :class:`TemplateRenderError` if any fails.

    Called before a run sends anything, so a template that names a variable no message
    has stops the run with nothing sent.
    """
    for channel in channels:
        for language in languages:
            if (channel, language, template) in renderer.checked:
                continue
            renderer.render(
                channel=channel,
                language=language,
                variables=sample_variables(language),
                template=template,
            )
            renderer.checked.add((channel, language, template))
