"""What users look at, in a real browser: the search report, and the MLflow UI's run comparison.

Headless Chromium through selenium. Skipped when the browser or its driver is missing
(Debian: apt-get install chromium chromium-driver); .ci/run installs them.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENS = Path("/tmp/automl-screens")  # kept after the run, for people reviewing a change
STUDY = "wine"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER}: apt-get install chromium chromium-driver",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from automl.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def search_out(tmp_path_factory) -> Path:
    """One small real search shared by the tests: 4 trials on the wine table."""
    from sklearn.datasets import load_wine

    root = tmp_path_factory.mktemp("browser")
    data = root / f"{STUDY}.csv"
    load_wine(as_frame=True).frame.to_csv(data, index=False)
    out = root / "runs"
    assert (
        main(
            [
                "search",
                "--data",
                str(data),
                "--budget",
                "1m",
                "--trials",
                "4",
                "--output",
                str(out),
                "--jobs",
                "1",
                "-q",
            ]
        )
        == 0
    )
    return out


@pytest.fixture
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
    try:
        yield drv
    finally:
        drv.quit()


def save_screenshot(drv, path: Path, full_page: bool = False) -> None:
    if full_page:
        height = drv.execute_script("return document.documentElement.scrollHeight")
        drv.set_window_size(1100, min(height + 50, 8000))
    assert drv.save_screenshot(str(path)), f"could not save {path}"
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)


def test_report_renders_offline_without_errors(search_out: Path, driver, tmp_path: Path):
    run_dir = search_out / STUDY
    report = run_dir / "report.html"
    assert report.is_file(), "the search did not write its report"
    summary = json.loads((run_dir / "summary.json").read_text())

    driver.get(report.resolve().as_uri())
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "leaderboard-table")))
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], f"console errors: {severe}"

    rows = driver.find_elements(By.CSS_SELECTOR, "#leaderboard-table tbody tr")
    assert len(rows) == summary["trials"]["complete"]
    best = rows[0].find_elements(By.TAG_NAME, "td")
    assert int(best[1].text) == summary["best_trial"]
    assert float(best[2].text) == pytest.approx(summary["best_value"], abs=1e-4)
    assert len(driver.find_elements(By.CSS_SELECTOR, "section svg")) >= 3
    for section in ("regime", "leaderboard", "history", "importance", "strategies", "folds", "quality"):
        assert driver.find_element(By.ID, section).is_displayed()
    # Self-contained: nothing fetched from anywhere (no scripts, links or remote images).
    html = report.read_text()
    for fetch in ("<script", "<link", " src=", 'href="http', "url(http"):
        assert fetch not in html, fetch
    save_screenshot(driver, tmp_path / "report.png", full_page=True)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{search_out / 'mlflow.db'}")
    parent = summary["mlflow_parent_run_id"]
    assert "report.html" in [a.path for a in client.list_artifacts(parent)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    # An MLflow server starts in 10-20 s alone, but several minutes while other tests load the cores.
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"`automl ui` exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout:.0f}s")


@pytest.fixture
def mlflow_ui(search_out: Path):
    """`automl ui` as users start it, in its own process group so the server it spawns stops too."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl", "ui", "--output", str(search_out), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/health", proc)
        links = {}
        for line in proc.stdout:  # the runs-table links `automl ui` prints before the server starts
            if line.startswith("  automl/"):
                name, url = line.strip().split(": ", 1)
                links[name] = url
            elif links:
                break
        yield base, links
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_mlflow_ui_compares_two_trials(search_out: Path, mlflow_ui, driver, tmp_path: Path):
    mlflow_ui, links = mlflow_ui
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{search_out / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"automl/{STUDY}")
    trials = [
        r
        for r in client.search_runs([exp.experiment_id])
        if r.data.tags.get("automl.kind") == "trial" and r.info.status == "FINISHED"
    ]
    assert len(trials) >= 2
    # Two different learners when there are, so the compare view has a difference to show.
    second = next(
        (r for r in trials if r.data.params["learner"] != trials[0].data.params["learner"]), trials[1]
    )
    picked = {r.info.run_id: r for r in (trials[0], second)}

    try:
        open_compare_view(driver, links[f"automl/{STUDY}"], list(picked))
    except Exception:
        # The UI is a React app whose DOM changes between MLflow releases: keep what the
        # browser saw, to update the selectors from.
        (tmp_path / "mlflow-page.html").write_text(driver.page_source)
        save_screenshot(driver, tmp_path / "mlflow-failure.png")
        raise
    learner = WebDriverWait(driver, 60).until(
        EC.presence_of_element_located((By.XPATH, '//tr[th[@scope="row" and normalize-space()="learner"]]'))
    )
    shown = {td.text for td in learner.find_elements(By.TAG_NAME, "td")}
    assert shown == {r.data.params["learner"] for r in picked.values()}
    for name in ("cv_mean", "cv_std"):
        assert driver.find_elements(By.XPATH, f'//*[normalize-space(text())="{name}"]'), name
    assert all(rid in driver.current_url for rid in picked)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", learner)
    save_screenshot(driver, tmp_path / "mlflow-compare.png")


def test_mlflow_ui_opens_on_the_runs_table(search_out: Path, mlflow_ui, driver, tmp_path: Path):
    """MLflow 3 opens experiments in its GenAI view. The link `automl ui` prints for a search
    lands on the runs table, with the search's run in it, without a click (the experiment's
    mlflow.experimentKind tag is set too, for UIs that read it)."""
    _, links = mlflow_ui
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{search_out / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"automl/{STUDY}")
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    driver.get(links[f"automl/{STUDY}"])
    try:
        WebDriverWait(driver, 60).until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR, 'div[role="row"] button[data-component-id*="runnamecellrenderer"]')
            )
        )
    except Exception:
        (tmp_path / "mlflow-landing.html").write_text(driver.page_source)
        save_screenshot(driver, tmp_path / "mlflow-landing-failure.png")
        raise
    save_screenshot(driver, tmp_path / "mlflow-landing.png")


def open_compare_view(driver, link: str, run_ids: list[str]) -> None:
    """The runs table `automl ui` links to -> expand the search's parent run -> tick two trials
    -> Compare."""
    wait = WebDriverWait(driver, 60)
    driver.get(link)
    # Trial runs are nested under the search's parent run: expand it.
    wait.until(
        EC.element_to_be_clickable(
            (By.CSS_SELECTOR, 'div[role="row"] button[data-component-id*="runnamecellrenderer"]')
        )
    ).click()
    for run_id in run_ids:
        box = f'div[role="row"][row-id="{run_id}"] .ag-selection-checkbox input'
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, box))).click()
    wait.until(EC.element_to_be_clickable((By.XPATH, '//button[normalize-space()="Compare"]'))).click()
    wait.until(lambda d: "compare-runs" in d.current_url)
