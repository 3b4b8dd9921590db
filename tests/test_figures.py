"""Pictures: the grid layout against torchvision's make_grid, and every figure writes a PNG."""
import numpy as np
import pytest
import torch

from isogen import figures


@pytest.mark.parametrize("n, nrow", [(100, 10), (7, 3), (12, 12), (1, 10), (26, 12)])
def test_tile_is_torchvisions_make_grid_for_one_channel(n, nrow):
    from torchvision.utils import make_grid

    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n))
    assert torch.equal(figures.tile(x, nrow), make_grid(x, nrow=nrow, padding=2, pad_value=0.5)[0])


def test_every_figure_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    figures.image_grid(tmp_path / "grid.png", torch.rand(12, 1, 28, 28), 6, "grid", [f"row {i}" for i in range(2)])
    eig = sorted(rng.random(8), reverse=True)
    figures.spectrum(tmp_path / "spectrum.png", eig, 3.0, 7.1)
    codes = rng.normal(size=(60, 8))
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    figures.code_maps(tmp_path / "maps.png", unit, rng.integers(0, 10, 60))
    figures.picture_mosaic(tmp_path / "mosaic.png", [(tmp_path / "grid.png", "a"), (tmp_path / "spectrum.png", "b")])
    figures.spectra(tmp_path / "spectra.png", {"a": eig, "b": eig[::-1]})
    figures.tradeoff(tmp_path / "tradeoff.png", [{"label": "a", "sampler": "prior", "x": 0.1, "y": 100.0,
                                                  "xerr": 0.01, "yerr": 5.0},
                                                 {"label": "b", "sampler": "matched", "x": 0.2, "y": 90.0,
                                                  "xerr": None, "yerr": None}], ["prior", "matched"], "classifier FID")
    curve = {"sampler": "prior", "main": 0.1, "spread": 12.0, "points": [(0.1, 600.0, 0.9), (1.0, 500.0, 0.8)]}
    figures.sensitivity(tmp_path / "sensitivity.png",  # five panels: a second row with spare axes
                        {"a: lambda": curve, "b: tau": {**curve, "spread": None}, **{str(i): curve for i in range(3)}})
    figures.endpoints(tmp_path / "endpoints.png", [("Q1 mse", -0.003, -0.007, -0.0001, 0.09),
                                                   ("Q2 cfid", -84.0, -109.0, -60.0, 0.01), ("Q5", 0.0, 0.0, 0.0, 1.0)])
    for path in tmp_path.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000, path.name


def test_a_mosaic_of_fewer_pictures_than_columns_is_no_wider_than_they_need(tmp_path):
    import matplotlib.image as mpimg

    figures.image_grid(tmp_path / "grid.png", torch.rand(4, 1, 28, 28), 2, "grid")
    pictures = [(tmp_path / "grid.png", "a"), (tmp_path / "grid.png", "b")]
    figures.picture_mosaic(tmp_path / "mosaic.png", pictures, cols=5)
    height, width = mpimg.imread(tmp_path / "mosaic.png").shape[:2]
    assert width < 2.5 * height  # two panels of about 3.2 x 3.4 inches, not five


@pytest.mark.parametrize("probes", [[0.969, 0.971, 0.970], [0.5, 0.99], [0.999, 1.0], [0.2, 0.21]])
def test_the_probe_axis_holds_every_probe_spans_at_least_a_tenth_and_stops_at_one(probes):
    low, high = figures.probe_limits(probes)
    assert low < min(probes) and max(probes) <= high <= 1.0 + 1e-12
    assert high - low >= 0.1 - 1e-12
    assert high - low <= max(0.1, 1.1 * (max(probes) - min(probes))) + 1e-12  # no wider than it needs
