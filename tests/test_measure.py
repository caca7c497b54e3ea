"""Metrics on hand-made masks with known answers, grades, vacuole splitting, GeoJSON round trips."""

import json

import cv2
import numpy as np
import pytest

from napari_steatosis.export import geojson_to_mask, mask_to_geojson, read_geojson, write_geojson
from napari_steatosis.measure import (
    dice, image_measurements, jaccard, patient_summary, pooled_jaccard, r_squared, split_vacuoles, steatosis_grade,
    vacuole_table,
)

Z = np.zeros((10, 10), bool)


def _half():
    a = Z.copy()
    a[:, :5] = True
    b = Z.copy()
    b[:, 2:7] = True  # overlap 3 columns of 5 each
    return a, b


def test_metrics_known_answers():
    full = ~Z
    assert jaccard(Z, Z) == 1.0 and dice(Z, Z) == 1.0  # both empty: perfect agreement
    assert jaccard(full, full) == 1.0 and dice(full, full) == 1.0
    left, right = Z.copy(), Z.copy()
    left[:, :5], right[:, 5:] = True, True
    assert jaccard(left, right) == 0.0 and dice(left, right) == 0.0  # disjoint
    assert jaccard(Z, full) == 0.0
    a, b = _half()
    assert jaccard(a, b) == pytest.approx(30 / 70)
    assert dice(a, b) == pytest.approx(60 / 100)
    half = Z.copy()
    half[:5] = True
    assert jaccard(half, full) == 0.5 and dice(half, full) == pytest.approx(2 / 3)


def test_pooled_jaccard_pools_pixels_not_images():
    a, b = _half()
    small_p, small_t = Z.copy(), Z.copy()
    small_p[0, 0] = True  # one false-positive pixel in an otherwise empty image
    assert pooled_jaccard([(a, b), (small_p, small_t)]) == pytest.approx(30 / 71)
    assert pooled_jaccard([]) == 1.0


def test_r_squared():
    x = [1, 2, 3, 4]
    assert r_squared(x, [2, 4, 6, 8]) == pytest.approx(1.0)
    assert r_squared(x, [8, 6, 4, 2]) == pytest.approx(1.0)  # squared Pearson
    assert np.isnan(r_squared([1, 2], [1, 2]))


@pytest.mark.parametrize("pct, grade", [(0, 0), (4.99, 0), (5, 1), (33, 1), (33.5, 2), (34, 2), (66, 2),
                                        (66.01, 3), (100, 3)])
def test_grade_boundaries(pct, grade):
    assert steatosis_grade(pct) == grade


def test_grade_refuses_nonsense():
    with pytest.raises(ValueError):
        steatosis_grade(-1)
    with pytest.raises(ValueError):
        steatosis_grade(float("nan"))


def test_merged_vacuoles_are_split_and_sized():
    m = np.zeros((120, 200), np.uint8)
    cv2.circle(m, (60, 60), 30, 1, -1)
    cv2.circle(m, (110, 60), 25, 1, -1)  # merged with the first
    cv2.circle(m, (170, 30), 8, 1, -1)  # a separate small one
    labels, n = split_vacuoles(m.astype(bool))
    assert n == 3
    rows = vacuole_table(m.astype(bool), labels=labels)
    diam = sorted(r["equivalent_diameter_px"] for r in rows)
    assert diam[0] == pytest.approx(16, abs=1.5)
    assert [r["type"] for r in sorted(rows, key=lambda r: r["area_px"])] == \
        ["microvesicular", "macrovesicular", "macrovesicular"]
    rows_um = vacuole_table(m.astype(bool), pixel_size_um=0.25, labels=labels)  # 16 px = 4 µm: all micro at 15 µm
    assert sum(r["type"] == "macrovesicular" for r in rows_um) == 0
    assert rows_um[0]["area_um2"] == pytest.approx(rows_um[0]["area_px"] * 0.0625, abs=0.01)
    assert split_vacuoles(np.zeros((5, 5), bool))[1] == 0


def test_image_and_patient_numbers_are_shares_of_tissue():
    tissue = np.ones((100, 100), bool)
    tissue[:, :50] = False
    fat = np.zeros((100, 100), bool)
    fat[:10, 50:] = True  # 500 of 5000 tissue px
    fat[50:60, :10] = True  # on glass: not counted
    one, _ = image_measurements(fat, tissue, fibrosis=fat)
    assert one["steatosis_pct"] == pytest.approx(10.0) and one["fibrosis_pct"] == pytest.approx(10.0)
    two, _ = image_measurements(np.zeros_like(fat), np.ones_like(tissue))
    rows = [dict(patient="A", **one), dict(patient="A", **two), dict(patient="B", **two)]
    p = {r["patient"]: r for r in patient_summary(rows, {"A": 7.0})}
    assert p["A"]["steatosis_pct"] == pytest.approx(100 * 500 / 15000, abs=1e-3)  # area-weighted, not mean of %
    assert p["A"]["steatosis_grade"] == 0 and p["A"]["physician_grade"] == 1
    assert "physician_steatosis_pct" not in p["B"]


def test_geojson_is_valid_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    m = np.zeros((150, 160), np.uint8)
    cv2.circle(m, (50, 50), 35, 1, -1)
    cv2.circle(m, (50, 50), 12, 0, -1)  # a hole
    cv2.circle(m, (50, 50), 4, 1, -1)  # an island in the hole
    for _ in range(15):
        cv2.circle(m, (int(rng.uniform(0, 160)), int(rng.uniform(0, 150))), int(rng.uniform(1, 9)), 1, -1)
    m[0, :] = 1  # touches the border
    m[149, 159] = 1  # a single pixel in the corner
    mask = m.astype(bool)
    geo = mask_to_geojson(mask)
    write_geojson(tmp_path / "x.geojson", geo)
    back = read_geojson(tmp_path / "x.geojson")
    assert back["type"] == "FeatureCollection"
    for f in back["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
        assert f["properties"]["classification"]["name"] == "Steatosis"
        for ring in f["geometry"]["coordinates"]:
            assert ring[0] == ring[-1] and len(ring) >= 2  # closed rings
    assert any(len(f["geometry"]["coordinates"]) > 1 for f in back["features"])  # the hole is an inner ring
    assert np.array_equal(geojson_to_mask(back, mask.shape), mask)
    noise = rng.random((60, 70)) > 0.55
    assert np.array_equal(geojson_to_mask(mask_to_geojson(noise), noise.shape), noise)
    json.dumps(geo)  # plain JSON types only
