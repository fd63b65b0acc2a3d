"""optuna-dashboard and ``eahas report`` rendered in headless Chromium (Selenium, with Debian's
``chromium`` and ``chromium-driver``; CI installs them in ``.ci/run``)."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from optuna_eahas.cli import main

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()),
    reason=f"needs Chromium and ChromeDriver at {CHROMIUM} and {CHROMEDRIVER} "
    "(Debian: apt-get install chromium chromium-driver; .ci/run installs them)",
)

_RUN_CLI = "import sys; from optuna_eahas.cli import main; sys.exit(main(sys.argv[1:]))"
_PLOT_ID = "user-defined-plot:eahas-comparison-regret-vs-energy"


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite storage holding a small 'eahas compare' run."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'compare.db'}"
    argv = ["compare", "--methods", "random+none", "tpe+median", "--seeds", "0", "1"]
    argv += ["--budget-kwh", "0.1", "--storage", url, "--n-jobs", "1", "--optimum", "95.5"]
    assert main([*argv, "--report-interval", "10"]) == 0
    return url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    # A fixed browser and driver: Selenium Manager must not download anything.
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dashboard(storage: str) -> Iterator[str]:
    """``eahas dashboard`` serving the storage on a free loopback port; yields its URL."""
    port = _free_port()
    argv = ["dashboard", storage, "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-c", _RUN_CLI, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/studies", timeout=5) as response:
                    assert response.status == 200
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for_plot(driver: WebDriver, locate: tuple[str, str]) -> WebElement:
    """The plot element once plotly has drawn it (its SVG holds the traces)."""
    wait = WebDriverWait(driver, 60)
    plot = wait.until(lambda d: d.find_element(*locate))
    wait.until(lambda d: plot.find_elements(By.CSS_SELECTOR, ".main-svg .scatterlayer .trace"))
    driver.execute_script("arguments[0].scrollIntoView()", plot)
    time.sleep(0.5)  # let plotly finish its transition before the screenshot
    return plot


def _assert_screenshot(driver: WebDriver, path: Path) -> None:
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000, "the screenshot is (nearly) blank"


def test_dashboard_renders_the_comparison_plot(
    browser: WebDriver, dashboard: str, tmp_path: Path
) -> None:
    with urllib.request.urlopen(f"{dashboard}/api/studies", timeout=30) as response:
        summaries = json.load(response)["study_summaries"]
    study_id = next(s["study_id"] for s in summaries if s["study_name"].endswith(":seed0"))
    browser.get(f"{dashboard}/dashboard/studies/{study_id}")
    plot = _wait_for_plot(browser, (By.ID, _PLOT_ID))
    legend = [e.text for e in plot.find_elements(By.CSS_SELECTOR, ".legendtext")]
    assert legend == ["random+none (median of 2 seeds)", "tpe+median (median of 2 seeds)"]
    _assert_screenshot(browser, tmp_path / "dashboard.png")


def test_report_renders_offline(browser: WebDriver, storage: str, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    assert main(["report", storage, "-o", str(report)]) == 0
    browser.get(report.as_uri())
    first = _wait_for_plot(browser, (By.CLASS_NAME, "plotly-graph-div"))
    assert "Test regret vs search energy" in first.text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) == 5
    _assert_screenshot(browser, tmp_path / "report.png")
