"""Chapter 0 in a real JupyterLab: its Markdown reads as MyST (jupyterlab-myst: a citation is a
rendered citation, a target label is hidden), then run all cells in headless Chromium, move the
widget's slider, and check that the figure it drives changes. The test starts and stops its own server
on 127.0.0.1 with a token."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from _browser import chrome, free_port
from reprobook import chapters
from reprobook.engine.execute import prepare_notebook

ARTIFACTS = chapters.repo_root() / "_build" / "test-artifacts"


@pytest.fixture()
def lab(tmp_path):
    prepare_notebook("intro", {"smoke": True}, tmp_path / "work" / "00_intro.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={tmp_path / 'work'}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-1500:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.poll() is not None, "the JupyterLab server was stopped"


def _kernel_ready(base, token) -> bool:
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as r:
        kernels = json.load(r)
    return any(k["execution_state"] == "idle" and k.get("connections", 0) >= 1 for k in kernels)


def _figure_src(driver):
    # Read in the page itself: the output area is re-rendered while the figure updates, which
    # would make element references go stale between finding and reading them.
    return driver.execute_script(
        "const imgs = document.querySelectorAll('.widget-vbox .jp-OutputArea-output img');"
        "return imgs.length ? imgs[imgs.length - 1].src : null;")


def test_run_all_then_slider_changes_the_figure(lab):
    base, token = lab
    driver = chrome(1400, 1000)
    try:
        driver.get(f"{base}/lab/tree/00_intro.ipynb?token={token}")
        wait = WebDriverWait(driver, 90, ignored_exceptions=(StaleElementReferenceException,))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"))
        # The title cell through jupyterlab-myst: citations rendered, MyST markup not shown raw.
        title = WebDriverWait(driver, 30).until(
            lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, ".jp-MarkdownCell")
                       if c.find_elements(By.CSS_SELECTOR, ".cite-group")],
            message="no citation rendered as MyST: is jupyterlab-myst installed (the book extra)?")[0]
        assert "{cite:p}" not in title.text and "(chapter-intro)=" not in title.text, title.text[:200]
        # The notebook's kernel is started and this page is connected to it.
        wait.until(lambda d: _kernel_ready(base, token))
        # Run → Run All Cells, through the menu bar as a person would. A kernel that is still
        # connecting can drop the request, so it is repeated once if no cell starts.
        for attempt in range(2):
            run_menu = [m for m in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if m.text == "Run"]
            assert run_menu, "JupyterLab's Run menu not found"
            run_menu[0].click()
            item = wait.until(lambda d: [m for m in d.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
                                         if m.text == "Run All Cells"])
            item[0].click()
            # If JupyterLab still asks which kernel to use, accept its proposal (Python 3).
            for button in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept"):
                button.click()
            try:
                WebDriverWait(driver, 45).until(lambda d: any(
                    any(ch.isdigit() or ch == "*" for ch in p.text)
                    for p in d.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")))
                break
            except TimeoutException:
                if attempt:
                    raise
        readout = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-slider .widget-readout"))[0]
        before = wait.until(_figure_src)
        driver.execute_script("arguments[0].scrollIntoView()", readout)
        readout.click()
        readout.send_keys(Keys.CONTROL, "a")
        readout.send_keys("0.8", Keys.ENTER)
        after = wait.until(lambda d: (src := _figure_src(d)) and src != before and src)
        assert after != before, "moving the slider changed the figure it drives"
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "jupyterlab-failure.png"))
        raise
    finally:
        driver.quit()
