"""Decoded-image cache: open_clip-like decoding, cache hits, invalidation, atomicity, broken images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gapviz.data import DataError
from gapviz.data import cache as cache_mod
from gapviz.data.cache import ImageListing, cache_dir, decode_image, decode_listing, load_images


def make_images(folder: Path, n: int = 6, fmt: str = "jpg") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i}.{fmt}"
        Image.new("RGB", (30 + 3 * i, 24), (40 * i, 100, 250 - 40 * i)).save(path)
        paths.append(path)
    return paths


def listing_of(paths: list[Path], captions_per_image: int = 2) -> ImageListing:
    captions = [f"{p.name} #{c}" for p in paths for c in range(captions_per_image)]
    owner = np.repeat(np.arange(len(paths)), captions_per_image)
    return ImageListing(list(paths), [p.name for p in paths], captions, owner, source=paths[0].parent / "list.json")


@pytest.fixture
def count_decodes(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    original = cache_mod.decode_image

    def counting(path, size):
        calls.append(Path(path))
        return original(path, size)

    monkeypatch.setattr(cache_mod, "decode_image", counting)
    return calls


def test_decode_matches_open_clip_preprocessing(tmp_path):
    from torchvision import transforms

    rng = np.random.default_rng(0)
    for size, shape in [(16, (37, 53)), (24, (60, 31)), (32, (32, 32)), (20, (9, 13))]:
        path = tmp_path / f"{shape}.png"
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(path)
        reference = transforms.Compose(
            [transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(size)]
        )(Image.open(path).convert("RGB"))
        assert np.array_equal(decode_image(path, size), np.asarray(reference)), (size, shape)


def test_centre_crop_not_squash(tmp_path):
    image = np.zeros((30, 90, 3), dtype=np.uint8)
    image[:, :30, 0], image[:, 30:60, 1], image[:, 60:, 2] = 255, 255, 255  # red | green | blue
    Image.fromarray(image).save(tmp_path / "wide.png")
    out = decode_image(tmp_path / "wide.png", 10).astype(int)
    assert out.shape == (10, 10, 3)
    assert np.all(out[:, :, 1] > 200) and np.all(out[:, :, 0] < 60) and np.all(out[:, :, 2] < 60)
    Image.open(tmp_path / "wide.png").convert("L").save(tmp_path / "grey.png")  # grey converts to RGB
    assert decode_image(tmp_path / "grey.png", 10).shape == (10, 10, 3)


def test_second_load_is_a_cache_hit(tmp_path, count_decodes):
    paths = make_images(tmp_path / "imgs")
    home = tmp_path / "home"
    calls = []
    first, kept = load_images(paths, 16, home, progress=lambda d, t: calls.append((d, t)))
    assert len(count_decodes) == len(paths) and calls[-1] == (6, 6)
    assert kept.tolist() == list(range(6))
    entries = sorted(p.name for p in cache_dir(home).iterdir())
    assert len(entries) == 2 and entries[0].endswith(".json") and entries[1].endswith(".npy")
    second, _ = load_images(paths, 16, home)
    assert len(count_decodes) == len(paths)  # nothing decoded again
    assert isinstance(second, np.memmap) and not second.flags.writeable
    assert isinstance(first, np.memmap) and not first.flags.writeable
    assert np.array_equal(first, second) and second.shape == (6, 16, 16, 3) and second.dtype == np.uint8


def test_key_changes_with_files_order_and_size(tmp_path, count_decodes):
    paths = make_images(tmp_path / "imgs")
    home = tmp_path / "home"
    load_images(paths, 16, home)
    load_images(paths, 24, home)  # other size: decoded again
    assert len(count_decodes) == 12
    load_images(paths[::-1], 16, home)  # other order: another entry
    assert len(count_decodes) == 18
    Image.new("RGB", (30, 24), (1, 2, 3)).save(paths[2])
    os.utime(paths[2], ns=(1, 1))  # content and mtime changed
    images, _ = load_images(paths, 16, home)
    assert len(count_decodes) == 24
    assert np.abs(images[2].reshape(-1, 3).mean(0) - (1, 2, 3)).max() < 3


def test_decode_listing_maps_captions(tmp_path):
    paths = make_images(tmp_path / "imgs", fmt="png")
    data = decode_listing(listing_of(paths, 3), 12, tmp_path / "home")
    assert data.num_images == 6 and len(data) == 18 and data.skipped == 0
    assert data.caption_image.tolist() == np.repeat(np.arange(6), 3).tolist()
    assert not data.mismatched.any()


def test_broken_image_names_the_file_and_leaves_no_entry(tmp_path):
    paths = make_images(tmp_path / "imgs")
    paths[3].write_bytes(b"this is not a jpeg")
    home = tmp_path / "home"
    with pytest.raises(DataError, match=r"3\.jpg: cannot read image"):
        decode_listing(listing_of(paths), 16, home)
    assert not [p for p in cache_dir(home).iterdir() if p.suffix == ".npy" or "tmp" in p.name]
    truncated = tmp_path / "imgs" / "4.jpg"
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(
        DataError, match=r"3\.jpg: cannot read image.*\(and 1 more; data\.skip_broken=true skips them\)"
    ):
        decode_listing(listing_of(paths), 16, home)


def test_skip_broken_drops_images_and_captions_also_on_cache_hit(tmp_path, count_decodes):
    paths = make_images(tmp_path / "imgs")
    paths[1].write_bytes(b"garbage")
    paths[4].unlink()
    home = tmp_path / "home"
    data = decode_listing(listing_of(paths), 16, home, skip_broken=True)
    assert data.skipped == 2 and data.num_images == 4 and len(data) == 8
    assert all(not c.startswith(("1.jpg", "4.jpg")) for c in data.captions)
    assert data.caption_image.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    expected = np.stack([decode_image(p, 16) for i, p in enumerate(paths) if i not in (1, 4)])
    assert np.array_equal(np.asarray(data.images), expected)
    decoded = len(count_decodes)
    again = decode_listing(listing_of(paths), 16, home, skip_broken=True)
    assert len(count_decodes) == decoded and again.skipped == 2 and again.captions == data.captions
    with pytest.raises(DataError, match=r"1\.jpg: cannot read image"):  # strict mode still fails on a hit
        decode_listing(listing_of(paths), 16, home)
    assert len(count_decodes) == decoded


def test_missing_file_and_all_broken(tmp_path):
    paths = make_images(tmp_path / "imgs", n=2)
    paths[0].unlink()
    with pytest.raises(DataError, match=r"0\.jpg: image file not found"):
        load_images(paths, 8, tmp_path / "home")
    paths[1].unlink()
    with pytest.raises(DataError, match=r"0\.jpg: image file not found \(and 1 more missing\)"):
        load_images(paths, 8, tmp_path / "home")
    with pytest.raises(DataError, match="none of its 2 selected images could be read"):
        decode_listing(listing_of(paths), 8, tmp_path / "home", skip_broken=True)


def test_subset_reindexes_captions(tmp_path):
    paths = make_images(tmp_path / "imgs", n=4)
    listing = listing_of(paths, 2)
    sub = listing.subset([3, 1])
    assert [p.name for p in sub.paths] == ["3.jpg", "1.jpg"]
    assert sub.captions == ["3.jpg #0", "3.jpg #1", "1.jpg #0", "1.jpg #1"]
    assert sub.caption_image.tolist() == [0, 0, 1, 1]
