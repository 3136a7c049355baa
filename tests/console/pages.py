"""What the browser tests do to the console: log in, wait for elements, read the browser log,
walk the page with the keyboard. Waiting is always WebDriverWait on a condition, never a sleep."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.console.browser import ADMIN_TOKEN, CP_TOKEN, TENANT, Served

WAIT_S = 15.0
# Everything a keyboard user can reach with Tab.
FOCUSABLE = (
    "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), "
    "select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])"
)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = WAIT_S) -> Any:
    # A live refresh may replace an element between finding and reading it: look again.
    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def css(driver: WebDriver | WebElement, selector: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, selector)


def visible(driver: WebDriver, selector: str) -> WebElement:
    def found(d: WebDriver) -> WebElement | bool:
        elements = [e for e in d.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]
        return elements[0] if elements else False

    element: WebElement = wait(driver, found)
    return element


def gone(driver: WebDriver, selector: str) -> None:
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, selector))


def open_console(driver: WebDriver, served: Served, page: str = "") -> None:
    driver.get(served.console_url + (f"#{page}" if page else ""))


def login(driver: WebDriver, served: Served, *, admin: bool = True, page: str = "") -> None:
    open_console(driver, served, page)
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    visible(driver, "#login-tenant").clear()
    css(driver, "#login-tenant").send_keys(TENANT)
    css(driver, "#login-cp-token").send_keys(CP_TOKEN)
    if admin:
        css(driver, "#login-admin-token").send_keys(ADMIN_TOKEN)
    css(driver, "#login-submit").click()
    visible(driver, "#nav")
    wait(driver, lambda d: css(d, "#live-state").text == "live")


def go(driver: WebDriver, page: str) -> None:
    driver.execute_script("location.hash = arguments[0]", page)


def active(driver: WebDriver) -> WebElement:
    element: WebElement = driver.switch_to.active_element
    return element


def describe(element: WebElement) -> str:
    return str(
        element.get_attribute("id")
        or element.get_attribute("href")
        or element.get_attribute("data-action")
        or f"{element.tag_name}:{element.text[:30]}"
    )


def tab_order(driver: WebDriver, limit: int = 400) -> list[tuple[WebElement, bool]]:
    """Every element Tab reaches from the top of the page, in order, each with whether its
    focus was visible when Tab reached it (until focus leaves the page or comes round)."""
    # A fresh load starts sequential focus at the top of the document.
    driver.refresh()
    visible(driver, "main h1")
    ActionChains(driver).send_keys(Keys.TAB).perform()
    seen: list[tuple[WebElement, bool]] = []
    for _ in range(limit):
        element = active(driver)
        if element.tag_name == "body" or (seen and element == seen[0][0]):
            return seen
        seen.append((element, focus_is_visible(driver)))
        ActionChains(driver).send_keys(Keys.TAB).perform()
    raise AssertionError("Tab never left the page or came round to the first stop")


def reachable_controls(driver: WebDriver) -> list[WebElement]:
    return [
        e
        for e in driver.find_elements(By.CSS_SELECTOR, FOCUSABLE)
        if e.is_displayed() and e.is_enabled()
    ]


def unlabelled_controls(driver: WebDriver) -> list[str]:
    """Form controls with no accessible name (no label[for], aria-label(ledby), or text)."""
    missing: list[str] = driver.execute_script(
        """
        const out = [];
        for (const el of document.querySelectorAll('input, select, textarea, button')) {
          if (!el.offsetParent && el.type !== 'hidden') continue;  // not rendered
          const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby')
            || (el.tagName === 'BUTTON' && el.textContent.trim());
          if (!named) out.push(el.id || el.outerHTML.slice(0, 80));
        }
        return out;
        """
    )
    return missing


def focus_is_visible(driver: WebDriver) -> bool:
    style: str = driver.execute_script(
        "const s = getComputedStyle(document.activeElement);"
        "return s.outlineStyle + ' ' + s.outlineWidth"
    )
    return not style.startswith("none") and not style.endswith(" 0px")


def browser_errors(driver: WebDriver, expected: Iterable[str] = ()) -> list[str]:
    """SEVERE entries of the browser log since the last call, except the ones a test provoked on
    purpose: ``expected`` are regexes of a refused request the test made (Chromium logs every
    4xx answer to fetch as an error, the 400 of a validation error included)."""
    patterns = [re.compile(p) for p in expected]
    entries = driver.get_log("browser")
    return [
        e["message"]
        for e in entries
        if e["level"] == "SEVERE" and not any(p.search(e["message"]) for p in patterns)
    ]


def shot(driver: WebDriver, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    assert path.stat().st_size > 1000
    return path
