"""Built-in synthetic image-caption pairs: scenes of coloured shapes, rendered with numpy.

A scene holds one or two objects on a 3x3 grid over a noisy, tinted grey background. Each object
has a colour (8, saturated), a shape (8) and a size (small/large); it sits in one grid cell.
Two-object scenes always pair one **large** and one **small** object in different cells, so the
scene has a well-defined main object.

Scene space (``SCENE_SPACE`` = 296,064 scenes):

- single object: colour x shape x size x cell = 8 * 8 * 2 * 9 = 1,152 scenes;
- two objects: large (colour x shape x cell) x small (colour x shape x another cell)
  = 576 * 512 = 294,912 scenes.

**Uniqueness.** Every scene is one integer *code* of that space and a code decodes to exactly one
attribute tuple (``Scenes.key``); a split is a slice of a seeded permutation of codes, so no two
pairs of a split (or of the two splits together) share the attribute tuple their captions
describe. Captions state every attribute (colour, shape, size and position of each object), so
retrieval ground truth is unambiguous. Jitter of position, size, colour and the background is
*not* described by captions: it only varies the pixels.

**Splits.** Each of the two sub-spaces is permuted with ``seed``; the first eighth of each
permutation is the eval pool (144 + 36,864 scenes), the rest the train pool (1,008 + 258,048).
A split takes its first ``n`` scenes from its pool, interleaving single-object scenes at rate
``SINGLE_FRACTION`` while they last. Train and eval are therefore disjoint, deterministic by
seed, and neither depends on the size of the other.

**Labels** (zero-shot): the class of a scene is the (colour, shape) of its main object (the large
one; the only one in a single-object scene): ``label = colour * len(SHAPES) + shape``, 64
classes, prompts like "a photo of a red circle".

**Captions** come from the same attributes with several templates, synonyms for colours, shapes,
sizes and positions, and random object order; wording is deterministic by seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gapviz.data import DataError, PairData

# (canonical name, caption synonyms, RGB): saturated hues that stay apart at 32 px on grey.
COLOURS: tuple[tuple[str, tuple[str, ...], tuple[int, int, int]], ...] = (
    ("red", ("red",), (225, 25, 25)),
    ("green", ("green",), (30, 185, 40)),
    ("blue", ("blue",), (35, 70, 235)),
    ("yellow", ("yellow",), (245, 225, 20)),
    ("orange", ("orange",), (250, 130, 0)),
    ("purple", ("purple", "violet"), (140, 35, 200)),
    ("cyan", ("cyan", "turquoise"), (20, 215, 225)),
    ("pink", ("pink", "magenta"), (245, 70, 190)),
)
SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("circle", ("circle", "disc")),
    ("square", ("square", "box")),
    ("triangle", ("triangle",)),
    ("diamond", ("diamond", "rhombus")),
    ("cross", ("cross", "plus sign")),
    ("ring", ("ring", "donut")),
    ("bar", ("bar", "stripe")),
    ("x", ("x", "x mark")),
)
SIZES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("small", ("small", "little", "tiny")),
    ("large", ("large", "big")),
)
# Cells row-major: 0 top left .. 8 bottom right; each entry is a prepositional phrase.
POSITIONS: tuple[tuple[str, ...], ...] = (
    ("in the top left", "in the upper left corner", "at the top left"),
    ("at the top", "in the top middle", "at the top center"),
    ("in the top right", "in the upper right corner", "at the top right"),
    ("on the left", "in the middle left", "at the left"),
    ("in the center", "in the middle", "at the center"),
    ("on the right", "in the middle right", "at the right"),
    ("in the bottom left", "in the lower left corner", "at the bottom left"),
    ("at the bottom", "in the bottom middle", "at the bottom center"),
    ("in the bottom right", "in the lower right corner", "at the bottom right"),
)
SINGLE_TEMPLATES = (
    "{a}",
    "a photo of {a}",
    "an image with {a}",
    "there is {a}",
    "{pos}, {a_nopos}",
    "one {a_noart}",
)
PAIR_TEMPLATES = (
    "{a} and {b}",
    "a photo of {a} and {b}",
    "an image with {a} and {b}",
    "two shapes: {a} and {b}",
    "there is {a}, and {b}",
    "{a}; {b}",
)

N_COLOURS, N_SHAPES, N_CELLS = len(COLOURS), len(SHAPES), 9
SMALL, LARGE = 0, 1
N_SINGLE = N_COLOURS * N_SHAPES * 2 * N_CELLS
"""Single-object scenes: 1,152."""
N_PAIR = (N_COLOURS * N_SHAPES * N_CELLS) * (N_COLOURS * N_SHAPES * (N_CELLS - 1))
"""Two-object scenes (one large, one small, different cells): 294,912."""
SCENE_SPACE = N_SINGLE + N_PAIR
EVAL_POOL_DIVISOR = 8
"""The first 1/8 of each permuted sub-space is reserved for evaluation."""
SINGLE_FRACTION = 0.25
"""Share of single-object scenes in a split (while the pool has them)."""


def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


CLASS_PROMPTS: list[str] = [f"a photo of {_article(c[0])} {s[0]}" for c in COLOURS for s in SHAPES]
"""Zero-shot prompt of class ``colour * 8 + shape`` (the main object's colour and shape)."""

# Rendering constants, as fractions of a grid cell (image_size / 3).
RADIUS = {SMALL: 0.27, LARGE: 0.44}
"""Object radius per size: at 32 px, about 6 px and 9.4 px across."""
POSITION_JITTER = 0.05
SIZE_JITTER = 0.06
COLOUR_JITTER = 10.0
PIXEL_NOISE = 6.0
_CHUNK_PIXELS = 1 << 21
"""Pixels rendered per step, capping the float32 working image near 24 MB."""

# Seed-stream tags, so each use of the seed draws an independent stream.
_POOL, _MIX, _RENDER, _WORDS = 1, 2, 3, 4
_SPLIT_ID = {"train": 0, "eval": 1}


@dataclass
class Scenes:
    """Attributes of n scenes; slot 0 is the main (large, or only) object, slot 1 the small one.

    Arrays are (n, 2) int; slot 1 holds -1 in single-object scenes.
    """

    colour: np.ndarray
    shape: np.ndarray
    size: np.ndarray
    cell: np.ndarray

    def __len__(self) -> int:
        return int(self.colour.shape[0])

    @property
    def count(self) -> np.ndarray:
        """Objects per scene (1 or 2)."""
        return 1 + (self.colour[:, 1] >= 0)

    @property
    def labels(self) -> np.ndarray:
        """Class id per scene: colour * 8 + shape of the main object (see CLASS_PROMPTS)."""
        return (self.colour[:, 0] * N_SHAPES + self.shape[:, 0]).astype(np.int64)

    def key(self, i: int) -> tuple:
        """The attribute tuple a caption of scene i describes (objects sorted by cell)."""
        objects = [
            (int(self.cell[i, s]), int(self.colour[i, s]), int(self.shape[i, s]), int(self.size[i, s]))
            for s in range(2)
            if self.colour[i, s] >= 0
        ]
        return tuple(sorted(objects))


def decode_codes(codes: np.ndarray) -> Scenes:
    """Scene attributes of integer codes in [0, SCENE_SPACE)."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= SCENE_SPACE):
        raise ValueError(f"scene codes must lie in [0, {SCENE_SPACE})")
    n = codes.shape[0]
    colour, shape, size, cell = (np.full((n, 2), -1, dtype=np.int64) for _ in range(4))
    single = codes < N_SINGLE
    c = codes[single]
    colour[single, 0], c = c % N_COLOURS, c // N_COLOURS
    shape[single, 0], c = c % N_SHAPES, c // N_SHAPES
    size[single, 0], cell[single, 0] = c % 2, c // 2
    c = codes[~single] - N_SINGLE
    colour[~single, 0], c = c % N_COLOURS, c // N_COLOURS
    shape[~single, 0], c = c % N_SHAPES, c // N_SHAPES
    cell[~single, 0], c = c % N_CELLS, c // N_CELLS
    colour[~single, 1], c = c % N_COLOURS, c // N_COLOURS
    shape[~single, 1], c = c % N_SHAPES, c // N_SHAPES
    cell[~single, 1] = (cell[~single, 0] + 1 + c) % N_CELLS  # c in 0..7: any other cell
    size[~single, 0], size[~single, 1] = LARGE, SMALL
    return Scenes(colour=colour, shape=shape, size=size, cell=cell)


def split_codes(n: int, split: Literal["train", "eval"], seed: int) -> np.ndarray:
    """The first n scene codes of a split's pool (see the module docstring)."""
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    pool_rng = np.random.default_rng([seed, _POOL])
    singles = pool_rng.permutation(N_SINGLE)
    pairs = N_SINGLE + pool_rng.permutation(N_PAIR)
    n_single_eval, n_pair_eval = N_SINGLE // EVAL_POOL_DIVISOR, N_PAIR // EVAL_POOL_DIVISOR
    if split == "eval":
        singles, pairs = singles[:n_single_eval], pairs[:n_pair_eval]
    else:
        singles, pairs = singles[n_single_eval:], pairs[n_pair_eval:]
    if n > len(singles) + len(pairs):
        size = "data.eval_size" if split == "eval" else "data.train_size"
        raise DataError(f"synthetic data: {size}={n} exceeds the {len(singles) + len(pairs)} unique scenes of its pool")
    mix_rng = np.random.default_rng([seed, _MIX, _SPLIT_ID[split]])
    is_single = mix_rng.random(n) < SINGLE_FRACTION
    is_single &= np.cumsum(is_single) <= len(singles)
    n_pairs = int(n - is_single.sum())
    if n_pairs > len(pairs):  # only near the pool's limit: fill with the singles left
        extra = np.flatnonzero(~is_single)[len(pairs) - n_pairs :]
        is_single[extra] = True
    codes = np.empty(n, dtype=np.int64)
    codes[is_single] = singles[: int(is_single.sum())]
    codes[~is_single] = pairs[: int((~is_single).sum())]
    return codes


# --- rendering -------------------------------------------------------------------------------


def _shape_distance(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Approximate signed distance to the shape's edge, in radii (negative inside).

    u, v are pixel offsets from the centre divided by the radius (v points down).
    """
    au, av = np.abs(u), np.abs(v)
    name = SHAPES[shape][0]
    if name == "circle":
        return np.sqrt(u * u + v * v) - 1.0
    if name == "square":
        return np.maximum(au, av) - 0.82
    if name == "triangle":  # apex up, base below: vertices (0, -1), (+-1.05, 0.8)
        side = (1.8 * au - 1.05 * v - 1.05) / np.hypot(1.8, 1.05)
        return np.maximum(side, v - 0.8)
    if name == "diamond":
        return (au + av - 1.05) / np.sqrt(2.0)
    if name == "cross":
        return np.minimum(np.maximum(au - 0.34, av - 1.0), np.maximum(au - 1.0, av - 0.34))
    if name == "ring":
        return np.abs(np.sqrt(u * u + v * v) - 0.68) - 0.32
    if name == "bar":
        return np.maximum(au - 1.05, av - 0.42)
    if name == "x":
        p, q = np.abs(u + v) / np.sqrt(2.0), np.abs(u - v) / np.sqrt(2.0)
        return np.minimum(np.maximum(p - 0.3, q - 1.1), np.maximum(p - 1.1, q - 0.3))
    raise ValueError(f"unknown shape {name}")


@dataclass(frozen=True)
class _Layout:
    """Per-image draws of one render call: background, gradient and each object's place, size and colour."""

    base: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    radius: np.ndarray
    rgb: np.ndarray


def _layout(scenes: Scenes, s: int, seed: int) -> _Layout:
    """Draw every per-image quantity up front, one stream each, so an image does not depend on how many
    images are rendered (a split of n is a prefix of a split of m > n) or on chunking."""
    n, cell_px = len(scenes), s / 3.0

    def draw(tag: int) -> np.random.Generator:
        return np.random.default_rng([seed, _RENDER, s, tag])

    grey = draw(0).uniform(70.0, 175.0, size=n)
    base = (grey[:, None] + draw(1).normal(0.0, 7.0, size=(n, 3)) + 0.5).astype(np.float32)  # +0.5: round on cast
    angle = draw(2).uniform(0.0, 2 * np.pi, size=n)
    slope = draw(3).uniform(0.0, 35.0, size=n) / s
    gx, gy = (np.cos(angle) * slope).astype(np.float32), (np.sin(angle) * slope).astype(np.float32)
    jitter = draw(4).uniform(-POSITION_JITTER, POSITION_JITTER, size=(n, 2, 2)) * cell_px
    scale = 1.0 + draw(5).uniform(-SIZE_JITTER, SIZE_JITTER, size=(n, 2))
    palette = np.array([c[2] for c in COLOURS], dtype=np.float32)
    rgb = palette[np.maximum(scenes.colour, 0)] + draw(6).normal(0.0, COLOUR_JITTER, size=(n, 2, 3))
    rgb = np.clip(rgb, 0.0, 255.0).astype(np.float32)
    cx = ((scenes.cell % 3) + 0.5) * cell_px + jitter[..., 0]
    cy = ((scenes.cell // 3) + 0.5) * cell_px + jitter[..., 1]
    radius = np.where(scenes.size == LARGE, RADIUS[LARGE], RADIUS[SMALL]) * cell_px * scale
    return _Layout(base=base, gx=gx, gy=gy, cx=cx, cy=cy, radius=radius, rgb=rgb)


def _paint_shapes(img: np.ndarray, start: int, scenes: Scenes, lay: _Layout, size: int, w: int) -> None:
    """Blend every object of one size class into the chunk ``img`` (images start..start+len(img))."""
    s = img.shape[1]
    grid = np.arange(s, dtype=np.float32) + 0.5  # pixel centres
    stop = start + img.shape[0]
    here = (scenes.size[start:stop] == size) & (scenes.colour[start:stop] >= 0)
    offs = np.arange(w)
    for shape in range(N_SHAPES):
        local, slot = np.nonzero(here & (scenes.shape[start:stop] == shape))
        if local.size == 0:
            continue
        obj = (local + start, slot)
        ox = np.clip(np.round(lay.cx[obj] - w / 2), 0, s - w).astype(np.int64)
        oy = np.clip(np.round(lay.cy[obj] - w / 2), 0, s - w).astype(np.int64)
        r = lay.radius[obj].astype(np.float32)[:, None, None]
        u = (grid[ox[:, None] + offs][:, None, :] - lay.cx[obj].astype(np.float32)[:, None, None]) / r
        v = (grid[oy[:, None] + offs][:, :, None] - lay.cy[obj].astype(np.float32)[:, None, None]) / r
        u, v = np.broadcast_arrays(u, v)
        alpha = np.clip(0.5 - _shape_distance(shape, u, v) * r, 0.0, 1.0)[..., None]
        rows = (oy[:, None] + offs)[:, :, None]
        cols = (ox[:, None] + offs)[:, None, :]
        patch = img[local[:, None, None], rows, cols]
        patch += (lay.rgb[obj][:, None, None, :] - patch) * alpha
        img[local[:, None, None], rows, cols] = patch


def render(
    scenes: Scenes,
    image_size: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Render scenes to uint8 (n, image_size, image_size, 3) images, vectorised over images.

    Jitter (object position, size, colour; background level, tint, gradient and pixel noise) is
    drawn from ``seed``; captions do not describe it. Shapes are anti-aliased from a signed
    distance and drawn only inside a window around each object, which keeps 224-px images cheap.
    """
    if image_size < 4:
        raise ValueError("image_size must be at least 4 pixels")
    n, s = len(scenes), image_size
    out = np.empty((n, s, s, 3), dtype=np.uint8)
    cell_px = s / 3.0
    grid = np.arange(s, dtype=np.float32) + 0.5  # pixel centres
    lay = _layout(scenes, s, seed)
    # Window per size: covers the farthest shape point (1.05 radii) plus the anti-aliased edge.
    window = {
        size: min(s, int(np.ceil(2 * (1.05 * RADIUS[size] * (1 + SIZE_JITTER) * cell_px + 1)))) for size in RADIUS
    }
    chunk = max(1, _CHUNK_PIXELS // (s * s))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        noise = np.random.default_rng([seed, _RENDER, s, 7, start]).standard_normal(
            (stop - start, s, s), dtype=np.float32
        )
        lum = noise * PIXEL_NOISE
        lum += lay.gx[start:stop, None, None] * (grid[None, None, :] - s / 2)
        lum += lay.gy[start:stop, None, None] * (grid[None, :, None] - s / 2)
        img = lum[..., None] + lay.base[start:stop, None, None, :]
        for size, w in window.items():
            _paint_shapes(img, start, scenes, lay, size, w)
        np.clip(img, 0.0, 255.0, out=img)
        out[start:stop] = img  # truncation after the +0.5 above rounds
        if progress is not None:
            progress(stop, n)
    return out


# --- captions --------------------------------------------------------------------------------


def captions(scenes: Scenes, seed: int = 0, stream: int = 0) -> list[str]:
    """One caption per scene, stating every attribute; wording drawn from (seed, stream)."""
    rng = np.random.default_rng([seed, _WORDS, stream])
    n = len(scenes)
    # Draw every choice up front (vectorised); each column is one word choice.
    draws = rng.integers(0, 1 << 30, size=(n, 12))
    out = []
    for i in range(n):
        d = draws[i]
        phrases = []
        for slot in range(2):
            colour = int(scenes.colour[i, slot])
            if colour < 0:
                continue
            k = 5 * slot
            size_words = SIZES[int(scenes.size[i, slot])][1]
            colour_words = COLOURS[colour][1]
            shape_words = SHAPES[int(scenes.shape[i, slot])][1]
            words = (
                size_words[d[k] % len(size_words)],
                colour_words[d[k + 1] % len(colour_words)],
                shape_words[d[k + 2] % len(shape_words)],
            )
            pos = POSITIONS[int(scenes.cell[i, slot])][d[k + 3] % 3]
            phrases.append((" ".join(words), pos))
        if len(phrases) == 1:
            noun, pos = phrases[0]
            template = SINGLE_TEMPLATES[d[10] % len(SINGLE_TEMPLATES)]
            text = template.format(
                a=f"{_article(noun)} {pos}", a_nopos=_article(noun), a_noart=f"{noun} {pos}", pos=pos
            )
        else:
            if d[11] % 2:
                phrases.reverse()
            a, b = (f"{_article(noun)} {pos}" for noun, pos in phrases)
            text = PAIR_TEMPLATES[d[10] % len(PAIR_TEMPLATES)].format(a=a, b=b)
        out.append(text)
    return out


# --- entry -----------------------------------------------------------------------------------


def generate(
    n: int,
    split: Literal["train", "eval"],
    image_size: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> PairData:
    """n unique synthetic pairs of a split, with zero-shot labels; deterministic by seed."""
    if n < 1:
        raise DataError(f"synthetic data: need at least 1 pair, got {n}")
    codes = split_codes(n, split, seed)
    scenes = decode_codes(codes)
    stream = _SPLIT_ID[split]
    images = render(scenes, image_size, seed=seed * 2 + stream, progress=progress)
    return PairData(
        images=images,
        captions=captions(scenes, seed, stream),
        caption_image=np.arange(n, dtype=np.int64),
        labels=scenes.labels,
        class_prompts=list(CLASS_PROMPTS),
        mismatched=np.zeros(n, dtype=bool),
    )
