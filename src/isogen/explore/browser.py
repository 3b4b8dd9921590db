"""Drive an explorer page in headless Chromium (Selenium): the real-browser tests and the README's
screenshot use the same few moves. Needs `pip install selenium` and Debian's chromium + chromium-driver."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import IsogenError


def chromium(*flags: str, width: int = 1300, height: int = 1000):
    """A headless Chromium session at the given window size."""
    try:
        from selenium import webdriver
    except ImportError:
        raise IsogenError("driving a browser needs selenium: pip install selenium") from None
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        raise IsogenError("no chromium/chromedriver on PATH; install Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", *flags):
        options.add_argument(flag)
    options.binary_location = binary
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


def wait_for(driver, condition: str, value: str = "true", seconds: float = 60):
    """Wait until the JavaScript `condition` holds, then return the JavaScript `value`."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: d.execute_script(f"return !!({condition})"))
    return driver.execute_script(f"return {value}")


def open_page(driver, folder: Path) -> str | None:
    """Load the explorer from disk; wait until it is ready or reports a problem (returned, else None)."""
    driver.get((Path(folder).resolve() / "index.html").as_uri())
    return wait_for(driver, "document.body.dataset.ready === 'yes' || window.isogenExplorer.problem",
                    "window.isogenExplorer.problem")


def click_point(driver, run: int, index: int) -> int:
    """Move the mouse onto test point `index` of run `run`'s map (it decodes on hover) and click it; returns
    the point the page picked (the first of several drawn on the same pixel)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_elements(By.CSS_SELECTOR, "canvas.map")[run]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    x, y = driver.execute_script("return window.isogenExplorer.pointOnMap(arguments[0], arguments[1])", run, index)
    size = canvas.size  # offsets count from the element's centre
    ActionChains(driver).move_to_element_with_offset(canvas, x - size["width"] / 2, y - size["height"] / 2) \
        .click().perform()
    return driver.execute_script("return window.isogenExplorer.page.picks.at(-1)")


SEVEN = ((-50, -80), (100, 0), (-20, 50), (-20, 60), (-15, 50))  # a start (from the pad's centre) and moves


def draw(driver, strokes=SEVEN) -> None:
    """Draw on the pad with the mouse: `strokes` is a start offset from its centre, then relative moves."""
    from selenium.webdriver.common.action_chains import ActionChains

    pad = driver.find_element("id", "pad")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)
    (dx, dy), *moves = strokes
    chain = ActionChains(driver).move_to_element_with_offset(pad, dx, dy).click_and_hold()
    for dx, dy in moves:
        chain = chain.move_by_offset(dx, dy)
    chain.release().perform()
