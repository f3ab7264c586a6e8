"""What the routine journeys share: opening a task from the inbox, and an outsider who must see nothing."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def open_task(page: Page, base_url: str, title: str) -> str:
    """From the inbox, take the lane's task ``title`` (or open it when it is already yours); returns its id."""
    page.goto(f"{base_url}/inkorg")
    take = page.get_by_role("button", name=f"Ta {title}", exact=True)
    if take.count():
        take.focus()
        page.keyboard.press("Enter")
    else:
        page.get_by_role("link", name=title, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title, timeout=30_000)
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def sees_nothing(page: Page, base_url: str, paths: list[str], planted: tuple[str, ...]) -> None:
    """Every page in ``paths`` answers the outsider 404, and none of the planted values is in any of them."""
    for path in paths:
        response = page.goto(f"{base_url}{path}")
        assert response is not None and response.status == 404, (path, response and response.status)
        body = page.content()
        assert not any(value in body for value in planted), path
    page.goto(f"{base_url}/inkorg")
    body = page.content()
    assert not any(value in body for value in planted), "inkorg"


def says(page: Page, text: str) -> None:
    """The page's status message (after a submit, which a loaded machine may take a while to answer) says ``text``."""
    expect(page.get_by_role("status")).to_contain_text(text, timeout=30_000)
