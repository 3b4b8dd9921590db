"""The Sphere Encoder's training terms (Yue, Jia, Hou, Goldstein 2026, arXiv 2602.15030), in our notation.

A code z on the unit sphere is jittered along the great circle towards a random direction e (a unit vector,
as good as orthogonal to z in high D) by an angle a:
    z_a = normalise(cos(a) z + sin(a) e),
so a = 0 is the code itself and a = 90 degrees a uniform point of the sphere. With D the decoder's mean
image and E the encoder onto the sphere:
    pixel consistency   C = sum_pixels (D(z_a) - sg D(z_b))^2,  b < a on the same path: nearby latents decode
                        alike, so a far point decodes like a nearer one (sg: no gradient to the target);
    latent consistency  L = dim (1 - cos(E(D(z_a)), sg z)): what a far point decodes to encodes back to the
                        clean code.
Both are summed per image (as the reconstruction's nats are) and averaged over the batch.
"""
import torch
import torch.nn.functional as F


def jitter_on_sphere(z: torch.Tensor, direction: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """z (N, D) unit codes, direction (N, D) any non-zero vectors, angle (N,) radians -> (N, D) unit codes."""
    e = F.normalize(direction, dim=1)
    return F.normalize(angle.cos()[:, None] * z + angle.sin()[:, None] * e, dim=1)


def pixel_consistency(far: torch.Tensor, near: torch.Tensor) -> torch.Tensor:
    """far, near (N, 1, 28, 28) decoded images in [0, 1] -> scalar; no gradient reaches `near`."""
    return (far.float() - near.detach().float()).pow(2).sum((1, 2, 3)).mean()


def latent_consistency(encoded: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """encoded (N, D) unit codes of decoded images, z (N, D) the clean unit codes (no gradient) -> scalar."""
    return z.shape[1] * (1 - F.cosine_similarity(encoded.float(), z.detach().float(), dim=1)).mean()
