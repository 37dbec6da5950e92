"""`gapviz analyze` as a researcher runs it: intervals, the null floor, collapse warnings, --fix before/after."""

import json

import numpy as np
import pytest

from gapviz.cli.main import main
from gapviz.science.metrics import ALL_KEYS, INTERVAL_NAMES, compute_all


def _pairs(path, n=120, d=16, seed=0, gap=0.8):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, d)) + gap
    text = image + rng.normal(size=(n, d)) - gap
    np.save(path, np.stack([image, text]))
    return image, text


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_carries_every_key_with_intervals(tmp_path, capsys):
    image, text = _pairs(tmp_path / "emb.npy")
    values = _json(capsys, ["analyze", str(tmp_path / "emb.npy"), "--json", "--resamples", "200"])
    assert tuple(values) == ALL_KEYS
    expected = compute_all(image.astype(np.float64), text, n_resamples=200)
    assert values["gap_distance_unbiased"] == pytest.approx(expected["gap_distance_unbiased"])
    for key in INTERVAL_NAMES:  # a NaN end (a metric not measured on this input) is null in JSON
        shown = [float("nan") if v is None else v for v in values[key]]
        assert shown == pytest.approx(expected[key], nan_ok=True), key
    assert values["collapsed_image"] is False and values["gap_distance"] > values["gap_null95"]


def test_collapsed_input_scores_chance_and_warns(tmp_path, capsys):
    rng = np.random.default_rng(1)
    point_x, point_y = rng.normal(size=8), rng.normal(size=8)
    np.save(tmp_path / "c.npy", np.stack([np.tile(point_x, (200, 1)), np.tile(point_y, (200, 1))]))
    values = _json(capsys, ["analyze", str(tmp_path / "c.npy"), "--json", "--resamples", "50"])
    assert values["i2t_r1"] == pytest.approx(1 / 200) and values["t2i_r1"] == pytest.approx(1 / 200)
    assert values["collapsed_image"] is True and values["collapsed_text"] is True
    assert main(["analyze", str(tmp_path / "c.npy"), "--resamples", "0"]) == 0
    out = capsys.readouterr().out
    assert "warning: the image embeddings are collapsed" in out and "warning: the text embeddings are collapsed" in out


def test_table_prints_the_subsample_size_when_the_result_has_it():
    from gapviz.cli.main import _analysis_table

    rng = np.random.default_rng(2)
    values = compute_all(rng.normal(size=(30, 8)) + 0.5, rng.normal(size=(30, 8)), n_resamples=20)
    values.update(modality_probe_n=30.0, uniformity_n=1024.0, mutual_knn_n=float("nan"))
    rows = {line.split()[0]: line for line in _analysis_table(values, values, "centre")[1:]}
    assert rows["modality_probe_accuracy"].count("(n = 30)") == 2  # before and after
    assert rows["uniformity_joint"].count("(n = 1,024)") == 2
    assert "(n =" not in rows["mutual_knn_10"] and "(n =" not in rows["gap_distance"]  # NaN or no size: nothing


def test_zero_vectors_are_a_one_line_error(tmp_path, capsys):
    image, text = _pairs(tmp_path / "emb.npy")
    image[[4, 9]] = 0.0
    np.save(tmp_path / "zero.npy", np.stack([image, text]))
    assert main(["analyze", str(tmp_path / "zero.npy")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "2 image row(s) are zero vectors" in err and "rows 4, 9" in err


@pytest.mark.parametrize("fix", ["centre", "standardise", "ablate:3"])
def test_fix_reports_before_and_after_on_the_held_out_half(tmp_path, capsys, fix):
    from gapviz.science.fixes import held_out_fix, parse_fix

    image, text = _pairs(tmp_path / "emb.npy")
    argv = ["analyze", str(tmp_path / "emb.npy"), "--json", "--fix", fix, "--resamples", "50", "--seed", "2"]
    body = _json(capsys, argv)
    assert list(body) == ["fix", "split", "before", "after"] and body["fix"] == fix
    assert tuple(body["before"]) == ALL_KEYS and tuple(body["after"]) == ALL_KEYS
    assert body["split"] == {
        "fitted_images": 60,
        "measured_images": 60,
        "fitted_captions": 60,
        "measured_captions": 60,
        "seed": 2,
        "text": "fitted on 60 pairs, measured on the other 60 (seed 2)",
    }
    held = held_out_fix(parse_fix(fix), image, text, seed=2)
    options = {"n_resamples": 50, "seed": 2}
    before = compute_all(held.image_before, held.text_before, **options)
    after = compute_all(held.image, held.text, **options)
    for key in ("gap_distance", "i2t_r1", "modality_probe_accuracy"):
        assert body["before"][key] == pytest.approx(before[key]), key
        assert body["after"][key] == pytest.approx(after[key]), key
    if fix != "ablate:3":  # the gap is spread over all 16 coordinates: zeroing 3 of them does not shrink it
        assert body["after"]["gap_distance"] < 0.5 * body["before"]["gap_distance"]
    assert body["after"]["i2t_r1_ci95"][0] <= body["after"]["i2t_r1"]


@pytest.mark.parametrize("fix", ["centre", "ablate:3"])
def test_fix_table_names_the_split_and_marks_the_null_floor(tmp_path, capsys, fix):
    """The ≈ 0 mark and the warning follow the held-out numbers (a fix fitted on one half leaves a residual gap
    of about √2 times the other half's noise, so the mark no longer appears by construction)."""
    _pairs(tmp_path / "emb.npy")
    argv = ["analyze", str(tmp_path / "emb.npy"), "--fix", fix, "--resamples", "100"]
    after = _json(capsys, [*argv, "--json"])["after"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"--fix {fix} fitted on 60 pairs, measured on the other 60 (seed 0)" in out
    assert f"after --fix {fix}" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("gap_distance "))
    floored = after["gap_distance"] <= after["gap_null95"]
    assert row.count("[") == 2 and row.endswith("≈ 0") == floored
    assert (f"after --fix {fix}: gap" in out and "indistinguishable from 0" in out) == floored


def test_fix_split_keeps_every_image_with_its_captions(tmp_path, capsys):
    rng = np.random.default_rng(7)
    image = rng.normal(size=(50, 8)) + 1.0
    index = np.repeat(np.arange(50), 3)
    text = image[index] + rng.normal(size=(150, 8)) - 1.0
    np.savez(tmp_path / "multi.npz", image=image, text=text, text_image_index=index)
    body = _json(capsys, ["analyze", str(tmp_path / "multi.npz"), "--json", "--fix", "centre", "--resamples", "0"])
    split = body["split"]
    assert (split["fitted_images"], split["measured_images"]) == (25, 25)
    assert (split["fitted_captions"], split["measured_captions"]) == (75, 75)
    assert (
        split["text"]
        == "fitted on 25 images and their 75 captions, measured on the other 25 images and 75 captions (seed 0)"
    )


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--fix", "whiten"], "--fix must be one of"),
        (["--max-bytes", "1k"], "above the limit of 1.0 KiB"),
        (["--max-bytes", "many"], "byte count"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, fragment):
    _pairs(tmp_path / "emb.npy")
    assert main(["analyze", str(tmp_path / "emb.npy"), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err


def test_zero_shot_before_and_after_when_the_file_has_classes(tmp_path, capsys):
    from gapviz.science.fixes import Fix, held_out_fix
    from gapviz.science.metrics import zero_shot_accuracy

    rng = np.random.default_rng(5)
    classes = rng.normal(size=(4, 12)) + 1.0
    labels = rng.integers(0, 4, 150)
    image = classes[labels] + 0.8 * rng.normal(size=(150, 12)) + 1.5
    text = classes[labels] + 0.8 * rng.normal(size=(150, 12))
    np.savez(tmp_path / "cls.npz", image=image, text=text, labels=labels, class_text=classes)
    body = _json(capsys, ["analyze", str(tmp_path / "cls.npz"), "--json", "--fix", "centre", "--resamples", "20"])
    held = held_out_fix(Fix("centre"), image, text, seed=0)
    kept = labels[held.split.measured]
    assert body["before"]["zero_shot"] == pytest.approx(zero_shot_accuracy(held.image_before, classes, kept))
    assert body["after"]["zero_shot"] == pytest.approx(zero_shot_accuracy(held.image, held.text_map(classes), kept))
    assert main(["analyze", str(tmp_path / "cls.npz"), "--resamples", "0"]) == 0
    assert any(line.strip().startswith("zero_shot ") for line in capsys.readouterr().out.splitlines())
    np.savez(tmp_path / "half.npz", image=image, text=text, labels=labels)
    assert main(["analyze", str(tmp_path / "half.npz")]) == 1
    assert "labels and class_text come together" in capsys.readouterr().err


@pytest.mark.slow
def test_memory_mapped_file_gives_the_arrays_values_and_prints_the_subsample(tmp_path, capsys, monkeypatch):
    """20,000 pairs take the chunked path: the mapped file's values are the in-memory arrays', retrieval_n shown."""
    from gapviz.api import analyze
    from gapviz.science import chunked

    monkeypatch.setattr(chunked, "SUBSAMPLE_PAIRS", 2_000)  # the default 10,000 makes the same checks slower

    rng = np.random.default_rng(4)
    image = (rng.normal(size=(20_000, 8)) + 0.5).astype(np.float32)
    text = (image + rng.normal(size=image.shape) - 0.5).astype(np.float32)
    np.save(tmp_path / "big.npy", np.stack([image, text]))
    argv = ["analyze", str(tmp_path / "big.npy"), "--resamples", "20"]
    values = _json(capsys, [*argv, "--json"])
    expected = analyze(image, text, resamples=20).to_dict()
    assert values == expected and values["retrieval_n"] == 2_000
    assert main(argv) == 0
    assert "subsample sizes (seeded by --seed) of 20,000 images: retrieval_n 2,000, modality_probe_n 1,000" in (
        capsys.readouterr().out
    )


@pytest.mark.slow
def test_parquet_and_arrow_give_the_npy_values(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    image, text = _pairs(tmp_path / "emb.npy", n=60)
    argv = ["--json", "--resamples", "0"]
    from_npy = _json(capsys, ["analyze", str(tmp_path / "emb.npy"), *argv])

    def vectors(a):
        return pa.FixedSizeListArray.from_arrays(pa.array(a.astype(np.float32).ravel()), a.shape[1])

    table = pa.table({"img": vectors(image), "txt": vectors(text)})
    pq.write_table(table, tmp_path / "emb.parquet")
    feather.write_feather(table, tmp_path / "emb.feather")
    named = ["--image-column", "img", "--text-column", "txt"]
    for name in ("emb.parquet", "emb.feather"):
        values = _json(capsys, ["analyze", str(tmp_path / name), *named, *argv])
        assert values["gap_distance"] == pytest.approx(from_npy["gap_distance"], rel=1e-6)  # float64 → float32
        assert values["i2t_r1"] == from_npy["i2t_r1"]


def test_a_nan_row_is_one_line_naming_the_file_and_the_row(tmp_path, capsys):
    image, text = _pairs(tmp_path / "emb.npy", n=30)
    text[7, 2] = np.nan
    np.save(tmp_path / "nan.npy", np.stack([image, text]))
    assert main(["analyze", str(tmp_path / "nan.npy"), "--resamples", "0"]) != 0
    err = capsys.readouterr().err.strip()
    assert str(tmp_path / "nan.npy") in err and "(rows 7)" in err and "\n" not in err
