"""The real app in Debian's Chromium: start ``streamlit run`` headless on loopback, upload a photo,
wait for the map and the top-5 table, screenshot, play one round by clicking the guess map, and
check that no request left 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from app_helpers import image_bytes

from app import harness
from app.harness import colour_share
from app.mapview import GUESS_COLOUR, OCEAN
from app.outlines import OUTLINES_URL
from bot.driver import non_loopback, requests_from_log

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def server(tiny_bundle_dir, tmp_path):
    srv = harness.start_server(tiny_bundle_dir, tmp_path / "server.log")
    try:
        harness.wait_healthy(srv, timeout_s=60)
        yield srv
    finally:
        srv.stop()


def play_by_clicking(driver) -> None:
    """Play mode: a click on the guess map selects a grid point; submitting scores the round."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def page_text(d) -> str:
        return d.find_element(By.CSS_SELECTOR, "[data-testid=stMain]").text

    wait = WebDriverWait(driver, 120)
    driver.find_element(By.XPATH, "//label[contains(., 'Play against the model')]").click()
    wait.until(lambda d: "Your guess: none yet" in page_text(d)
               and d.find_elements(By.CSS_SELECTOR, f"{harness.MAP_SELECTOR} canvas"))
    time.sleep(2)  # deck.gl's first frame
    deck = driver.find_element(By.CSS_SELECTOR, harness.MAP_SELECTOR)
    ActionChains(driver).move_to_element(deck).pause(0.6).click().perform()  # the Sahara: land
    wait.until(lambda d: "Your guess: none yet" not in page_text(d) and "Your guess: " in page_text(d))
    driver.find_element(By.XPATH, "//button[contains(., 'Submit guess')]").click()
    wait.until(lambda d: "Total after 1 round(s)" in page_text(d))
    assert "points" in page_text(driver)


def test_upload_in_chromium_stays_on_loopback(server, tmp_path):
    from selenium.webdriver.common.by import By

    photo = tmp_path / "street.jpg"
    photo.write_bytes(image_bytes(320, 240))
    driver = harness.make_chrome()
    try:
        driver.get(server.url)
        harness.upload_and_wait(driver, [photo], timeout_s=120)
        shot = tmp_path / "app.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        deck = driver.find_element(By.CSS_SELECTOR, harness.MAP_SELECTOR)
        assert deck.size["width"] > 300 and deck.size["height"] > 300
        body = driver.find_element(By.CSS_SELECTOR, "[data-testid=stMain]").text
        assert "Top-5 guesses" in body and "street.jpg" in body and "Traceback" not in body
        assert driver.find_elements(By.CSS_SELECTOR, harness.TABLE_SELECTOR)
        # the map really drew offline: ocean background and the red guess marker are on the canvas
        png = deck.screenshot_as_png
        assert colour_share(png, OCEAN) > 0.2
        assert colour_share(png, GUESS_COLOUR, tol=20) > 0.0
        play_by_clicking(driver)
        urls = requests_from_log(driver)
    finally:
        driver.quit()
    assert any(u.startswith(server.url) for u in urls)
    assert any("/_stcore/stream" in u for u in urls)  # the WebSocket is in the log too
    assert f"{server.url}{OUTLINES_URL}" in urls  # the outlines come from the static file, not the map JSON
    assert non_loopback(urls) == []
