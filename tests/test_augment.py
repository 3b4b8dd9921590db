import math

import torch

from isogen.augment import AffineRanges, apply_affine, random_affine, sample_affine


def identity(n):
    return torch.eye(2, 3).expand(n, 2, 3)


def test_identity_map_reproduces_the_image():
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(apply_affine(x, identity(4)), x, atol=1e-5)


def test_zero_ranges_give_the_identity():
    x = torch.rand(3, 1, 28, 28)
    out = random_affine(x, AffineRanges(0, 0, 0, 0), torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-5)


def test_one_pixel_shift_is_a_roll_with_zero_fill():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 5:20, 6:15] = torch.rand(15, 9)
    theta = identity(1).clone()
    theta[0, 0, 2] = -2 / 28  # output(p) = input(p - 1 px): content moves one pixel right
    assert torch.allclose(apply_affine(x, theta), x.roll(1, dims=3), atol=1e-5)


def test_quarter_turn_matches_rot90():
    x = torch.rand(2, 1, 28, 28)
    theta = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]]).expand(2, 2, 3)
    out = apply_affine(x, theta)
    assert torch.allclose(out, torch.rot90(x, k=1, dims=(2, 3)), atol=1e-5) or \
        torch.allclose(out, torch.rot90(x, k=-1, dims=(2, 3)), atol=1e-5)


def test_sampled_maps_respect_their_ranges():
    ranges = AffineRanges(rotation_deg=10, translate_px=2, scale_frac=0.1, shear_deg=0)
    theta = sample_affine(10000, 28, 28, ranges, torch.Generator().manual_seed(1), torch.device("cpu"))
    a = theta[:, :, :2]
    scale = 1 / torch.linalg.det(a).sqrt()  # without shear A = R / scale
    angle = torch.atan2(a[:, 1, 0], a[:, 0, 0])
    assert scale.min() >= 0.9 - 1e-6 and scale.max() <= 1.1 + 1e-6
    assert angle.abs().max() <= math.radians(10) + 1e-6 and angle.abs().max() > math.radians(9.9)
    assert theta[:, :, 2].abs().max() <= 2 * 2 / 28 + 1e-6


def test_each_image_gets_its_own_map_and_seeds_repeat():
    x = torch.rand(1, 1, 28, 28).expand(8, 1, 28, 28)
    ranges = AffineRanges()
    a = random_affine(x, ranges, torch.Generator().manual_seed(3))
    b = random_affine(x, ranges, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])
