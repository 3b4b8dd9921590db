"""isogen explore end to end in a real browser: the page's decodings equal PyTorch's to a grey level."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from isogen.cli import main
from isogen.data import as_float
from isogen.explore import site
from isogen.runs import load_run

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")
POINTS = 200


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    """A sphere run with the deconv decoder and one with the flow decoder, exported together."""
    root = tmp_path_factory.mktemp("explore")
    smoke = ["--no-progress", "epochs=1", "train_subset=512"]
    assert main(["train", "--preset", "smoke", "--run-dir", str(root / "deconv"), *smoke]) == 0
    assert main(["train", "--preset", "smoke-flow", "--run-dir", str(root / "flow"), *smoke]) == 0
    assert main(["explore", str(root / "deconv"), str(root / "flow"), "--out", str(root / "page"),
                 "--points", str(POINTS)]) == 0
    return root


def chromium(*flags):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1300,1000", *flags):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def open_page(driver, folder: Path) -> str | None:
    """Load the page from disk; wait until it is ready or reports a problem (returned)."""
    driver.get((folder / "index.html").as_uri())
    return wait_for(driver, "document.body.dataset.ready === 'yes' || window.isogenExplorer.problem",
                    "window.isogenExplorer.problem")


def wait_for(driver, condition: str, value: str = "true", seconds: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: d.execute_script(f"return !!({condition})"))
    return driver.execute_script(f"return {value}")


def click_point(driver, run: int, index: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_elements(By.CSS_SELECTOR, "canvas.map")[run]
    x, y = driver.execute_script("return window.isogenExplorer.pointOnMap(arguments[0], arguments[1])", run, index)
    size = canvas.size  # offsets count from the element's centre
    ActionChains(driver).move_to_element_with_offset(canvas, x - size["width"] / 2, y - size["height"] / 2) \
        .click().perform()


def shown(driver, run: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Once run `run`'s digit shows `source`: its canvas pixels (28, 28) in 0..255 and its code."""
    view = f"window.isogenExplorer.page.runs[{run}].view"
    wait_for(driver, f"{view}.digit.dataset.source === '{source}' && {view}.digit.dataset.state === 'done'")
    pixels = driver.execute_script(f"const c = {view}.digit; return Array.from(c.getContext('2d')"
                                   ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))")
    code = driver.execute_script(f"return Array.from({view}.shown.z)")
    return np.array(pixels, dtype=np.float64).reshape(28, 28), np.array(code, dtype=np.float32)


def page_noise(driver) -> torch.Tensor:
    return torch.tensor(driver.execute_script("return Array.from(window.isogenExplorer.page.noise)")).view(1, 1, 28, 28)


def pytorch_images(run_dir: Path, codes: np.ndarray, noise: torch.Tensor) -> np.ndarray:
    """(N, D) codes -> (N, 28, 28) in 0..255 by the run's PyTorch decoder (the flow's ODE from `noise`)."""
    _, _, model = load_run(run_dir)
    z = torch.from_numpy(codes).view(-1, model.embed_dim)
    with torch.no_grad():
        images = model.decoder.integrate(noise.expand(len(z), -1, -1, -1), z) if model.decoder.stochastic \
            else model.decoder.generate(z)
    return 255 * images.view(-1, 28, 28).double().numpy()


def test_a_clicked_test_digit_decodes_in_the_page_as_in_pytorch(explorer, browser):
    assert open_page(browser, explorer / "page") is None
    index = 17
    click_point(browser, 0, index)
    images, _ = site.test_digits(load_run(explorer / "deconv")[0], POINTS, seed=0)
    for r, name in enumerate(("deconv", "flow")):
        pixels, code = shown(browser, r, f"test:{index}")
        _, _, model = load_run(explorer / name)
        expected_code = model.encode(as_float(images[index:index + 1])).detach().numpy()[0]
        np.testing.assert_allclose(code, expected_code, atol=1e-5)  # the same test digit, encoded by PyTorch
        expected = pytorch_images(explorer / name, code, page_noise(browser))[0]
        assert np.abs(pixels - expected).max() <= 1.0, name  # canvas pixels are round(255 x value)
        assert pixels.std() > 1  # an image, not a blank

