"""The explorer as a person uses it: `scripts/explore.py` started as a user starts it, its page driven in Debian's
headless Chromium (.ci/run installs chromium and chromium-driver): show a page, click a face to keep it, move a
direction slider, and a screenshot of the page (FACEGAN_SCREENSHOTS=<folder> keeps a copy there)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import REPO_ROOT, TINY, free_port, run_cli, save_tiny_extractor

DATA = ("data=synthetic", "data.num_images=128")


def start_explorer(*overrides: str, port: int, log: Path) -> subprocess.Popen:
    """scripts/explore.py in its own process, returned once its page answers."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / "explore.py"), *overrides, f"port={port}"]
    server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            return server
        except OSError:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "the explorer did not start"
            time.sleep(0.5)


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses outside the loopback network: those its host name resolves to, and the one it
    would send from (a UDP socket's connect picks the route and sends nothing)."""
    found = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            found.add(probe.getsockname()[0])
        except OSError:  # no route at all: the loopback is the only address
            pass
    return sorted(address for address in found if not address.startswith("127."))


def headless_chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("no chromium or chromedriver: apt-get install chromium chromium-driver (as .ci/run does)")
    options = Options()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run", "--window-size=1400,1400"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)  # the driver given: nothing is downloaded


def drive_the_page(url: str, screenshot: Path, face: int = 3, steps: int = 8) -> dict[str, str]:
    """Show page 0, click face `face`, open Directions, move the first slider `steps` notches to the right; the
    moved face's image address before and after a further move, and the slider's value."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = headless_chromium()
    try:
        wait = WebDriverWait(driver, 120)
        driver.get(url)
        wait.until(lambda page: page.find_elements(By.ID, "show")).pop().click()
        thumbnails = wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#page button.thumbnail-item"))
        wait.until(lambda page: len(page.find_elements(By.CSS_SELECTOR, "#page img")) == len(thumbnails))
        thumbnails[face - 1].click()  # keeps the face
        wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#kept img"))
        tab = next(tab for tab in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]") if tab.text == "Directions")
        tab.click()
        slider = wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#direction-1 input[type=range]")).pop()
        slider.click()  # the slider's middle: 0
        for _ in range(steps):
            slider.send_keys(Keys.ARROW_RIGHT)
        first = wait.until(lambda page: page.find_elements(By.CSS_SELECTOR, "#moved img")).pop().get_attribute("src")
        value = driver.find_element(By.CSS_SELECTOR, "#direction-1 input[type=number]").get_attribute("value")
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(1)  # the last image painted
        driver.save_screenshot(str(screenshot))
        slider.send_keys(Keys.ARROW_RIGHT)
        wait.until(lambda page: page.find_element(By.CSS_SELECTOR, "#moved img").get_attribute("src") != first)
        later = driver.find_element(By.CSS_SELECTOR, "#moved img").get_attribute("src")
        kept = driver.find_element(By.CSS_SELECTOR, "#direction-face input").get_attribute("value")
        return {"moved": first, "moved_further": later, "slider": value, "face": kept}
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.long
def test_a_person_keeps_a_face_and_moves_it_along_a_direction_in_headless_chromium(tmp_path):
    run_dir = tmp_path / "run"
    run_cli(
        "train.py", *TINY, *DATA, "trainer.limit_train_batches=2", "metrics.enabled=false", f"hydra.run.dir={run_dir}"
    )
    port = free_port()
    log = tmp_path / "explore.log"
    server = start_explorer(
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", *DATA, "device=cpu", "directions.samples=512",
        f"metrics.feature_extractor={save_tiny_extractor(tmp_path)}", f"paths.cache_dir={tmp_path / 'cache'}",
        port=port, log=log,
    )  # fmt: skip
    try:
        seen = drive_the_page(f"http://127.0.0.1:{port}/", tmp_path / "explorer.png")
        for address in other_addresses():  # served on the loopback only: the machine's other addresses refuse
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=5).close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert seen["slider"] == "2" and seen["face"] == "face 1" and seen["moved"] != seen["moved_further"]
    assert (tmp_path / "explorer.png").read_bytes().startswith(b"\x89PNG")
    assert "Traceback" not in log.read_text()
    if os.environ.get("FACEGAN_SCREENSHOTS"):
        shutil.copy(tmp_path / "explorer.png", Path(os.environ["FACEGAN_SCREENSHOTS"]) / "explorer_tiny.png")
