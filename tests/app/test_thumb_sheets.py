"""Thumbnail sheets for hover images: the layout maps image i to the cell the browser cuts out, sets are
written once, keyed by a per-home secret, and old sets are pruned."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from gapviz.app.explore import thumb_sheets
from gapviz.errors import GapvizError


def _colours(n: int, size: int = 8) -> np.ndarray:
    """Image i is one flat colour, distinct for every i < 251**2 (survives JPEG within a few levels)."""
    rgb = np.stack([np.arange(n) % 251, np.arange(n) // 251 % 251, 255 - np.arange(n) % 200], axis=1)
    return np.broadcast_to(rgb.astype(np.uint8)[:, None, None, :], (n, size, size, 3)).copy()


def test_tile_puts_image_i_at_its_cell():
    images = np.random.default_rng(0).integers(0, 256, size=(11, 3, 5, 3), dtype=np.uint8)
    sheet = thumb_sheets.tile(images, columns=4)
    assert sheet.shape == (3 * 3, 4 * 5, 3)
    found = thumb_sheets.SheetSet("k", 11, 3, 5, 4, 12)
    for i in range(11):
        _, col, row = found.cell(i)
        assert np.array_equal(sheet[row * 3 : row * 3 + 3, col * 5 : col * 5 + 5], images[i])
    assert not sheet[2 * 3 :, 3 * 5 :].any()  # the unused last cell is black


def test_geometry_fills_a_sheet_of_at_most_the_maximum_size():
    columns, per_sheet = thumb_sheets.geometry(100_000, 64, 64)
    assert columns * 64 <= thumb_sheets.SHEET_MAX_PX and per_sheet == columns * (thumb_sheets.SHEET_MAX_PX // 64)
    assert thumb_sheets.SheetSet("k", 100_000, 64, 64, columns, per_sheet).sheets == -(-100_000 // per_sheet)
    with pytest.raises(GapvizError, match="cannot tile"):
        thumb_sheets.geometry(3, 4096, 8)


def test_sheets_on_disk_hold_each_image_where_the_set_says(tmp_path):
    images = _colours(70_000)  # 8 px: 65,536 a sheet, so two sheets
    found = thumb_sheets.write_sheets(tmp_path, images)
    assert (found.count, found.height, found.width, found.sheets) == (70_000, 8, 8, 2)
    sheets = [np.asarray(Image.open(tmp_path / found.key / f"{k}.jpg").convert("RGB")) for k in range(2)]
    for i in (0, 1, 255, 256, 65_535, 65_536, 69_999):
        sheet, col, row = found.cell(i)
        cell = sheets[sheet][row * 8 : row * 8 + 8, col * 8 : col * 8 + 8].astype(int)
        assert np.abs(cell.mean(axis=(0, 1)) - images[i, 0, 0]).max() < 6, i


def test_a_set_is_written_once_and_reused(tmp_path):
    images = _colours(40)
    first = thumb_sheets.write_sheets(tmp_path, images)
    sheet = tmp_path / first.key / "0.jpg"
    written = sheet.stat().st_mtime_ns
    os.utime(sheet, ns=(written - 10**9, written - 10**9))
    assert thumb_sheets.write_sheets(tmp_path, images) == first
    assert sheet.stat().st_mtime_ns == written - 10**9  # not rewritten
    assert thumb_sheets.write_sheets(tmp_path, images[::-1].copy()).key != first.key


def test_keys_are_secret_per_home_and_the_salt_is_private(tmp_path):
    images = _colours(5)
    a = thumb_sheets.write_sheets(tmp_path / "a", images).key
    b = thumb_sheets.write_sheets(tmp_path / "b", images).key
    assert a != b and len(a) == 40
    assert stat.S_IMODE((tmp_path / "a" / thumb_sheets.SALT_FILE).stat().st_mode) == 0o600


def test_grey_and_rgba_images_become_rgb_and_bad_shapes_are_refused(tmp_path):
    grey = np.full((4, 6, 6), 200, dtype=np.uint8)
    found = thumb_sheets.write_sheets(tmp_path, grey)
    sheet = np.asarray(Image.open(tmp_path / found.key / "0.jpg").convert("RGB"))
    assert sheet.shape == (6, found.columns * 6, 3) and abs(int(sheet[0, 0, 1]) - 200) < 4
    rgba = np.zeros((4, 6, 6, 4), dtype=np.uint8)
    assert thumb_sheets.write_sheets(tmp_path, rgba).count == 4
    with pytest.raises(GapvizError, match="N×H×W×3"):
        thumb_sheets.write_sheets(tmp_path, np.zeros((4, 6), dtype=np.uint8))


def test_old_sets_are_pruned_and_the_new_one_kept(tmp_path):
    keys = []
    for i in range(5):
        keys.append(thumb_sheets.write_sheets(tmp_path, _colours(3 + i)).key)
        manifest = tmp_path / keys[-1] / thumb_sheets.MANIFEST
        os.utime(manifest, (1_000_000 + i, 1_000_000 + i))
    removed = thumb_sheets.prune(tmp_path, keep=keys[0], kept=3)
    assert removed == keys[1:3]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted([keys[0], keys[3], keys[4]])
