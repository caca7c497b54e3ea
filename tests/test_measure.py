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


def test_overlap_counts_within_a_region_and_shape_check():
    from napari_steatosis.measure import overlap_counts

    a, b = _half()
    assert overlap_counts(a, b) == (30, 20, 20)
    within = Z.copy()
    within[:, :3] = True  # columns 0..2: a has 30, b has 10 (column 2), both 10
    assert overlap_counts(a, b, within) == (10, 20, 0)
    assert jaccard(a, b, within) == pytest.approx(10 / 30) and dice(a, b, within) == pytest.approx(20 / 40)
    assert jaccard(a, b, Z) == 1.0 and dice(a, b, Z) == 1.0  # nothing inside: agreement
    with pytest.raises(ValueError, match=r"prediction \(10, 10\) and truth \(10, 9\) differ in shape"):
        overlap_counts(a, b[:, :9])
    assert pooled_jaccard([(Z, Z), (Z, Z)]) == 1.0 and pooled_jaccard([(a, Z)]) == 0.0


def test_r_squared_needs_three_varied_pairs():
    assert r_squared([1, 2, 3], [1, 3, 2]) == pytest.approx(0.25)
    assert np.isnan(r_squared([1, 1, 1], [1, 2, 3])) and np.isnan(r_squared([1, 2, 3], [5, 5, 5]))


def test_grade_accepts_0_to_100_only():
    assert steatosis_grade(100.0) == 3 and steatosis_grade(0.0) == 0
    for bad in (100.01, -0.01, float("inf")):
        with pytest.raises(ValueError, match="steatosis % must be within 0..100"):
            steatosis_grade(bad)


def _disks(*circles, shape=(100, 160)):
    m = np.zeros(shape, np.uint8)
    for x, y, r in circles:
        cv2.circle(m, (x, y), r, 1, -1)
    return m.astype(bool)


def test_split_vacuoles_drops_specks_and_keeps_the_rest():
    m = _disks((40, 40, 20), (120, 60, 10))
    m[90, 150] = m[90, 151] = True  # a 2 px speck: dropped (min_area 8)
    labels, n = split_vacuoles(m)
    assert n == 2 and labels.max() == 2 and labels.dtype == np.int32
    assert set(np.unique(labels)) == {0, 1, 2} and labels[90, 150] == 0
    assert (labels > 0).sum() == m.sum() - 2  # nothing else is lost
    _, n = split_vacuoles(m, min_area=400)
    assert n == 1  # only the big one (~1250 px) is at least 400 px
    square = np.zeros((30, 30), bool)
    square[5:25, 5:25] = True  # a flat plateau of the distance map still gets a marker
    assert split_vacuoles(square)[1] == 1


def test_split_vacuoles_min_distance():
    m = _disks((60, 50, 18), (88, 50, 18))  # centres 28 px apart: two vacuoles
    assert split_vacuoles(m)[1] == 2
    assert split_vacuoles(m, min_distance=30)[1] == 1


def test_vacuole_table_exact_rows():
    m = np.zeros((60, 80), bool)
    m[10:20, 10:20] = True  # 100 px, centroid (14.5, 14.5)
    m[30:50, 40:60] = True  # 400 px, centroid x=49.5, y=39.5
    labels = np.zeros(m.shape, np.int32)
    labels[10:20, 10:20] = 1
    labels[30:50, 40:60] = 2
    rows = vacuole_table(m, labels=labels, macro_cutoff=np.sqrt(400 / np.pi) * 2)
    assert [(r["vacuole"], r["area_px"], r["centroid_x"], r["centroid_y"]) for r in rows] == \
        [(1, 100, 14.5, 14.5), (2, 400, 49.5, 39.5)]
    assert rows[0]["equivalent_diameter_px"] == pytest.approx(np.sqrt(400 / np.pi), abs=0.01)
    assert [r["type"] for r in rows] == ["microvesicular", "macrovesicular"]  # the cutoff itself is macro
    assert "area_um2" not in rows[0]
    # default cutoffs: 30 px without a pixel size, 15 µm with one
    assert [r["type"] for r in vacuole_table(m, labels=labels)] == ["microvesicular"] * 2  # 11.3 and 22.6 px
    rows = vacuole_table(m, pixel_size_um=1.0, labels=labels)  # 11.3 and 22.6 µm
    assert [r["type"] for r in rows] == ["microvesicular", "macrovesicular"]
    assert rows[1]["area_um2"] == 400.0 and rows[1]["equivalent_diameter_um"] == pytest.approx(22.57, abs=0.01)
    rows = vacuole_table(m, pixel_size_um=2.0, macro_cutoff=40, labels=labels)  # 22.6 and 45.1 µm
    assert [r["type"] for r in rows] == ["microvesicular", "macrovesicular"] and rows[0]["area_um2"] == 400.0
    assert vacuole_table(np.zeros((5, 5), bool)) == []
    assert len(vacuole_table(m)) == 2  # labels computed when not given


def test_image_measurements_exact_numbers():
    m = np.zeros((60, 80), bool)
    m[10:20, 10:20] = True  # 100 px, diameter 11.28
    m[30:50, 40:60] = True  # 400 px, diameter 22.57
    m[0:6, 70:80] = True  # 60 px, diameter 8.74
    tissue = np.ones((60, 80), bool)
    tissue[:, 70:] = False  # the third region lies on glass
    fib = np.zeros_like(m)
    fib[55:, :] = True  # 5 rows x 70 tissue columns = 350 px (the 50 beyond the tissue do not count)
    out, rows = image_measurements(m, tissue, fib, pixel_size_um=0.5, macro_cutoff=10)
    assert len(rows) == 2
    assert out["tissue_px"] == 4200 and out["steatosis_px"] == 500 and out["n_vacuoles"] == 2
    assert out["steatosis_pct"] == round(100 * 500 / 4200, 4)
    assert out["fibrosis_px"] == 350 and out["fibrosis_pct"] == round(100 * 350 / 4200, 4)
    assert out["median_diameter_px"] == pytest.approx((11.28 + 22.57) / 2, abs=0.01)
    assert out["median_diameter_um"] == pytest.approx(out["median_diameter_px"] * 0.5, abs=0.01)
    assert out["macro_share_pct"] == 80.0  # 400 of 500 px are in the vacuole of 11.3 µm >= 10 µm
    assert out["tissue_mm2"] == round(4200 * 0.25 / 1e6, 5) and out["pixel_size_um"] == 0.5
    plain, _ = image_measurements(m, tissue)
    assert "fibrosis_pct" not in plain and "tissue_mm2" not in plain and "median_diameter_um" not in plain
    assert plain["macro_share_pct"] == 0.0  # 22.6 px < 30 px
    empty, _ = image_measurements(np.zeros_like(m), np.zeros_like(m), np.zeros_like(m), pixel_size_um=1)
    assert (empty["steatosis_pct"], empty["fibrosis_pct"], empty["median_diameter_px"], empty["macro_share_pct"],
            empty["median_diameter_um"], empty["n_vacuoles"]) == (0.0, 0.0, 0.0, 0.0, 0.0, 0)


def test_patient_summary_exact_rows():
    rows = [dict(patient="B", tissue_px=1000, steatosis_px=100, n_vacuoles=3, fibrosis_px=10),
            dict(patient="A", tissue_px=3000, steatosis_px=2100, n_vacuoles=5, fibrosis_px=30),
            dict(patient="A", tissue_px=1000, steatosis_px=700, n_vacuoles=2, fibrosis_px=50),
            dict(patient="C", tissue_px=0, steatosis_px=0, n_vacuoles=0)]
    out = patient_summary(rows, {"A": 70.0, "C": 3.0})
    assert [p["patient"] for p in out] == ["A", "B", "C"]
    a, b, c = out
    assert a == dict(patient="A", n_images=2, tissue_px=4000, steatosis_px=2800, steatosis_pct=70.0,
                     steatosis_grade=3, n_vacuoles=7, fibrosis_pct=2.0, physician_steatosis_pct=70.0,
                     physician_grade=3)
    assert b["steatosis_pct"] == 10.0 and b["steatosis_grade"] == 1 and b["fibrosis_pct"] == 1.0
    assert "physician_steatosis_pct" not in b and "physician_grade" not in b
    assert c["steatosis_pct"] == 0.0 and "fibrosis_pct" not in c and c["physician_grade"] == 0
    mixed = patient_summary([dict(patient="A", tissue_px=10, steatosis_px=1, n_vacuoles=1, fibrosis_px=1),
                             dict(patient="A", tissue_px=10, steatosis_px=1, n_vacuoles=1)])
    assert "fibrosis_pct" not in mixed[0]  # not every image measured fibrosis: no patient number
    assert patient_summary([dict(patient="Z", tissue_px=0, steatosis_px=0, n_vacuoles=0, fibrosis_px=0)],
                           None)[0]["fibrosis_pct"] == 0.0


def test_label_images_count_as_masks():
    from napari_steatosis.measure import overlap_counts

    labels = np.zeros((10, 10), np.int32)
    labels[:, :5] = 2  # a label image (values 1..k) is a mask of its nonzero pixels
    a, b = _half()
    assert overlap_counts(labels, b) == overlap_counts(a, b) == overlap_counts(a, b.astype(np.uint8) * 2)
    tissue = np.ones((10, 10), bool)
    out, _ = image_measurements(labels, tissue, fibrosis=labels)
    assert out["steatosis_px"] == 50 and out["fibrosis_px"] == 50


def test_pooled_jaccard_of_disjoint_masks_of_equal_size_is_zero():
    a, b = Z.copy(), Z.copy()
    a[0, :3], b[5, :3] = True, True  # tp 0, fp 3, fn 3
    assert pooled_jaccard([(a, b)]) == 0.0


def test_r_squared_with_unit_spread():
    x = [0, 2, 0, 2]  # standard deviation exactly 1
    assert r_squared(x, [0, 2, 0, 1]) == pytest.approx(np.corrcoef(x, [0, 2, 0, 1])[0, 1] ** 2)
    assert r_squared([0, 2, 0, 1], x) == pytest.approx(np.corrcoef(x, [0, 2, 0, 1])[0, 1] ** 2)


def test_vacuole_splitting_defaults_min_distance_4_and_min_area_8():
    for r, d in ((5, 6), (6, 7)):  # two vacuoles whose centres are 6 (7) px apart: split at 4, not at 5
        m = np.zeros((40, 60), np.uint8)
        cv2.circle(m, (20, 20), r, 1, -1)
        cv2.circle(m, (20 + d, 20), r, 1, -1)
        assert split_vacuoles(m.astype(bool))[1] == 2
        assert split_vacuoles(m.astype(bool), min_distance=5)[1] == 1
    m = np.zeros((20, 40), bool)
    m[2:4, 2:6] = True  # 8 px: a vacuole
    m[10:12, 20:23] = m[12, 20] = True  # 7 px: dropped
    labels, n = split_vacuoles(m)
    assert n == 1 and labels[2, 2] == 1 and labels[10, 20] == 0
    speck = np.zeros((20, 20), bool)
    speck[5, 5:8] = True
    labels, n = split_vacuoles(speck)  # a lone speck is no vacuole
    assert n == 0 and not labels.any() and labels.dtype == np.int32
    empty, n = split_vacuoles(np.zeros((4, 4), bool))
    assert n == 0 and empty.dtype == np.int32 and empty.shape == (4, 4)


def test_vacuoles_cut_by_the_image_edge_are_split_too():
    m = np.zeros((40, 80), np.uint8)
    cv2.circle(m, (30, 0), 12, 1, -1)
    cv2.circle(m, (50, 0), 12, 1, -1)
    assert split_vacuoles(m.astype(bool))[1] == 2


def test_every_region_gets_a_vacuole_even_without_a_distance_peak(monkeypatch):
    """If the peak finder finds no peak in a region, the region's deepest point seeds it:
    a vacuole is never lost."""
    import skimage.feature

    m = _disks((40, 40, 20), (120, 60, 10))
    monkeypatch.setattr(skimage.feature, "peak_local_max", lambda *a, **k: np.zeros((0, 2), int))
    labels, n = split_vacuoles(m)
    assert n == 2 and set(np.unique(labels)) == {0, 1, 2}
    assert (labels > 0).sum() == m.sum()
    assert labels[40, 40] != labels[60, 120]


def test_vacuole_table_single_vacuole_one_pixel_and_rounding():
    labels = np.zeros((30, 30), np.int32)
    labels[10, 7] = 1  # a 1 px vacuole (a label image given by the caller)
    rows = vacuole_table(labels > 0, labels=labels, pixel_size_um=0.3)
    assert len(rows) == 1
    r = rows[0]
    assert (r["area_px"], r["centroid_x"], r["centroid_y"]) == (1, 7.0, 10.0)
    assert r["area_um2"] == 0.09 and r["equivalent_diameter_px"] == 1.13 and r["equivalent_diameter_um"] == 0.34
    labels[:] = 0
    labels[0, 0] = labels[0, 1] = labels[1, 0] = 1  # 3 px: centroid x = y = 1/3
    labels[20:27, 20:23] = 2  # 21 px: centroid x 21, y 23
    rows = vacuole_table(labels > 0, labels=labels, pixel_size_um=0.7)
    assert (rows[0]["centroid_x"], rows[0]["centroid_y"]) == (0.3, 0.3)
    assert rows[0]["equivalent_diameter_px"] == round(np.sqrt(12 / np.pi), 2) == 1.95
    assert rows[1]["area_um2"] == round(21 * 0.49, 2) and rows[1]["equivalent_diameter_um"] == round(
        np.sqrt(84 / np.pi) * 0.7, 2)
    third = np.zeros((9, 9), np.int32)
    third[0, 0:3] = 1  # 3 px: centroid x 1.0, y 0.0
    third[4:6, 4:7] = 2
    third[8, 8] = 3
    rows = vacuole_table(third > 0, labels=third)
    assert [(r["centroid_x"], r["centroid_y"]) for r in rows] == [(1.0, 0.0), (5.0, 4.5), (8.0, 8.0)]


def test_default_macro_cutoffs_are_30_px_and_15_um_inclusive():
    labels = np.zeros((80, 80), np.int32)
    cv2.circle(labels, (40, 40), 17, 1, -1)
    area = int((labels == 1).sum())
    d = np.sqrt(4 * area / np.pi)
    assert 30 < d < 36
    rows = vacuole_table(labels > 0, labels=labels)
    assert rows[0]["type"] == "macrovesicular"
    assert vacuole_table(labels > 0, labels=labels, pixel_size_um=15 / d)[0]["type"] == "macrovesicular"
    assert vacuole_table(labels > 0, labels=labels, pixel_size_um=14.99 / d)[0]["type"] == "microvesicular"
    small = np.zeros((80, 80), np.int32)
    cv2.circle(small, (40, 40), 14, 1, -1)
    d = np.sqrt(4 * (small == 1).sum() / np.pi)
    assert 27 < d < 30
    assert vacuole_table(small > 0, labels=small)[0]["type"] == "microvesicular"
    assert vacuole_table(small > 0, labels=small, macro_cutoff=d)[0]["type"] == "macrovesicular"
    assert vacuole_table(small > 0, labels=small, pixel_size_um=1.0)[0]["type"] == "macrovesicular"  # 28 µm >= 15


def test_numbers_are_rounded_as_written():
    tissue = np.zeros((100, 100), bool)
    tissue[:, :30] = True  # 3000 px
    fat = np.zeros((100, 100), bool)
    fat[0:10, 0:10] = True  # 100 px, 11.28 px wide
    fat[50:52, 0:1] = True  # 2 px: dropped by the vacuole splitting, but counted in the area
    fat[20:29, 20:29] = True  # 81 px, 10.16 px wide
    fib = np.zeros_like(fat)
    fib[90:, :7] = True  # 70 px
    out, rows = image_measurements(fat, tissue, fib, pixel_size_um=40.0, macro_cutoff=450)
    assert out["steatosis_pct"] == round(100 * 183 / 3000, 4) == 6.1
    assert out["fibrosis_pct"] == round(100 * 70 / 3000, 4) == 2.3333
    assert out["macro_share_pct"] == round(100 * 100 / 183, 2) == 54.64  # 11.28 px * 40 = 451 µm >= 450
    assert out["tissue_mm2"] == round(3000 * 1600 / 1e6, 5) == 4.8
    big, _ = image_measurements(fat, np.ones((100, 100), bool), pixel_size_um=40.0)
    assert big["tissue_mm2"] == 16.0
    assert out["median_diameter_px"] == round(float(np.median([np.sqrt(400 / np.pi), np.sqrt(324 / np.pi)])), 2)
    assert out["median_diameter_um"] == round(out["median_diameter_px"] * 40.0, 2)
    rows = [dict(patient="A", tissue_px=3, steatosis_px=1, n_vacuoles=1, fibrosis_px=2)]
    p = patient_summary(rows)[0]
    assert p["steatosis_pct"] == 33.3333 and p["fibrosis_pct"] == 66.6667
