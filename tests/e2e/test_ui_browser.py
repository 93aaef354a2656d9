"""`pagemill ui` in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

The server is the real command in its own process, over a data folder filled with real originals; the browser
loads its pages, images and the vendored htmx exactly as a person's would. Skipped, with the reason, where
/usr/bin/chromedriver is absent (CI installs it: .ci/run)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.db import Database
from tests.prom import free_port
from tests.results_db import migrated_database
from tests.scheduler.ui.helpers import HOSTILE_NAME, Library, fill_library
from worker.objects.folder import FolderStore
from worker.settings import WorkerSettings

CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not CHROMEDRIVER.exists(),
                                reason="no /usr/bin/chromedriver: apt-get install chromium chromium-driver")


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=timeout)


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pagemill ui exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("pagemill ui did not answer")


@pytest.fixture
def library(data_dir: Path, tmp_path: Path) -> Library:
    data_dir.mkdir(parents=True, exist_ok=True)
    db: Database = migrated_database(f"sqlite:///{data_dir / 'pagemill.sqlite'}")
    try:
        return fill_library(db, FolderStore(WorkerSettings().objects_dir), tmp_path)
    finally:
        db.dispose()


@pytest.fixture
def server(library: Library) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, PAGEMILL_UI_USER="ana")
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "ui", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base + "/static/ui.css", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pagemill-chromium-")
    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1440,1000",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


# What chromedriver says when the page it is asked about is being replaced (a click that navigates, htmx
# swapping the part of the page a query touched): the question is asked again, never failed on.
_PAGE_CHANGING = ("unhandled inspector error", "target frame detached", "frame was detached",
                  "execution context was destroyed", "cannot find context with specified id",
                  "node with given id does not belong to the document", "no such execution context")


def _page_changing(exc: Exception) -> bool:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )

    if isinstance(exc, (NoSuchElementException, StaleElementReferenceException)):
        return True
    return isinstance(exc, WebDriverException) and any(m in str(exc).lower() for m in _PAGE_CHANGING)


def _wait(driver: object, condition: object, what: str, timeout_s: float = 20) -> object:
    """`condition(driver)` once it is truthy; AssertionError saying `what` never happened after `timeout_s`.

    The condition finds what it looks at itself, every time it is asked: an element found before a navigation
    belongs to the page that is gone. While the page changes under it, the answer is "not yet"."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    last: list[Exception] = []

    def tolerant(drv: object) -> object:
        try:
            return condition(drv)  # type: ignore[operator]
        except Exception as exc:
            if not _page_changing(exc):
                raise
            last[:] = [exc]
            return False

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(tolerant)  # type: ignore[arg-type]
    except TimeoutException:
        try:
            url = driver.current_url  # type: ignore[attr-defined]
        except Exception as exc:
            url = f"unknown ({exc.__class__.__name__})"
        seen = f"; last: {str(last[0]).splitlines()[0]}" if last else ""
        raise AssertionError(f"{what} within {timeout_s} s (page {url}{seen})") from None


def _click(driver: object, by: str, locator: str, what: str) -> None:
    """Find and click, finding again while the page is still changing; once the click is delivered a page that
    navigates under chromedriver's post-click checks is what the click was for, not a failure (clicking again
    would do it twice)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def click(drv: object) -> bool:
        element = drv.find_element(by, locator)  # type: ignore[attr-defined]
        try:
            element.click()
        except (NoSuchElementException, StaleElementReferenceException):
            raise  # not clicked: the element went with the page; find it again
        except Exception as exc:
            if not _page_changing(exc):
                raise
        return True

    _wait(driver, click, f"{what} could not be clicked")


def _text(driver: object, by: str, locator: str) -> str:
    return str(driver.find_element(by, locator).text)  # type: ignore[attr-defined]


_IMAGE_LOADED = "const i = document.querySelector(arguments[0]); return i && i.complete && i.naturalWidth"


def test_the_list_shows_documents_and_the_failures_view_a_failure(server: str, browser: object, library: Library) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "/")  # type: ignore[attr-defined]
    rows = d.find_element(By.ID, "doc-rows").text  # type: ignore[attr-defined]
    assert "letters.pdf" in rows and "broken.pdf" in rows and "1 failed range(s)" in rows
    _click(d, By.LINK_TEXT, "Failures", "the Failures link")
    _wait(d, lambda drv: drv.current_url.endswith("/failures"), "the Failures link never opened /failures")
    assert "the provider rejected the request: page too large" in _wait(
        d, lambda drv: _text(drv, By.TAG_NAME, "main"), "the failures page never showed its main part")


def test_a_page_shows_a_loaded_image_beside_its_text_and_keys_turn_pages(server: str, browser: object,
                                                                         library: Library) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    d.get(f"{server}/doc/{library.letters}/page/0")  # type: ignore[attr-defined]
    _wait(d, lambda drv: drv.execute_script(_IMAGE_LOADED, "#page-image"), "the page image never loaded")
    image = d.find_element(By.ID, "page-image")  # type: ignore[attr-defined]
    assert d.execute_script("return arguments[0].naturalWidth", image) > 500  # type: ignore[attr-defined]
    text = d.find_element(By.ID, "page-text")  # type: ignore[attr-defined]
    assert "Dear heron, the quarterly report follows." in text.text
    inline = text.find_element(By.TAG_NAME, "img")  # the page's stored image, inline in its text
    _wait(d, lambda drv: drv.execute_script(_IMAGE_LOADED, "#page-text img"),
          "the image inline in the page text never loaded")
    assert d.execute_script("return arguments[0].naturalWidth", inline) == 40  # type: ignore[attr-defined]
    assert text.location["x"] > image.location["x"] + image.size["width"] - 5  # beside it, not below
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)  # type: ignore[attr-defined]
    _wait(d, lambda drv: drv.current_url.endswith(f"/doc/{library.letters}/page/1"),
          "the right arrow key never turned to page 1")
    _wait(d, lambda drv: "Yours sincerely" in _text(drv, By.ID, "page-text"), "page 1's text never showed")


def test_a_search_finds_and_opens_a_page(server: str, browser: object, library: Library) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "/")  # type: ignore[attr-defined]
    box = d.find_element(By.NAME, "q")  # type: ignore[attr-defined]
    box.send_keys("quarterly")
    box.submit()
    _wait(d, lambda drv: drv.find_element(By.CLASS_NAME, "hit"), "the search never showed a hit")
    assert _wait(d, lambda drv: _text(drv, By.TAG_NAME, "mark"), "the hit never marked a word") == "quarterly"
    _click(d, By.CLASS_NAME, "hit", "the search hit")
    _wait(d, lambda drv: drv.current_url.endswith(f"/doc/{library.letters}/page/0"),
          "the search hit never opened page 0")
    _wait(d, lambda drv: "quarterly report" in _text(drv, By.ID, "page-text"), "page 0's text never showed")


def test_an_edit_is_saved_and_pagemill_search_finds_the_new_word(server: str, browser: object,
                                                                library: Library) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(f"{server}/doc/{library.letters}/page/1")  # type: ignore[attr-defined]
    _click(d, By.ID, "edit-tab", "the Edit tab")
    editor = _wait(d, lambda drv: drv.find_element(By.ID, "markdown-editor"), "the Edit tab never showed the editor")
    editor.clear()  # type: ignore[attr-defined]
    editor.send_keys("Yours sincerely, the flamingo committee")  # type: ignore[attr-defined]
    _click(d, By.ID, "save-correction", "the Save button")
    _wait(d, lambda drv: "correction saved" in _text(drv, By.TAG_NAME, "main"), "the page never said the "
          "correction was saved")
    assert "flamingo" in _wait(d, lambda drv: _text(drv, By.ID, "page-text"), "the page text never showed")

    found = _cli("search", "flamingo")
    assert found.returncode == 0, found.stderr
    assert "letters.pdf" in found.stdout
    shown = _cli("show", str(library.letters), "--page", "1")
    assert "flamingo committee" in shown.stdout


def test_hostile_names_and_markdown_stay_inert(server: str, browser: object, library: Library) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "/")  # type: ignore[attr-defined]
    assert HOSTILE_NAME in d.find_element(By.ID, "doc-rows").text  # type: ignore[attr-defined]  # shown as text
    d.get(f"{server}/doc/{library.hostile}/page/0")  # type: ignore[attr-defined]
    article = d.find_element(By.ID, "page-text")  # type: ignore[attr-defined]
    assert "<script>" in article.text  # the tag is text on the page
    cell = article.find_element(By.TAG_NAME, "td")
    ActionChains(d).move_to_element(cell).perform()  # type: ignore[arg-type]
    link = article.find_element(By.LINK_TEXT, "click me")
    assert link.get_attribute("href") is None
    link.click()
    time.sleep(0.3)
    assert d.execute_script("return window.__pwned === undefined")  # type: ignore[attr-defined]
    assert article.find_elements(By.TAG_NAME, "script") == []
    assert article.find_elements(By.TAG_NAME, "img") == []
    assert article.find_element(By.LINK_TEXT, "safe").get_attribute("href") == "https://example.org/"


def test_a_post_without_the_csrf_token_is_refused(server: str, browser: object, library: Library) -> None:
    d = browser
    d.get(f"{server}/doc/{library.letters}/page/0")  # type: ignore[attr-defined]
    status = d.execute_script(  # type: ignore[attr-defined]
        "const r = await fetch(arguments[0], {method: 'POST', body: new URLSearchParams({markdown: 'forged'})});"
        "return r.status;", f"{server}/doc/{library.letters}/page/0/correct")
    assert status == 403
    assert "forged" not in _cli("show", str(library.letters), "--page", "0").stdout


def test_the_list_refreshes_while_work_runs(server: str, browser: object, library: Library, data_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from sqlalchemy import insert, update

    from models.tables import Document, Page

    db = Database(f"sqlite:///{data_dir / 'pagemill.sqlite'}")
    try:
        with db.write_session() as s:
            s.execute(update(Document).where(Document.id == library.broken).values(status="running"))
        d = browser
        d.get(server + "/")  # type: ignore[attr-defined]
        row = lambda drv: drv.find_element(By.CSS_SELECTOR, "#doc-rows tr.state-running, #doc-rows tr.state-done")  # noqa: E731
        assert "1/2" in row(d).text
        with db.write_session() as s:  # a worker stores the missing page and finishes the document
            s.execute(insert(Page).values(document_id=library.broken, page_index=1, markdown="second",
                                          source="tesseract"))
            s.execute(update(Document).where(Document.id == library.broken).values(status="done"))
        _wait(d, lambda drv: "2/2" in _text(drv, By.CSS_SELECTOR, "#doc-rows tr:nth-child(1)"),
              "the list never refreshed to show 2/2 pages", 20)
        assert d.current_url == server + "/"  # type: ignore[attr-defined]  # htmx swapped the rows in place
    finally:
        db.dispose()


@pytest.mark.postgres
@pytest.mark.redis
def test_the_review_page_over_postgresql_and_redis(production_env: dict[str, str], browser: object,
                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    db = migrated_database(production_env["PAGEMILL_DATABASE_URL"])
    try:
        lib = fill_library(db, FolderStore(WorkerSettings().objects_dir), tmp_path)
    finally:
        db.dispose()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "ui", "--port", str(port)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base + "/static/ui.css", proc)
        d = browser
        d.get(f"{base}/doc/{lib.letters}/page/0")  # type: ignore[attr-defined]
        _wait(d, lambda drv: drv.execute_script(_IMAGE_LOADED, "#page-image"), "the page image never loaded")
        assert "Dear heron" in d.find_element(By.ID, "page-text").text  # type: ignore[attr-defined]
        d.get(base + "/failures")  # type: ignore[attr-defined]
        _click(d, By.XPATH, "//td/form/button[text()='Retry']", "the failure's Retry button")
        # the page navigates after Retry: chromedriver may be asked about it halfway (the wait asks again)
        _wait(d, lambda drv: "queued 1 range(s), 1 page(s) again" in _text(drv, By.TAG_NAME, "main"),
              "the page never said the range was queued again after Retry")
        import redis

        queued = redis.Redis.from_url(production_env["PAGEMILL_BROKER_URL"]).llen(production_env["PAGEMILL_QUEUE"])
        assert queued == 1  # the retried range is on the Redis queue for the workers
    finally:
        proc.terminate()
        proc.wait(15)
