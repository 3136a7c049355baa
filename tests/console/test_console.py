"""The console in headless Chromium against a coordinator served on 127.0.0.1.

One coordinator and one browser per module (each test logs in afresh and uses its own
executions). Every test ends by checking the browser log holds no error but the refusals it
provoked on purpose, and saves a screenshot of each page it visits under its tmp_path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.console import review
from tests.console.browser import Served, chrome, chromium_missing, served
from tests.console.pages import (
    active,
    browser_errors,
    css,
    describe,
    go,
    gone,
    login,
    reachable_controls,
    shot,
    tab_order,
    unlabelled_controls,
    visible,
    wait,
)
from tests.engine.stream_pipelines import STREAM_ID, good, stream_pipeline
from tpf.core.records import ExecutionStatus

PAGES = ("inbox", "executions", "dlq", "releases", "workers")
STREAM_PIPELINE, _ = stream_pipeline()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # No retries: a failing step goes straight to its terminal state (the DLQ view's input).
    with served(
        tmp_path_factory.mktemp("console"),
        also=(review.pipeline, STREAM_PIPELINE),
        retries__max_retries=0,
    ) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    # A machine without the browser fails here with the package to install (never a skip).
    missing = chromium_missing()
    if missing is not None:
        pytest.fail(missing)
    with chrome() as driver:
        yield driver


@pytest.fixture
def driver(browser: WebDriver) -> Iterator[WebDriver]:
    browser.get_log("browser")  # what an earlier test left is not this test's
    yield browser


def _order_id(driver: WebDriver, execution_id: str) -> str:
    card = css(driver, f"article.interaction:has(a[href='#execution/{execution_id}'])")
    payload: dict[str, Any] = json.loads(css(card, "pre.payload").text)
    order_id: str = payload["orderId"]
    return order_id


def _card(execution_id: str) -> str:
    return f"article.interaction:has(a[href='#execution/{execution_id}'])"


def _choose_variant(card: Any, path: str, label: str) -> None:
    Select(css(card, f"select[data-variant-of='{path}']")).select_by_visible_text(label)


def _wait_status(server: Served, execution_id: str, *statuses: ExecutionStatus) -> Any:
    return server.run(
        server.coordinator.wait_for("restaurant-demo", execution_id, statuses, timeout_s=10)
    )


def test_login_keeps_the_tokens_out_of_the_url(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    driver.get(server.console_url)
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    visible(driver, "#login-tenant").send_keys("restaurant-demo")
    css(driver, "#login-cp-token").send_keys("not-the-token")
    css(driver, "#login-submit").click()
    assert "Login failed" in visible(driver, "#login-status .notice.error").text
    shot(driver, tmp_path, "login-refused")
    assert browser_errors(driver, [r"/interactions/pending\?limit=1 .* 401"]) == []

    login(driver, server)
    stored = driver.execute_script("return {...sessionStorage}")
    assert stored["tpf.controlPlaneToken"] == "cp-token"
    assert stored["tpf.adminToken"] == "admin-token"
    assert "token" not in driver.current_url
    css(driver, "#logout").click()
    visible(driver, "#login-form")
    assert driver.execute_script("return sessionStorage.length") == 0
    assert browser_errors(driver) == []


def test_an_interaction_is_completed_through_its_form_after_a_validation_error(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    execution_id = server.submit()
    login(driver, server, page="inbox")
    card = visible(driver, _card(execution_id))
    order_id = _order_id(driver, execution_id)
    shot(driver, tmp_path, "inbox")
    css(card, "button.respond-open").click()
    form = visible(driver, "form.complete-form[data-interaction]")
    # The schema's optional members are variants to choose; "accepted" brings its fields.
    _choose_variant(form, "accepted", "RestaurantOrderAccepted")
    order_field = css(form, "[data-path='accepted.orderId'] input")
    css(form, "button[type=submit]").click()  # orderId left blank: the server names it
    error = visible(driver, "[data-path='accepted.orderId'] > .field-error")
    assert "accepted.orderId" in error.text
    assert order_field.get_attribute("aria-invalid") == "true"
    assert active(driver) == order_field  # focus goes to the field to fix
    shot(driver, tmp_path, "inbox-validation-error")

    order_field.send_keys(order_id)
    css(form, "[data-path='accepted.note'] input").send_keys("from the console")
    css(form, "input[id^=actor-]").send_keys("console-test")
    css(form, "button[type=submit]").click()
    # The card leaves the inbox once the stream reports the completion: the page-level
    # announcement stays.
    assert "completed" in visible(driver, "#announcer .notice.ok").text
    record = _wait_status(server, execution_id, ExecutionStatus.SUCCEEDED)
    assert record.status is ExecutionStatus.SUCCEEDED
    gone(driver, _card(execution_id))  # the live stream re-read the inbox
    assert browser_errors(driver, [r"/interactions/complete .* 400"]) == []


def test_an_expanded_execution_shows_its_items(driver: WebDriver, server: Served) -> None:
    coordinator = server.coordinator
    eid = server.run(coordinator.submit("restaurant-demo", STREAM_ID, {"count": 3})).execution_id
    streams = coordinator.engine.streams
    server.run(streams.wait_for("restaurant-demo", eid, lambda p: p.in_flight == 3, 10))
    [first] = [
        i
        for i in server.run(coordinator.pending("restaurant-demo"))
        if i.execution_id == eid and i.item_index == 0
    ]
    server.run(
        coordinator.complete(
            "restaurant-demo", interaction_id=first.interaction_id, response=good(0)
        )
    )
    server.run(streams.wait_for("restaurant-demo", eid, lambda p: p.done == 1, 10))
    login(driver, server)
    go(driver, f"execution/{eid}")
    shown = visible(driver, "#execution-items")
    assert shown.text == "1 of 3 completed, 2 pending (2 open); good 1"
    assert browser_errors(driver) == []


def test_an_execution_is_found_by_search_and_its_timeline_opened(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    execution_id = server.submit(customerName="Grace Hopper")
    login(driver, server, page="executions")
    Select(visible(driver, "#search-status")).select_by_value("WAITING_EXTERNAL")
    css(driver, "#search-stepId").send_keys("ProcessAwaitRestaurantDecisionService")
    css(driver, "#search-submit").click()
    row = visible(driver, f"#executions-table tr[data-execution='{execution_id}']")
    assert "WAITING_EXTERNAL" in row.text
    shot(driver, tmp_path, "executions")
    css(row, "a").click()
    visible(driver, "#timeline")
    assert css(driver, "#execution-state").text == "WAITING_EXTERNAL"
    dots = driver.find_elements(By.CSS_SELECTOR, "#timeline circle.tl-dot")
    rows = driver.find_elements(By.CSS_SELECTOR, "#history-table tbody tr")
    assert len(dots) == len(rows) >= 2
    assert driver.find_elements(By.CSS_SELECTOR, "#timeline rect.tl-wait")  # it is waiting
    assert "Grace Hopper" in visible(driver, "#execution-input").text  # admin: the input
    shot(driver, tmp_path, "timeline")
    assert browser_errors(driver) == []


def test_a_failed_execution_is_redriven_from_the_dlq_view(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    # The incident: a malformed order id passes the type and fails Finalize, terminally.
    execution_id = server.submit(customerName="Failing Fay")
    [task] = [
        i
        for i in server.run(server.coordinator.pending("restaurant-demo"))
        if i.execution_id == execution_id
    ]
    server.run(
        server.coordinator.complete(
            "restaurant-demo",
            interaction_id=task.interaction_id,
            response={"accepted": {"orderId": "not-a-uuid"}},
        )
    )
    failed = _wait_status(server, execution_id, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
    assert failed.terminal
    login(driver, server, page="dlq")
    item = visible(driver, f"#dlq-groups li[data-execution='{execution_id}']")
    group = css(driver, f"section.fingerprint:has(li[data-execution='{execution_id}'])")
    assert failed.error_code in group.get_attribute("data-fingerprint")
    shot(driver, tmp_path, "dlq")
    css(item, "button[data-action='re-drive']").click()
    dialog = visible(driver, "#reason-dialog")
    css(dialog, "#reason-confirm").click()  # no reason yet: refused in place
    assert visible(driver, "#reason-error").text == "A reason is required."
    css(dialog, "#reason-text").send_keys("fixed the order id mapping")
    css(dialog, "#reason-confirm").click()
    wait(driver, lambda d: not css(d, "#reason-dialog").is_displayed())
    assert "done" in visible(driver, "#announcer .notice.ok").text
    record = server.status(execution_id)
    assert record.redrives and record.redrives[-1].reason == "fixed the order id mapping"
    assert browser_errors(driver) == []


def test_a_parked_execution_is_cancelled_with_a_reason(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    execution_id = server.submit(customerName="Cancel Carl")
    login(driver, server, page=f"execution/{execution_id}")
    visible(driver, "#execution-actions button[data-action='cancel']").click()
    visible(driver, "#reason-text").send_keys("customer called to cancel")
    css(driver, "#reason-confirm").click()
    wait(driver, lambda d: css(d, "#execution-state").text == "FAILED")
    record = server.status(execution_id)
    assert (record.status, record.error_code) == (ExecutionStatus.FAILED, "CANCELLED")
    shot(driver, tmp_path, "cancelled")
    assert browser_errors(driver) == []


def test_releases_and_workers_show_the_active_release_and_heartbeats(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    login(driver, server, page="releases")
    card = visible(driver, "#releases section[data-pipeline]")
    active_release = css(card, ".active-release").text
    assert active_release.startswith("sha256:") or active_release != "none"
    assert css(card, "ol.activations li")  # its activation is in the history
    shot(driver, tmp_path, "releases")
    go(driver, "workers")
    row = visible(driver, "#workers tr[data-worker='w-1']")
    assert "HEALTHY" in row.text and "ago" in row.text
    shot(driver, tmp_path, "workers")
    assert browser_errors(driver) == []


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_with_the_keyboard_alone(
    driver: WebDriver, server: Served, tmp_path: Path, page: str
) -> None:
    server.submit(customerName="Keyboard Kim")  # the inbox has something to respond to
    login(driver, server, page=page)
    visible(driver, "main h1")
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "main .notice.error"))
    # The first Tab stop is the skip link; Enter on it moves focus into the page.
    order = tab_order(driver)
    assert order[0][0].get_attribute("id") == "skip-link"
    assert [describe(e) for e, shown in order if not shown] == []  # focus always visible
    assert unlabelled_controls(driver) == []
    reached = {describe(e) for e, _ in order}
    missing = {describe(e) for e in reachable_controls(driver)} - reached
    assert missing == set(), f"not reachable by Tab on {page}: {missing}"
    driver.refresh()
    visible(driver, "main h1")
    ActionChains(driver).send_keys(Keys.TAB).perform()  # the skip link
    active(driver).send_keys(Keys.ENTER)
    wait(driver, lambda d: active(d).get_attribute("id") == "main")
    # The nav links move between pages by Enter.
    nav = css(driver, f"#nav a[data-page='{page}']")
    assert nav.get_attribute("aria-current") == "page"
    shot(driver, tmp_path, f"{page}-keyboard")
    assert browser_errors(driver) == []


def test_an_interaction_is_completed_by_keyboard(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    execution_id = server.submit(customerName="Keys Only")
    login(driver, server, page="inbox")
    card = visible(driver, _card(execution_id))
    order_id = _order_id(driver, execution_id)
    respond = css(card, "button.respond-open")
    respond.send_keys("")  # focus
    active(driver).send_keys(Keys.ENTER)
    form = visible(driver, "form.complete-form")
    wait(driver, lambda d: active(d).tag_name == "select")  # focus lands in the form
    variant = css(form, "select[data-variant-of='declined']")
    for _ in range(10):
        if active(driver) == variant:
            break
        ActionChains(driver).send_keys(Keys.TAB).perform()
    assert active(driver) == variant
    # Choose "RestaurantOrderDeclined" with the arrow keys (the options are the variants).
    options = [o.text for o in Select(variant).options]
    steps = options.index("RestaurantOrderDeclined") - options.index(
        Select(variant).first_selected_option.text
    )
    key = Keys.ARROW_DOWN if steps > 0 else Keys.ARROW_UP
    ActionChains(driver).send_keys(*([key] * abs(steps))).perform()
    declined = visible(driver, "[data-path='declined.orderId'] input")
    ActionChains(driver).send_keys(Keys.TAB).perform()  # the variant's first field
    assert active(driver) == declined
    declined.send_keys(order_id)
    declined.send_keys(Keys.ENTER)  # Enter in a field submits its form
    # The card leaves the inbox once the stream reports the completion: the page-level
    # announcement stays.
    assert "completed" in visible(driver, "#announcer .notice.ok").text
    record = _wait_status(server, execution_id, ExecutionStatus.SUCCEEDED)
    assert record.status is ExecutionStatus.SUCCEEDED
    shot(driver, tmp_path, "keyboard-completed")
    # The reason dialog by keyboard: Escape dismisses it and focus returns to its button.
    go(driver, f"execution/{server.submit(customerName='Esc Ellen')}")
    cancel = visible(driver, "#execution-actions button[data-action='cancel']")
    cancel.send_keys(Keys.SPACE)
    visible(driver, "#reason-dialog")
    assert active(driver).get_attribute("id") == "reason-text"
    active(driver).send_keys(Keys.ESCAPE)
    wait(driver, lambda d: not css(d, "#reason-dialog").is_displayed())
    assert active(driver) == css(driver, "#execution-actions button[data-action='cancel']")
    assert browser_errors(driver) == []


def test_the_form_covers_every_kind_of_field_and_the_inbox_filters_by_group(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    execution_id = server.submit_to(review.PIPELINE_ID, {"title": "flaky oven"})
    server.submit(customerName="Not In QA")
    login(driver, server, page="inbox")
    visible(driver, "#filter-group").send_keys(review.GROUP)
    css(driver, "#inbox-filters button[type=submit]").click()
    card = visible(driver, _card(execution_id))
    wait(
        driver,
        lambda d: (
            {e.text for e in d.find_elements(By.CSS_SELECTOR, "article.interaction h2")}
            == {review.STEP_ID}
        ),
    )
    css(card, "button.respond-open").click()
    form = visible(driver, "form.complete-form")

    def field(path: str, tag: str = "input") -> Any:
        return css(form, f"[data-path='{path}'] > {tag}")

    field("reviewer").send_keys("Rita")
    field("score").send_keys("4")
    field("weight").send_keys("0.5")
    field("approved").click()
    Select(field("priority", "select")).select_by_visible_text("HIGH")
    for n, tag in enumerate(("oven", "urgent")):
        css(form, "[data-path='tags'] > button").click()
        css(form, f"[data-path='tags[{n}]'] > input").send_keys(tag)
    field("contact.email").send_keys("rita@example.com")
    _choose_variant(form, "handoff", "Delivery")
    assert field("handoff.type", "output").text == '"delivery"'  # the tag is fixed
    field("handoff.address").send_keys("1 Main St")
    css(form, "button[type=submit]").click()  # floor left blank: the server names it
    error = visible(driver, "[data-path='handoff.floor'] > .field-error")
    assert "handoff.floor" in error.text
    assert active(driver) == field("handoff.floor")
    shot(driver, tmp_path, "review-form-error")
    field("handoff.floor").send_keys("3")
    css(form, "button[type=submit]").click()
    # The card leaves the inbox once the stream reports the completion: the page-level
    # announcement stays.
    assert "completed" in visible(driver, "#announcer .notice.ok").text
    record = _wait_status(server, execution_id, ExecutionStatus.SUCCEEDED)
    assert record.result_payload == {
        "reviewer": "Rita",
        "score": 4,
        "weight": 0.5,
        "approved": True,
        "priority": "HIGH",
        "tags": ["oven", "urgent"],
        "contact": {"email": "rita@example.com"},
        "handoff": {"type": "delivery", "address": "1 Main St", "floor": 3},
        "notes": None,  # left blank: left out, so the type's default
    }
    assert browser_errors(driver, [r"/interactions/complete .* 400"]) == []


def test_search_pages_through_its_results_with_the_cursor(
    driver: WebDriver, server: Served, tmp_path: Path
) -> None:
    ids = [server.submit_to(review.PIPELINE_ID, {"title": f"page {n}"}) for n in range(3)]
    login(driver, server, page="executions")
    visible(driver, "#search-pipelineId").send_keys(review.PIPELINE_ID)
    Select(css(driver, "#search-status")).select_by_value("WAITING_EXTERNAL")
    css(driver, "#search-limit").clear()
    css(driver, "#search-limit").send_keys("2")
    css(driver, "#search-submit").click()

    def shown() -> list[str]:
        rows = driver.find_elements(By.CSS_SELECTOR, "#executions-table tbody tr")
        return [str(r.get_attribute("data-execution")) for r in rows]

    # Newest first: these three lead (other tests' review executions are older). Two submitted
    # in the same millisecond have no "newer" one, so the page is any two of them, in the
    # order the store gives, and the next page starts with the third.
    wait(driver, lambda d: len(shown()) == 2 and set(shown()) < set(ids))
    first = shown()
    assert "Page 1" in css(driver, "#executions-table caption").text
    css(driver, "#search-next").click()
    wait(driver, lambda d: "Page 2" in css(d, "#executions-table caption").text)
    assert shown()[0] == next(i for i in ids if i not in first)
    shot(driver, tmp_path, "executions-page-2")
    css(driver, "#search-prev").click()
    wait(driver, lambda d: shown() == first)
    assert browser_errors(driver) == []
