"""Headless Chromium for the browser tests (Debian packages ``chromium`` and ``chromium-driver``).

A missing or broken browser fails the test with a message naming the packages: these tests
never pass by skipping.
"""

from __future__ import annotations

import shutil
import socket
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

INSTALL_HINT = ("headless Chromium is needed: install the Debian packages 'chromium' and 'chromium-driver' "
                "(apt-get update && apt-get install -y chromium chromium-driver); `make test` does this when run as root")


# Every host name but the local server's fails to resolve: the page is read as with the network off.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


def chrome(width: int = 1280, height: int = 1600, *, offline: bool = False):
    """A headless Chrome WebDriver using the system browser and driver (nothing is downloaded).

    Its console messages are kept (``driver.get_log("browser")``); ``offline`` cuts it off from
    every host except 127.0.0.1.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail(INSTALL_HINT, pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", *([OFFLINE] if offline else [])):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    except Exception as e:  # the browser exists but cannot start
        pytest.fail(f"Chromium did not start ({str(e).splitlines()[0][:200]}); {INSTALL_HINT}", pytrace=False)


def console_errors(driver) -> list[str]:
    """The console errors logged since the last call (warnings and messages pass)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def foreign_requests(driver) -> list[str]:
    """Resources the current page asked of any origin but its own."""
    return driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                                 ".filter(n => !n.startsWith(location.origin))")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1; yields the base URL and stops the server after."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
