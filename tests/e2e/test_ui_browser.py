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
from worker.objects import ObjectStore
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
        return fill_library(db, ObjectStore(WorkerSettings().objects_dir), tmp_path)
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


def _wait(driver: object, condition: object, timeout_s: float = 20) -> object:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # a click that loads a new page leaves the old page's elements stale until it has arrived
    wait = WebDriverWait(driver, timeout_s,  # type: ignore[arg-type]
                         ignored_exceptions=[NoSuchElementException, StaleElementReferenceException])
    return wait.until(condition)  # type: ignore[arg-type]


def test_the_list_shows_documents_and_the_failures_view_a_failure(server: str, browser: object, library: Library) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "/")  # type: ignore[attr-defined]
    rows = d.find_element(By.ID, "doc-rows").text  # type: ignore[attr-defined]
    assert "letters.pdf" in rows and "broken.pdf" in rows and "1 failed range(s)" in rows
    d.find_element(By.LINK_TEXT, "Failures").click()  # type: ignore[attr-defined]
    assert "the provider rejected the request: page too large" in d.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]


def test_a_page_shows_a_loaded_image_beside_its_text_and_keys_turn_pages(server: str, browser: object,
                                                                         library: Library) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    d.get(f"{server}/doc/{library.letters}/page/0")  # type: ignore[attr-defined]
    image = d.find_element(By.ID, "page-image")  # type: ignore[attr-defined]
    _wait(d, lambda drv: drv.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    assert d.execute_script("return arguments[0].naturalWidth", image) > 500  # type: ignore[attr-defined]
    text = d.find_element(By.ID, "page-text")  # type: ignore[attr-defined]
    assert "Dear heron, the quarterly report follows." in text.text
    inline = text.find_element(By.TAG_NAME, "img")  # the page's stored image, inline in its text
    _wait(d, lambda drv: drv.execute_script("return arguments[0].complete && arguments[0].naturalWidth", inline))
    assert d.execute_script("return arguments[0].naturalWidth", inline) == 40  # type: ignore[attr-defined]
    assert text.location["x"] > image.location["x"] + image.size["width"] - 5  # beside it, not below
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)  # type: ignore[attr-defined]
    _wait(d, lambda drv: drv.current_url.endswith(f"/doc/{library.letters}/page/1"))
    assert "Yours sincerely" in d.find_element(By.ID, "page-text").text  # type: ignore[attr-defined]


def test_a_search_finds_and_opens_a_page(server: str, browser: object, library: Library) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "/")  # type: ignore[attr-defined]
    box = d.find_element(By.NAME, "q")  # type: ignore[attr-defined]
    box.send_keys("quarterly")
    box.submit()
    hit = _wait(d, lambda drv: drv.find_element(By.CLASS_NAME, "hit"))
    assert d.find_element(By.TAG_NAME, "mark").text == "quarterly"  # type: ignore[attr-defined]
    hit.click()  # type: ignore[attr-defined]
    _wait(d, lambda drv: drv.current_url.endswith(f"/doc/{library.letters}/page/0"))
    assert "quarterly report" in d.find_element(By.ID, "page-text").text  # type: ignore[attr-defined]


def test_an_edit_is_saved_and_pagemill_search_finds_the_new_word(server: str, browser: object,
                                                                library: Library) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(f"{server}/doc/{library.letters}/page/1")  # type: ignore[attr-defined]
    d.find_element(By.ID, "edit-tab").click()  # type: ignore[attr-defined]
    editor = _wait(d, lambda drv: drv.find_element(By.ID, "markdown-editor"))
    editor.clear()  # type: ignore[attr-defined]
    editor.send_keys("Yours sincerely, the flamingo committee")  # type: ignore[attr-defined]
    d.find_element(By.ID, "save-correction").click()  # type: ignore[attr-defined]
    _wait(d, lambda drv: "correction saved" in drv.find_element(By.TAG_NAME, "main").text)
    assert "flamingo" in d.find_element(By.ID, "page-text").text  # type: ignore[attr-defined]

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
        _wait(d, lambda drv: "2/2" in drv.find_element(By.CSS_SELECTOR, "#doc-rows tr:nth-child(1)").text, 20)
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
        lib = fill_library(db, ObjectStore(WorkerSettings().objects_dir), tmp_path)
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
        image = d.find_element(By.ID, "page-image")  # type: ignore[attr-defined]
        _wait(d, lambda drv: drv.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
        assert "Dear heron" in d.find_element(By.ID, "page-text").text  # type: ignore[attr-defined]
        d.get(base + "/failures")  # type: ignore[attr-defined]
        d.find_element(By.XPATH, "//td/form/button[text()='Retry']").click()  # type: ignore[attr-defined]
        _wait(d, lambda drv: "queued 1 range(s), 1 page(s) again" in drv.find_element(By.TAG_NAME, "main").text)
        import redis

        queued = redis.Redis.from_url(production_env["PAGEMILL_BROKER_URL"]).llen(production_env["PAGEMILL_QUEUE"])
        assert queued == 1  # the retried range is on the Redis queue for the workers
    finally:
        proc.terminate()
        proc.wait(15)
