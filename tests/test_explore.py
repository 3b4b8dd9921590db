"""isogen explore end to end in a real browser: the page's decodings equal PyTorch's to a grey level."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from isogen.data import as_float
from isogen.explore import site
from isogen.explore.browser import chromium, click_point, draw, open_page, wait_for
from isogen.runs import load_run

pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                                reason="needs Debian's chromium and chromium-driver")
POINTS = 200  # the explorer fixture's (conftest.py)
RUNS = ("deconv", "flow", "gauss")  # the explorer fixture's columns (conftest.py): sphere, sphere + flow, R^D


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


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
    index = click_point(browser, 0, 17)
    images, _ = site.test_digits(load_run(explorer / "deconv")[0], POINTS, seed=0)
    for r, name in enumerate(RUNS):
        pixels, code = shown(browser, r, f"test:{index}")
        _, _, model = load_run(explorer / name)
        expected_code = model.encode(as_float(images[index:index + 1])).detach().numpy()[0]
        np.testing.assert_allclose(code, expected_code, atol=1e-5)  # the same test digit, encoded by PyTorch
        expected = pytorch_images(explorer / name, code, page_noise(browser))[0]
        assert np.abs(pixels - expected).max() <= 1.0, name  # canvas pixels are round(255 x value)
        assert pixels.std() > 1  # an image, not a blank

        # the comparison can fail: the opposite code (deconv) or the opposite noise (flow) is another image
        other = pytorch_images(explorer / name, code if name == "flow" else -code, -page_noise(browser))[0]
        assert np.abs(pixels - other).max() > 3


def strip_frames(driver, run: int, steps: int) -> np.ndarray:
    strip = f"window.isogenExplorer.page.runs[{run}].view.strip"
    pixels = np.array(driver.execute_script(f"return Array.from({strip}.getContext('2d').getImageData("
                                            f"0, 0, {28 * steps}, 28).data.filter((_, i) => i % 4 === 0))"))
    return pixels.reshape(28, steps, 28).transpose(1, 0, 2)


def test_paths_sliders_prior_and_gif_on_the_sphere_and_in_rd(explorer, browser):
    assert open_page(browser, explorer / "page") is None
    steps = 6
    browser.execute_script(f"document.getElementById('steps').value = {steps}")
    a, b = click_point(browser, 0, 3), click_point(browser, 0, 40)
    for mode in ("slerp", "lerp"):
        if mode == "lerp":
            browser.execute_script("const m = document.getElementById('mode'); m.value = 'lerp';"
                                   "m.dispatchEvent(new Event('change'))")
        for run in range(3):  # the flow decoder's frames all start from the page's one noise image
            wait_for(browser, f"window.isogenExplorer.page.runs[{run}].view.strip.dataset.path === "
                              f"'{mode}:{a}->{b}:{steps}'")
            _, _, model = load_run(explorer / RUNS[run])
            ends = torch.from_numpy(np.stack([shown_code(browser, a, run), shown_code(browser, b, run)]))
            walk = model.geometry.interpolate(ends[:1], ends[1:], steps, mode)[0]
            expected = pytorch_images(explorer / RUNS[run], walk.numpy(), page_noise(browser))
            assert np.abs(strip_frames(browser, run, steps) - expected).max() <= 1.0, (mode, RUNS[run])

    player = "window.isogenExplorer.page.runs[1].view.player"  # each column plays its path, 4x enlarged
    wait_for(browser, f"!{player}.hidden && {player}.complete && {player}.naturalWidth === {4 * 28}")
    browser.find_element("id", "gif").click()
    gif = bytes(browser.execute_script("return Array.from(window.isogenExplorer.gif)"))
    assert gif[:6] == b"GIF89a" and gif.count(b"\x21\xf9\x04") == 2 * steps - 2  # forth and back, ends once

    # PC1 slider at +2: the code moves 2 sigma along the first principal direction (back onto the sphere)
    for run in (0, 2):
        browser.execute_script(f"const s = window.isogenExplorer.page.runs[{run}].view.inputs[0]; s.value = 2;"
                               "s.dispatchEvent(new Event('input'))")
        pixels, code = shown(browser, run, f"test:{b}+sliders")
        spreads, directions = browser.execute_script(
            f"const r = window.isogenExplorer.page.runs[{run}]; return [r.spreads, r.directions]")
        moved = shown_code(browser, b, run) + 2 * spreads[0] * np.array(directions[0], dtype=np.float32)
        np.testing.assert_allclose(code, moved / np.linalg.norm(moved) if run == 0 else moved, atol=1e-5)
        assert np.abs(pixels - pytorch_images(explorer / RUNS[run], code, None)[0]).max() <= 1.0

    browser.find_element("id", "sample").click()
    for run in (0, 2):
        pixels, code = shown(browser, run, "prior")
        assert len(code) == 16 and (abs(np.linalg.norm(code) - 1) < 1e-5) == (run == 0)  # N(0, I) in R^D
        assert np.abs(pixels - pytorch_images(explorer / RUNS[run], code, None)[0]).max() <= 1.0
    assert console_errors(browser) == []


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def shown_code(driver, index: int, run: int = 0) -> np.ndarray:
    return np.array(driver.execute_script(f"return Array.from(window.isogenExplorer.page.runs[{run}].code({index}))"),
                    dtype=np.float32)


def test_fitted_samplers_draw_what_the_run_saved(explorer, browser):
    """A fitted sampler's draw in the page is one of the run's own draws; a run without it says so."""
    from isogen.explore.export import SAMPLER_DRAWS
    from isogen.runs import generator
    from isogen.sample import run_samplers

    assert open_page(browser, explorer / "page") is None
    for name, run, other in (("matched", 0, 1), ("learned", 1, 0)):
        browser.execute_script(f"document.getElementById('sampler').value = '{name}'")
        browser.find_element("id", "sample").click()
        wait_for(browser, f"window.isogenExplorer.page.runs[{run}].view.digit.dataset.source.startsWith('{name}:')")
        k = int(browser.execute_script(
            f"return window.isogenExplorer.page.runs[{run}].view.digit.dataset.source").split(":")[1])
        pixels, code = shown(browser, run, f"{name}:{k}")
        run_dir = explorer / RUNS[run]
        _, method, model = load_run(run_dir)
        draws = run_samplers(run_dir, method, model)[name].sample(SAMPLER_DRAWS,
                                                                  generator(torch.device("cpu"), 0, f"explore-{name}"))
        np.testing.assert_allclose(code, draws[k].numpy(), atol=1e-6)
        assert np.abs(pixels - pytorch_images(run_dir, code, page_noise(browser))[0]).max() <= 1.0
        caption = browser.execute_script(f"return window.isogenExplorer.page.runs[{other}].view.caption.textContent")
        assert caption.startswith(f"this run has no {name} sampler")


def test_a_drawn_digit_is_encoded_decoded_and_matched_to_its_neighbours(explorer, browser):
    assert open_page(browser, explorer / "page") is None
    draw(browser)  # a 7
    wait_for(browser, "window.isogenExplorer.drawn && window.isogenExplorer.drawn.codes.length === 3")
    pixels_in = np.array(browser.execute_script("return Array.from(window.isogenExplorer.drawn.input)"),
                         dtype=np.float32)
    assert pixels_in.max() > 0.5 and (pixels_in > 0).mean() < 0.5  # ink, on a black frame
    ink = pixels_in.reshape(28, 28)
    rows, cols = np.nonzero(ink > 0)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 22  # scaled into MNIST's 20 x 20 box (+1 px of smoothing each side)
    centre = [(ink.sum(1 - axis) * np.arange(28)).sum() / ink.sum() for axis in (0, 1)]
    assert np.abs(np.array(centre) - 13.5).max() <= 0.5 + 1e-6  # centre of mass at the frame's centre, to a pixel
    for r, name in enumerate(RUNS):
        _, _, model = load_run(explorer / name)
        page_code = np.array(browser.execute_script(f"return Array.from(window.isogenExplorer.drawn.codes[{r}])"))
        expected = model.encode(torch.from_numpy(pixels_in).view(1, 1, 28, 28)).detach().numpy()[0]
        np.testing.assert_allclose(page_code, expected, atol=1e-5)
        pixels, code = shown(browser, r, "drawing")
        assert np.abs(pixels - pytorch_images(explorer / name, code, page_noise(browser))[0]).max() <= 1.0
        caption = browser.execute_script(
            f"return window.isogenExplorer.page.runs[{r}].view.neighbourCaption.textContent")
        assert caption.startswith("nearest test digits") and len(caption.split(": ")[1].split()) == 6
    assert console_errors(browser) == []


def test_the_page_works_served_over_http_and_fetches_nothing_else(explorer, browser):
    import threading

    running = site.server(explorer / "page", 0)
    threading.Thread(target=running.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{running.server_address[1]}/index.html")
        assert wait_for(browser, "document.body.dataset.ready === 'yes' || window.isogenExplorer.problem",
                        "window.isogenExplorer.problem") is None
        pixels, _ = shown(browser, 0, "test:0")
        assert pixels.std() > 1
        fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        local = f"http://127.0.0.1:{running.server_address[1]}/"
        assert len(fetched) >= 5 and all(url.startswith((local, "blob:", "data:")) for url in fetched), fetched
    finally:
        running.shutdown()
        running.server_close()


def test_a_missing_onnx_export_is_named_on_the_page(explorer, browser, tmp_path):
    broken = tmp_path / "page"
    shutil.copytree(explorer / "page", broken)
    (broken / "models" / "1-velocity.js").unlink()
    problem = open_page(browser, broken)
    assert "models/1-velocity.js" in problem and "missing" in problem and "isogen explore" in problem
    assert browser.find_element("id", "problem").is_displayed()
    assert browser.find_element("id", "sample").get_attribute("disabled")


def test_a_browser_without_webassembly_is_told_so(explorer):
    driver = chromium()
    try:  # what a browser without WebAssembly (or with it switched off by policy) offers the page
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.WebAssembly"})
        problem = open_page(driver, explorer / "page")
    finally:
        driver.quit()
    assert problem.startswith("This browser has no WebAssembly")
