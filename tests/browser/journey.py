"""A person carrying a routine through the pages: keyboard input only, a screenshot at every step.

Journeys (``tests/browser/journeys/``) use these instead of Playwright's ``fill``/``check``: each
field is focused by clicking it, as a person does, and everything in it is typed, including the
date picker's own segments. Nothing is set by script, so a value the browser would submit in a
different shape (a ``datetime-local`` without seconds, say) reaches the server as it would in use.

Screenshots go through ``look`` (axe-core scan included) as
``journey-<routine>-<NN>-<what>.png`` in the order the steps were taken.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from playwright.sync_api import Locator, Page

from tests.browser.conftest import look


class Journey:
    """Numbered screenshots for one routine's walk (``journey-<key>-01-start``, ...).

    Walked at a phone's ``width`` (390), the names say so (``journey-<key>-390-01-start``) and every
    step's page must fit the width: nothing may scroll sideways.
    """

    def __init__(self, key: str, width: int | None = None) -> None:
        self.key = key
        self.width = width
        self.steps = 0
        self.names: list[str] = []

    def shot(self, page: Page, what: str) -> None:
        self.steps += 1
        prefix = f"journey-{self.key}-{self.width}" if self.width else f"journey-{self.key}"
        name = f"{prefix}-{self.steps:02d}-{what}"
        self.names.append(name)
        if self.width:
            wide = page.evaluate("() => document.documentElement.scrollWidth")  # reading, not setting
            assert wide <= self.width, f"{name}: the page is {wide} px wide at {self.width} px"
        look(page, name)


def _name(label: str) -> re.Pattern[str]:
    """``label`` exactly, as a field or group is named — with the mark a required one carries."""
    return re.compile(rf"^{re.escape(label)}( \(obligatorisk\))?$")


def fieldset(scope: Page | Locator, name: str) -> Locator:
    """The fieldset ``name`` (a group of fields, or one row of a list: ``"Insatser 2"``)."""
    return scope.get_by_role("group", name=_name(name))


def _field(scope: Page | Locator, label: str, *, exact: bool = False) -> Locator:
    return scope.get_by_label(label, exact=True) if exact else scope.get_by_label(_name(label))


def type_text(page: Page, label: str, text: str, *, within: Locator | None = None, exact: bool = False) -> None:
    """Click the field labelled ``label``, clear what is there and type ``text``.

    ``exact``: only the field named ``label`` itself, not a required one of the same name (whose
    label ends in "(obligatorisk)"), e.g. the optional case reference beside a list's own references.
    """
    field = _field(within or page, label, exact=exact)
    field.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text)


def type_date(page: Page, label: str, day: date, *, within: Locator | None = None) -> None:
    """Type a date into the browser's own date input, segment by segment (Swedish: år-månad-dag)."""
    field = _field(within or page, label)
    _type_segments(page, field, [f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"])


def type_date_time(page: Page, label: str, when: datetime, *, within: Locator | None = None) -> None:
    """Type a date and a time into a ``datetime-local`` input (sv-SE: år-månad-dag tt:mm)."""
    field = _field(within or page, label)
    _type_segments(page, field, [f"{when.year:04d}", f"{when.month:02d}", f"{when.day:02d}",
                                 f"{when.hour:02d}", f"{when.minute:02d}"])


def _type_segments(page: Page, field: Locator, segments: list[str]) -> None:
    # Focus lands on the first segment (the year), as after tabbing into the field. The year takes up
    # to six digits, so a person moves on with the arrow key; the two-digit segments move on by themselves.
    field.focus()
    year, *rest = segments
    page.keyboard.type(year)
    page.keyboard.press("ArrowRight")
    page.keyboard.type("".join(rest))


def pick(page: Page, group: str, option: str, *, within: Locator | None = None) -> None:
    """Choose ``option`` among the radio buttons or checkboxes of the fieldset ``group`` with Space."""
    box = fieldset(within or page, group).get_by_label(option, exact=True)
    box.focus()
    if not box.is_checked():
        page.keyboard.press("Space")


def tick(page: Page, label: str, *, within: Locator | None = None) -> None:
    """Tick the single checkbox labelled ``label`` with Space (untouched if already ticked)."""
    box = _field(within or page, label)
    box.focus()
    if not box.is_checked():
        page.keyboard.press("Space")


def choose(page: Page, label: str, option: str, *, within: Locator | None = None) -> None:
    """Pick ``option`` in the drop-down ``label`` with the keyboard: open it, move to the option, Enter."""
    select = _field(within or page, label)
    options = [text.strip() for text in select.locator("option").all_inner_texts()]
    target = options.index(option)
    select.focus()
    current = select.evaluate("s => s.selectedIndex")  # reading, not setting: where the highlight starts
    key = "ArrowDown" if target > current else "ArrowUp"
    for _ in range(abs(target - current)):
        page.keyboard.press(key)


def press(page: Page, button: str) -> None:
    """Move focus to the button named ``button`` and press Enter."""
    page.get_by_role("button", name=button, exact=True).focus()
    page.keyboard.press("Enter")
