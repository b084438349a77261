"""Headless Chromium smoke test of the game page (Debian chromium + chromedriver, never a download)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from bot.arena import map_from_arrays, serve
from bot.driver import DriverOptions, make_driver
from geoloc.geo import haversine_km
from geoloc.geo.mercator import latlon_to_viewport_px, viewport_px_to_latlon

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

def _driver():
    return make_driver(DriverOptions(window_size=(921, 1000), loopback_only=True, performance_log=False))


def _distinct_views():
    """Two places; each heading's view is a flat colour that names the heading."""
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    views = [Image.new("RGB", (64, 64), c) for c in colours]
    return map_from_arrays([48.8566, -33.8688], [2.3522, 151.2093], [views, views])


@pytest.fixture(scope="module")
def driver():
    drv = _driver()
    yield drv
    drv.quit()


def test_page_compass_map_click_guess_result(driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = serve(_distinct_views(), hide_answer=True, seed=0)
    try:
        wait = WebDriverWait(driver, 10)
        driver.get(server.url + "/")
        driver.find_element(By.CSS_SELECTOR, "input[name=mode][value=nm]").click()
        rounds = driver.find_element(By.CSS_SELECTOR, "input[name=rounds]")
        rounds.clear()
        rounds.send_keys("2")
        driver.find_element(By.CSS_SELECTOR, "button[data-qa=start-game-button]").click()
        wait.until(ec.url_contains("/game/"))
        token = driver.current_url.rsplit("/", 1)[1]
        number = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-qa=round-number]")))
        wait.until(lambda d: number.text == "1 / 2")
        img = driver.find_element(By.CSS_SELECTOR, "div[data-qa=panorama] img")
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img))
        start = int(img.get_attribute("data-heading"))
        assert start in (0, 90, 180, 270)
        driver.find_element(By.CSS_SELECTOR, "[data-qa=compass]").click()
        wait.until(lambda d: img.get_attribute("data-heading") == str((start + 90) % 360))
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
        wait.until(lambda d: img.get_attribute("data-heading") == str(start))
        assert str(start) in img.get_attribute("src")

        guess_button = driver.find_element(By.CSS_SELECTOR, "button[data-qa=perform-guess]")
        assert not guess_button.is_enabled()
        canvas = driver.find_element(By.CSS_SELECTOR, "canvas[data-qa=guess-map-canvas]")
        truth = server.store.answer(token, 1)
        w, h = canvas.size["width"], canvas.size["height"]
        center = float(canvas.get_attribute("data-center-lat")), float(canvas.get_attribute("data-center-lng"))
        zoom = float(canvas.get_attribute("data-zoom"))
        px, py = latlon_to_viewport_px(*truth, center=center, zoom=zoom, width=w, height=h)
        # Selenium 4 offsets are from the element's centre.
        dx, dy = round(px - w / 2), round(py - h / 2)
        ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click().perform()
        wait.until(lambda d: guess_button.is_enabled())
        marker = float(canvas.get_attribute("data-marker-lat")), float(canvas.get_attribute("data-marker-lng"))
        # the page's inverse projection agrees with geoloc.geo.mercator at the clicked pixel ...
        clicked = viewport_px_to_latlon(w / 2 + dx, h / 2 + dy, center=center, zoom=zoom, width=w, height=h)
        assert haversine_km(*marker, *clicked) < 1.0
        # ... which is the known point up to pixel rounding (1 px = 0.6 deg of longitude here)
        assert abs(marker[0] - truth[0]) < 0.6 and abs(marker[1] - truth[1]) < 0.6
        if os.environ.get("ARENA_SCREENSHOT"):
            wait.until(lambda d: canvas.get_attribute("data-ready") == "true")
            driver.save_screenshot(os.environ["ARENA_SCREENSHOT"])
        guess_button.click()
        result = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-qa=round-result]")))
        km = float(result.find_element(By.CSS_SELECTOR, "[data-qa=round-result-distance]").text.split()[0])
        points = int(result.find_element(By.CSS_SELECTOR, "[data-qa=round-result-points]").text)
        state = server.store.get(token)
        assert points == state["player"]["guesses"][0]["roundScoreInPoints"] > 4900
        assert km == pytest.approx(haversine_km(*marker, *truth), abs=0.1)
        driver.find_element(By.CSS_SELECTOR, "button[data-qa=close-round-result]").click()
        wait.until(lambda d: number.text == "2 / 2")
        # round 2: timeless; guess anywhere, then the final score
        ActionChains(driver).move_to_element_with_offset(canvas, 10, 10).click().perform()
        wait.until(lambda d: guess_button.is_enabled())
        guess_button.click()
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-qa=round-result]")))
        driver.find_element(By.CSS_SELECTOR, "button[data-qa=close-round-result]").click()
        final = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-qa=final-score]")))
        total = server.store.get(token)["player"]["totalScore"]["amount"]
        assert final.text == total
        assert driver.find_element(By.CSS_SELECTOR, "button[data-qa=play-again-button]").is_displayed()
        assert np.isfinite(float(total))
    finally:
        server.stop()


def test_nmpz_compass_disabled_and_timer_expiry(driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = serve(_distinct_views(), hide_answer=True, seed=1)
    try:
        game = server.store.create({"forbidMoving": True, "forbidRotating": True, "forbidZooming": True,
                                    "timeLimit": 2, "roundCount": 1})
        driver.get(f"{server.url}/game/{game['token']}")
        wait = WebDriverWait(driver, 10)
        img = driver.find_element(By.CSS_SELECTOR, "div[data-qa=panorama] img")
        wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img))
        start = img.get_attribute("data-heading")
        compass = driver.find_element(By.CSS_SELECTOR, "[data-qa=compass]")
        assert compass.get_attribute("data-disabled") == "true"
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        assert driver.find_element(By.CSS_SELECTOR, "[data-qa=pano-zoom-in]").get_attribute("data-disabled") == "true"
        assert img.get_attribute("data-heading") == start
        # no marker: the timer runs out, the page posts timedOut and shows a 0-point result
        result = WebDriverWait(driver, 8).until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-qa=round-result]")))
        assert result.find_element(By.CSS_SELECTOR, "[data-qa=round-result-points]").text == "0"
        guess = server.store.get(game["token"])["player"]["guesses"][0]
        assert guess["timedOut"] is True and guess["roundScoreInPoints"] == 0
    finally:
        server.stop()
