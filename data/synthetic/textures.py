"""Procedural textures for the synthetic driving scenes.

Textures are periodic band-limited noise tiles (white noise filtered in the Fourier domain, so the tile wraps
seamlessly) sampled by *world* coordinates of the ray hit point. Because the colour of a surface point depends only
on where the point is in the world (or on the moving object it belongs to), the left, right and previous views see
the same texture at the same surface point, which is what makes stereo and motion cues consistent.
"""
import functools

import numpy as np

TILE_SIZE = 256
_MASK = TILE_SIZE - 1
_OFFSET = 1 << 20  # keeps sample indices positive so truncation acts like floor


@functools.cache
def noise_tiles():
    """Returns {"fine", "medium", "coarse"}: float32 (256, 256) tiles, zero mean, unit std, periodic."""
    rng = np.random.default_rng(20240521)
    frequencies = np.fft.fftfreq(TILE_SIZE)
    radius = np.hypot(frequencies[:, None], frequencies[None, :])
    tiles = {}
    for name, sigma in (("fine", 1.2), ("medium", 4.0), ("coarse", 14.0)):
        white = rng.standard_normal((TILE_SIZE, TILE_SIZE))
        gaussian = np.exp(-2.0 * (np.pi * sigma * radius) ** 2)
        tile = np.real(np.fft.ifft2(np.fft.fft2(white) * gaussian))
        tile = (tile - tile.mean()) / tile.std()
        tiles[name] = tile.astype(np.float32)
    return tiles


def sample(name, a, b, texel):
    """Nearest-texel lookup of tile `name` at world coordinates (a, b) in metres, one texel = `texel` metres."""
    tile = noise_tiles()[name]
    scale = np.float32(1.0 / texel)
    column = (a * scale + _OFFSET).astype(np.int32) & _MASK
    row = (b * scale + _OFFSET).astype(np.int32) & _MASK
    return tile[row, column]
