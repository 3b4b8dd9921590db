"""The explorer folder: a static page that runs the exported graphs with ONNX Runtime Web.

    OUT/index.html, explore.js, explore.css   the page (copied from isogen/explore/page)
    OUT/vendor.js     ONNX Runtime Web (its WebAssembly inlined) and gifenc, from the pinned npm packages
    OUT/data.js       the runs' codes, maps, directions and the test digits, as base64 typed arrays
    OUT/models/R-PART.js   run R's ONNX graph PART (encoder, decoder or velocity), base64

Everything is a classic <script>, because a page opened from disk (file://) may not fetch() its
neighbours; the same folder works served over HTTP. The folder is built beside OUT and swapped in
whole, so an interrupted export leaves the previous explorer intact.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

import isogen

from ..config import Config
from ..data import DATASETS, load_dataset
from ..errors import IsogenError
from ..runs import generator, load_run
from .export import RunExport, b64, check_run_folder, export_run

PAGE = Path(__file__).parent / "page"
MARKER = "isogen-explorer"  # in index.html: the folder is ours to replace
ORT = "onnxruntime-web/dist"
WASM = "ort-wasm-simd-threaded"  # the single-threaded-capable SIMD build; threads need cross-origin isolation


def web_modules() -> Path:
    """The node_modules folder holding the pinned onnxruntime-web and gifenc (`make web` installs them)."""
    candidates = [Path(os.environ["ISOGEN_WEB_MODULES"])] if os.environ.get("ISOGEN_WEB_MODULES") else []
    candidates += [Path(isogen.__file__).parents[2] / "node_modules", Path.cwd() / "node_modules"]
    for folder in candidates:
        if (folder / ORT / f"{WASM}.wasm").exists() and (folder / "gifenc/dist/gifenc.js").exists():
            return folder
    raise IsogenError(f"onnxruntime-web and gifenc not found in {', '.join(map(str, candidates))}; install them "
                      "with `make web` (npm ci in the repository) or point ISOGEN_WEB_MODULES at a node_modules folder")


def vendor_script(modules: Path) -> str:
    """ORT's browser bundle, its WebAssembly binary and glue module as strings the page hands to it, and gifenc."""
    ort = (modules / ORT / "ort.wasm.min.js").read_text()
    wasm = base64.b64encode((modules / ORT / f"{WASM}.wasm").read_bytes()).decode()
    glue = (modules / ORT / f"{WASM}.mjs").read_text()
    gifenc = (modules / "gifenc/dist/gifenc.js").read_text()
    return (f"{ort}\n;window.ISOGEN_WASM = {json.dumps(wasm)};\nwindow.ISOGEN_WASM_GLUE = {json.dumps(glue)};\n"
            f"window.gifenc = (function () {{ var exports = {{}};\n{gifenc}\nreturn exports; }})();\n")


def write_explorer(run_dirs: list[Path], out: Path, points: int = 2000, map_kind: str = "pca",
                   seed: int = 0) -> Path:
    """Export `run_dirs` (one data set) into the explorer folder `out`; returns index.html."""
    if not run_dirs:
        raise IsogenError("isogen explore needs at least one run folder")
    if points < 10:
        raise IsogenError(f"--points must be at least 10, got {points}")
    check_replaceable(out)
    modules = web_modules()
    runs = []
    for run_dir in run_dirs:
        check_run_folder(run_dir)
        runs.append(load_run(run_dir, "cpu"))
    configs = [config for config, _, _ in runs]
    for run_dir, config in zip(run_dirs, configs, strict=True):
        if config.dataset != configs[0].dataset:
            raise IsogenError(f"{run_dir} was trained on {config.dataset} and {run_dirs[0]} on {configs[0].dataset}; "
                              "explore runs of one data set together")
    images, labels = test_digits(configs[0], points, seed)
    exports: list[RunExport] = []
    for run_dir, run in zip(run_dirs, runs, strict=True):
        exports.append(export_run(run_dir, run, images, map_kind, seed))
        print(f"exported {run_dir}")
    data = {"runs": [e.info for e in exports], "images": b64(images.numpy()), "labels": b64(labels.numpy()),
            "points": len(images), "seed": seed, "classes": list(DATASETS[configs[0].dataset].class_names)}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for leftover in out.parent.glob(f".{out.name}.*"):  # builds of an export killed before its swap
            shutil.rmtree(leftover, ignore_errors=True)
        build = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise IsogenError(f"cannot write in {out.parent}: {e.strerror}; choose a writable folder for --out") from e
    try:
        build.chmod(0o755)  # mkdtemp's folder is private; a page is for reading
        for page_file in PAGE.iterdir():
            shutil.copyfile(page_file, build / page_file.name)
        (build / "vendor.js").write_text(vendor_script(modules))
        (build / "data.js").write_text(f"window.ISOGEN_DATA = {json.dumps(data)};\n")
        (build / "models").mkdir()
        for index, export in enumerate(exports):
            for part, graph in export.graphs.items():
                (build / "models" / f"{index}-{part}.js").write_text(
                    f"(window.ISOGEN_MODELS = window.ISOGEN_MODELS || {{}})[{json.dumps(f'{index}/{part}')}] = "
                    f"{json.dumps(base64.b64encode(graph).decode())};\n")
        _swap_in(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return out / "index.html"


def check_replaceable(out: Path) -> None:
    """`out` may be written: absent, an empty folder, or an explorer written before (which is replaced)."""
    index = out / "index.html"
    if not out.exists() or out.is_dir() and not any(out.iterdir()):
        return
    if not (index.is_file() and MARKER in index.read_text(errors="replace")):
        raise IsogenError(f"{out} exists and is not an isogen explorer; choose another --out (nothing was written)")


def test_digits(config: Config, points: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`points` test digits drawn at random (seeded) from the data set: images (N, 28, 28) uint8, labels (N,)."""
    data = load_dataset(config.dataset, config.data_dir)
    pick = torch.randperm(len(data.test_images), generator=generator(torch.device("cpu"), seed, "explore"))[:points]
    return data.test_images[pick], data.test_labels[pick].to(torch.uint8)


def _swap_in(build: Path, out: Path) -> None:
    """Replace `out` by the finished folder `build`: old explorer moved aside, new one renamed in, old removed."""
    old = None
    if out.exists():
        old = build.with_name(build.name + ".old")
        out.rename(old)
    build.rename(out)
    if old is not None:
        shutil.rmtree(old)


def server(folder: Path, port: int) -> http.server.ThreadingHTTPServer:
    """An HTTP server of the explorer folder on localhost:PORT (0: any free port), not yet serving."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise IsogenError(f"cannot serve on port {port} ({e.strerror}); choose another with --serve PORT") from e


def serve(folder: Path, port: int) -> None:
    """Serve the explorer folder on http://localhost:PORT until interrupted."""
    with server(folder, port) as running:
        print(f"serving {folder} at http://localhost:{running.server_address[1]}/ (Ctrl-C stops)")
        running.serve_forever()
