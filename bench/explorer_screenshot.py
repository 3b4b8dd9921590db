"""The README's picture of the explorer: export runs, open the page in headless Chromium, hover a digit,
walk between two test digits, draw a 7, and save the window.

    PYTHONPATH=src python bench/explorer_screenshot.py runs/quick runs/quick-vae --out docs/explorer.png
"""
import argparse
import tempfile
from pathlib import Path

from isogen.explore import write_explorer
from isogen.explore.browser import chromium, click_point, draw, open_page, wait_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--map", default="tsne", choices=("pca", "tsne"))
    parser.add_argument("--pair", default="11,25", help="test points A,B of the path")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp()) / "explorer"
    write_explorer(args.runs, folder, points=args.points, map_kind=args.map)
    driver = chromium(width=380 * len(args.runs) + 120, height=1250)
    try:
        problem = open_page(driver, folder)
        if problem:
            raise SystemExit(problem)
        draw(driver)
        a, b = map(int, args.pair.split(","))
        click_point(driver, 0, a)
        click_point(driver, 0, b)
        wait_for(driver, "window.isogenExplorer.page.runs.every(r => r.view.strip.dataset.path)")
        driver.execute_script("window.scrollTo(0, 0)")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    finally:
        driver.quit()
    print(args.out)


if __name__ == "__main__":
    main()
