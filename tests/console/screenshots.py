"""Take the README's console screenshots: ``python -m tests.console.screenshots docs/screenshots``
(``make screenshots``) writes ``inbox.png`` and ``timeline.png``.

A coordinator is served on a free 127.0.0.1 port with a few restaurant orders in different
states, and headless Chromium opens the console on it: the inbox with one response form open,
then the timeline of an order that waited for its decision and finished.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from selenium.webdriver.support.ui import Select

from tests.console.browser import TENANT, chrome, served
from tests.console.pages import css, login, visible, wait


def take(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, served(Path(tmp)) as server, chrome() as driver:
        driver.set_window_size(1280, 900)
        done = server.submit(customerName="Ada Lovelace", items="Margherita Pizza")
        for name, items in (("Grace Hopper", "Ramen"), ("Alan Turing", "Tea, Scones")):
            server.submit(customerName=name, items=items)
        [task] = [
            i for i in server.run(server.coordinator.pending(TENANT)) if i.execution_id == done
        ]
        order_id = task.request_payload["orderId"]
        # A script, not a test: the decision comes a moment later, so the timeline shows the
        # wait as a bar rather than a sliver.
        time.sleep(2)
        server.run(
            server.coordinator.complete(
                TENANT,
                interaction_id=task.interaction_id,
                response={"accepted": {"orderId": order_id, "note": "ready at 7"}},
                actor="console-demo",
            )
        )
        login(driver, server, page="inbox")
        first = visible(driver, "article.interaction")
        css(first, "button.respond-open").click()
        form = visible(driver, "form.complete-form")
        Select(css(form, "select[data-variant-of='accepted']")).select_by_visible_text(
            "RestaurantOrderAccepted"
        )
        inbox = folder / "inbox.png"
        driver.save_screenshot(str(inbox))
        driver.execute_script("location.hash = arguments[0]", f"execution/{done}")
        visible(driver, "#timeline")
        wait(driver, lambda d: css(d, "#execution-state").text == "SUCCEEDED")
        timeline = folder / "timeline.png"
        driver.save_screenshot(str(timeline))
    return [inbox, timeline]


if __name__ == "__main__":
    for path in take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(path)
