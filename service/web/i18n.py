"""Language and formatting: Swedish first, English on request (Flask-Babel).

Swedish is the source language: templates and views wrap Swedish text in ``_()``. The English
catalog is ``translations/en/LC_MESSAGES/messages.po``, compiled in memory when the app starts
(no build step, no compiled file in the repository). The language is the user's choice, kept in
the session (``POST /sprak``); dates and times are shown in Europe/Stockholm.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, session
from flask_babel import Babel, Domain, format_date, format_datetime, get_locale

LANGUAGES = {"sv": "Svenska", "en": "English"}
DEFAULT_LANGUAGE = "sv"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


@lru_cache(maxsize=4)
def compile_catalog(language: str) -> Translations:
    """The ``.po`` catalog of ``language`` compiled to a gettext catalog in memory."""
    with open(TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


class CatalogDomain(Domain):  # type: ignore[misc]  # flask_babel ships no type hints
    """A Flask-Babel domain whose catalogs are compiled from the ``.po`` files at start-up."""

    def __init__(self) -> None:
        super().__init__(translation_directories=[str(TRANSLATIONS_DIR)])
        self.catalogs: dict[str, NullTranslations] = {DEFAULT_LANGUAGE: Translations()}
        for language in LANGUAGES:
            if language != DEFAULT_LANGUAGE:
                self.catalogs[language] = compile_catalog(language)

    def get_translations(self) -> NullTranslations:
        return self.catalogs.get(str(get_locale() or DEFAULT_LANGUAGE), self.catalogs[DEFAULT_LANGUAGE])


def select_language() -> str:
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)


def when(moment: datetime | str | None, style: str = "short") -> str:
    """A moment as people read it here: local time, the user's language (``24 nov. 2026 14:05``).

    The one formatter of dates and times on the pages: ISO strings from case data and answers
    (``2026-12-07T08:30:00+01:00``, ``2026-12-07``) as well as datetimes from the database."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str) and len(moment) == 10:  # a date: no time, so no time zone to move it by
        try:
            return str(format_date(date.fromisoformat(moment), "d MMM y"))
        except ValueError:
            return moment
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    pattern = {"short": "d MMM y HH:mm", "date": "d MMM y", "long": "EEEE d MMMM y HH:mm"}.get(style, style)
    return str(format_datetime(moment, pattern))


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm")
    babel = Babel(app, locale_selector=select_language)
    babel.domain_instance = CatalogDomain()  # replaces Flask-Babel's file-loading domain (a cached property)
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals.update(current_language=current_language, LANGUAGES=LANGUAGES)
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


def lazy_text(value: Any) -> str:
    """Plain ``str`` of a possibly lazy translated string (for JSON)."""
    return str(value)
