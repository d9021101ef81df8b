"""Vision: object-detection boxes and segmentation masks as tables, against cleanlab 2.9.

The tables are converted to cleanlab's formats (per-image dicts / per-class arrays, N x H x W and
N x K x H x W arrays) and the results must be equal: scores to float tolerance, flags exactly
(cleanlab's unstable argsort at the segmentation cut-off replaced by a stable one). The real data
is imgaug's annotated quokka photo (a box, keypoints and a polygon), installed as data only.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cleanframe  # noqa: F401  (registers .cl)
from cleanframe import vision
from cleanframe.errors import ValidationError
from cleanframe.scoring.vision.detection import detection_scores
from cleanframe.scoring.vision.segmentation import pixel_issues, segmentation_scores

from .conftest import FRAME_TYPES, HYPOTHESIS_SETTINGS, make_frame, to_pandas

od_rank = pytest.importorskip("cleanlab.object_detection.rank")
od_filter = pytest.importorskip("cleanlab.object_detection.filter")
seg_filter = pytest.importorskip("cleanlab.segmentation.filter")
seg_rank = pytest.importorskip("cleanlab.segmentation.rank")
seg_summary = pytest.importorskip("cleanlab.segmentation.summary")
batched = pytest.importorskip("cleanlab.experimental.label_issues_batched")

BOX = ["x1", "y1", "x2", "y2"]
DET = dict(image="image_id", box=BOX, label="cls", score="confidence")


# ------------------------------------------------------------------------------------------
# scenes
# ------------------------------------------------------------------------------------------
def boxes_scene(n_images=30, n_classes=5, per_image=6, seed=0, empty=True):
    """Given and predicted boxes with injected overlooked, shifted and swapped boxes.

    Returns (given image, boxes, class, predicted image, boxes, class, confidence) arrays.
    """
    rng = np.random.default_rng(seed)
    gi, gb, gc, pi, pb, pc, pp = [], [], [], [], [], [], []
    for img in range(n_images):
        n = int(rng.integers(0 if empty else 1, per_image + 1))
        xy = rng.uniform(0, 200, size=(n, 2))
        boxes = np.hstack([xy, xy + rng.uniform(5, 60, size=(n, 2))])
        for b, c in zip(boxes, rng.integers(0, n_classes, n)):
            kind = rng.random()
            pbox = b + rng.normal(0, 2, 4)
            pbox[2:] = np.maximum(pbox[2:], pbox[:2] + 1)
            prob, gbox, gcls = rng.uniform(0.6, 1.0), b, c
            if kind < 0.1:  # overlooked: the object has no given box
                gbox, prob = None, rng.uniform(0.95, 1.0)
            elif kind < 0.2:  # badly located given box
                shift = rng.uniform(10, 30, 2)
                gbox = b + np.r_[shift, shift]
            elif kind < 0.3:  # swapped class
                gcls = (c + 1 + rng.integers(0, n_classes - 1)) % n_classes
                prob = rng.uniform(0.95, 1.0)
            if gbox is not None:
                gi.append(img), gb.append(gbox), gc.append(gcls)
            pi.append(img), pb.append(pbox), pc.append(c), pp.append(prob)
            if rng.random() < 0.3:  # a spurious prediction
                xy2 = rng.uniform(0, 200, 2)
                pi.append(img), pb.append(np.r_[xy2, xy2 + rng.uniform(5, 40, 2)])
                pc.append(rng.integers(0, n_classes)), pp.append(rng.uniform(0.0, 0.99))
    f = np.asarray
    return (
        f(gi, dtype=np.int64),
        f(gb, dtype=np.float64).reshape(-1, 4),
        f(gc, dtype=np.int64),
        f(pi, dtype=np.int64),
        f(pb, dtype=np.float64).reshape(-1, 4),
        f(pc, dtype=np.int64),
        f(pp, dtype=np.float64),
    )


def to_cleanlab_boxes(scene, n_images, n_classes):
    gi, gb, gc, pi, pb, pc, pp = scene
    labels, predictions = [], []
    for img in range(n_images):
        m = gi == img
        labels.append({"bboxes": gb[m].reshape(-1, 4), "labels": gc[m]})
        per = []
        for c in range(n_classes):
            mm = (pi == img) & (pc == c)
            per.append(np.hstack([pb[mm], pp[mm][:, None]]).reshape(-1, 5))
        predictions.append(per)
    return labels, predictions


def cleanlab_detection(scene, n_images, n_classes, **kw):
    """cleanlab's per-box scores and flags (in our row orders), image scores and flags."""
    labels, preds = to_cleanlab_boxes(scene, n_images, n_classes)
    gi, _, gc, pi, _, pc, _ = scene
    aux = od_rank._get_valid_inputs_for_compute_scores(0.9, labels, preds)
    check = kw.get("overlapping_label_check", True)
    per_box = {
        "overlooked": od_rank.compute_overlooked_box_scores(auxiliary_inputs=aux),
        "badloc": od_rank.compute_badloc_box_scores(auxiliary_inputs=aux),
        "swap": od_rank.compute_swap_box_scores(
            auxiliary_inputs=aux, overlapping_label_check=check
        ),
    }
    ap = od_filter._get_per_class_ap(labels, preds)
    pred_t = od_filter._process_class_list(
        [od_filter._separate_prediction(p)[1] for p in preds], ap
    )
    lab_t = od_filter._process_class_list([lab["labels"] for lab in labels], ap)
    flags = {
        name: od_filter._find_label_issues_per_box(
            [s.copy() for s in scores], pred_t if name == "overlooked" else lab_t, 0.8
        )
        for name, scores in per_box.items()
    }
    # cleanlab orders an image's predictions by class; ours keep the rows' order
    p_order = np.lexsort((np.arange(len(pi)), pc, pi))
    g_order = np.argsort(gi, kind="stable")
    out = {}
    for name, scores in per_box.items():
        order = p_order if name == "overlooked" else g_order
        values = np.empty(len(order))
        values[order] = np.concatenate(scores) if len(order) else []
        f = np.empty(len(order), dtype=bool)
        f[order] = np.concatenate([x for s, x in zip(scores, flags[name]) if len(s)] or [[]])
        out[name], out[f"is_{name}"] = values, f
    out["label_score"] = od_rank.get_label_quality_scores(labels, preds, verbose=False, **kw)
    out["is_issue"] = od_filter.find_label_issues(
        labels, preds, overlapping_label_check=check
    ).astype(bool)
    out["thresholds"] = np.array([ap[c] for c in range(n_classes)], dtype=np.float32)
    return out


@functools.lru_cache(maxsize=16)
def cached_reference(seed, n_images, n_classes, empty=True):
    """cleanlab's results on ``boxes_scene(n_images, n_classes, seed=seed)``, computed once (its
    average precision opens a process pool per IoU threshold)."""
    scene = boxes_scene(n_images, n_classes, seed=seed, empty=empty)
    return cleanlab_detection(scene, n_images, n_classes)


def boxes_frames(scene, classes=None, images=None):
    gi, gb, gc, pi, pb, pc, pp = scene
    classes = classes or [f"class_{c}" for c in range(max(gc.max(initial=0), pc.max()) + 1)]
    images = images or [f"img{i:03d}" for i in range(max(gi.max(initial=0), pi.max()) + 1)]
    given = pd.DataFrame(
        {"image_id": np.array(images, dtype=object)[gi], "cls": np.array(classes, object)[gc]}
    )
    given[BOX] = gb
    pred = pd.DataFrame(
        {"image_id": np.array(images, dtype=object)[pi], "cls": np.array(classes, object)[pc]}
    )
    pred[BOX] = pb
    pred["confidence"] = pp
    return given, pred


# ------------------------------------------------------------------------------------------
# object detection: kernel parity
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_kernel_matches_cleanlab(seed):
    n_images, k = 30, 5
    scene = boxes_scene(n_images, k, seed=seed)
    ref = cleanlab_detection(scene, n_images, k)
    r = detection_scores(*scene, num_images=n_images, num_classes=k)
    np.testing.assert_allclose(r.overlooked, ref["overlooked"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.badloc, ref["badloc"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.swap, ref["swap"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.label_score, ref["label_score"], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(r.class_thresholds, ref["thresholds"])
    np.testing.assert_array_equal(r.is_overlooked, ref["is_overlooked"])
    np.testing.assert_array_equal(r.is_badloc, ref["is_badloc"])
    np.testing.assert_array_equal(r.is_swap, ref["is_swap"])
    np.testing.assert_array_equal(r.is_issue, ref["is_issue"])
    # the scene has every kind of issue, and some images without boxes
    assert r.is_overlooked.any() and r.is_badloc.any() and (r.swap < 0.2).any()
    assert (r.num_overlooked + r.num_badloc + r.num_swap == 0).any()


def test_detection_options_match_cleanlab():
    n_images, k = 20, 4
    scene = boxes_scene(n_images, k, seed=7)
    # an overlapping given box of another class, for the overlapping-label check
    gi, gb, gc = scene[:3]
    scene = (
        np.r_[gi, gi[0]],
        np.vstack([gb, gb[0] + 0.1]),
        np.r_[gc, (gc[0] + 1) % k],
        *scene[3:],
    )
    weights = {"overlooked": 0.5, "badloc": 0.2, "swap": 0.3}
    for check in (True, False):
        ref = cleanlab_detection(
            scene, n_images, k, overlapping_label_check=check, aggregation_weights=weights
        )
        r = detection_scores(
            *scene,
            num_images=n_images,
            num_classes=k,
            overlapping_label_check=check,
            aggregation_weights=weights,
        )
        np.testing.assert_allclose(r.swap, ref["swap"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.label_score, ref["label_score"], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(r.is_issue, ref["is_issue"])
    assert r.swap[len(gi)] == 1.0 or r.is_swap[len(gi)] is not None


def test_detection_pairs_in_chunks_change_nothing(monkeypatch):
    """Images are paired in chunks bounded in size; the chunking does not show in results."""
    from cleanframe.scoring.vision import detection
    from cleanframe.scoring.vision.detection import _pair_chunks

    scene = boxes_scene(25, 4, seed=3)
    whole = detection_scores(*scene, num_images=25, num_classes=4)
    for size in (7, 1):  # runs of images; blocks of rows inside one image (every image > 1)
        monkeypatch.setattr(
            detection, "_pair_chunks", functools.partial(_pair_chunks, max_pairs=size)
        )
        chunked = detection.detection_scores(*scene, num_images=25, num_classes=4)
        for name in ("overlooked", "badloc", "swap", "label_score"):
            np.testing.assert_array_equal(getattr(whole, name), getattr(chunked, name))
        for name in ("is_issue", "is_overlooked", "is_badloc", "is_swap", "class_thresholds"):
            np.testing.assert_array_equal(getattr(whole, name), getattr(chunked, name))


# ------------------------------------------------------------------------------------------
# object detection: frames
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", FRAME_TYPES)
def test_detection_issues_on_every_frame_type(kind):
    n_images, k = 24, 4
    scene = boxes_scene(n_images, k, seed=11, empty=False)
    given, pred = boxes_frames(scene)
    before = given.copy(), pred.copy()
    g, p = make_frame(kind, given), make_frame(kind, pred)
    ids = [f"img{i:03d}" for i in range(n_images)]
    out = to_pandas(g.cl.detection_issues(predictions=p, images=ids, **DET))
    ref = cached_reference(11, n_images, k, empty=False)
    assert list(out["image_id"]) == ids
    np.testing.assert_allclose(out["label_score"], ref["label_score"], rtol=1e-12)
    np.testing.assert_array_equal(out["is_issue"].to_numpy(bool), ref["is_issue"])
    assert list(out.columns) == ["image_id", *vision.IMAGE_COLUMNS]
    assert out["num_badly_located"].sum() == ref["is_badloc"].sum()
    assert out["num_swapped"].sum() == ref["is_swap"].sum()
    assert out["num_overlooked"].sum() == ref["is_overlooked"].sum()
    pd.testing.assert_frame_equal(given, before[0])
    pd.testing.assert_frame_equal(pred, before[1])


@pytest.mark.parametrize("kind", FRAME_TYPES)
def test_detection_box_scores_on_every_frame_type(kind):
    n_images, k = 20, 4
    scene = boxes_scene(n_images, k, seed=5)
    given, pred = boxes_frames(scene)
    given.index = given.index * 10 + 3
    g, p = make_frame(kind, given), make_frame(kind, pred)
    res = g.cl.detection_box_scores(predictions=p, **DET)
    assert type(res.given) is type(g) and type(res.predicted) is type(p)
    gs, ps = to_pandas(res.given), to_pandas(res.predicted)
    ref = cached_reference(5, n_images, k)
    if kind.startswith("pandas"):
        assert list(gs.index) == list(given.index)
    np.testing.assert_allclose(gs["badloc_score"], ref["badloc"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(gs["swap_score"], ref["swap"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(gs["is_badly_located"].to_numpy(bool), ref["is_badloc"])
    np.testing.assert_array_equal(gs["is_swapped"].to_numpy(bool), ref["is_swap"])
    overlooked = ps["overlooked_score"].to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_allclose(overlooked, ref["overlooked"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ps["is_overlooked"].to_numpy(bool), ref["is_overlooked"])
    if kind.startswith("polars"):  # a real null where the box is no overlooked candidate
        assert ps["overlooked_score"].isna().sum() == np.isnan(ref["overlooked"]).sum()


def test_detection_images_argument_adds_empty_images_in_its_order():
    scene = boxes_scene(6, 3, seed=1, empty=False)
    given, pred = boxes_frames(scene)
    images = ["extra", "img005", "img000", "img001", "img002", "img003", "img004"]
    out = given.cl.detection_issues(predictions=pred, images=images, **DET)
    assert list(out["image_id"]) == images
    row = out.iloc[0]
    assert row["label_score"] == pytest.approx(1.0) and not row["is_issue"]
    plain = given.cl.detection_issues(predictions=pred, **DET).set_index("image_id")
    again = out.set_index("image_id").loc[plain.index]
    pd.testing.assert_frame_equal(plain, again)


def test_detection_images_without_given_or_predicted_boxes():
    given = pd.DataFrame({"image_id": [1], "cls": ["a"], "x1": [0.0], "y1": [0.0]})
    given["x2"], given["y2"] = 10.0, 10.0
    pred = pd.DataFrame(
        {"image_id": [2, 2], "cls": ["a", "b"], "x1": [0.0, 50], "y1": [0.0, 50]}
    ).assign(x2=[10.0, 60], y2=[10.0, 60], confidence=[0.99, 0.3])
    out = given.cl.detection_issues(predictions=pred, **DET)
    scene = (
        np.array([0]),
        np.array([[0.0, 0, 10, 10]]),
        np.array([0]),
        np.array([1, 1]),
        np.array([[0.0, 0, 10, 10], [50, 50, 60, 60]]),
        np.array([0, 1]),
        np.array([0.99, 0.3]),
    )
    ref = cleanlab_detection(scene, 2, 2)
    np.testing.assert_allclose(out["label_score"], ref["label_score"], rtol=1e-12)
    np.testing.assert_array_equal(out["is_issue"], ref["is_issue"])


# ------------------------------------------------------------------------------------------
# the real annotated photo (imgaug's quokka)
# ------------------------------------------------------------------------------------------
def quokka():
    spec = importlib.util.find_spec("imgaug")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("imgaug (data only) is not installed: make installs it")
    folder = Path(list(spec.submodule_search_locations)[0])
    return json.loads((folder / "quokka_annotations.json").read_text()), (643, 960)


def quokka_boxes():
    """Given boxes: the annotated animal box and a 60 x 60 box around each annotated keypoint
    (class = the keypoint's part); predictions: the same objects seen by a noisy detector, with
    one box left out of the annotations, one shifted, one class swapped."""
    ann, _ = quokka()
    b = ann["bounding_boxes"][0]
    rows = [("quokka", b["label"], b["x1"], b["y1"], b["x2"], b["y2"])]
    for kp in ann["keypoints"]:
        part = kp["label"].rsplit("_", 1)[0]
        x, y = float(kp["x"]), float(kp["y"])
        rows.append(("quokka", part, x - 30, y - 30, x + 30, y + 30))
    given = pd.DataFrame(rows, columns=["image_id", "cls", *BOX])
    rng = np.random.default_rng(0)
    pred = given.copy()
    pred[BOX] = pred[BOX].to_numpy() + rng.normal(0, 3, (len(pred), 4))
    pred["confidence"] = rng.uniform(0.96, 1.0, len(pred))
    given.loc[1, BOX] = given.loc[1, BOX].to_numpy() + 45.0  # badly located ear
    given.loc[3, "cls"] = "nose"  # an eye annotated as a nose
    given = given.drop(index=5).reset_index(drop=True)  # the nose left out: overlooked
    return given, pred


def test_detection_on_the_real_annotated_photo():
    given, pred = quokka_boxes()
    classes = sorted(set(given["cls"]) | set(pred["cls"]))
    code = {c: i for i, c in enumerate(classes)}
    scene = (
        np.zeros(len(given), dtype=np.int64),
        given[BOX].to_numpy(float),
        given["cls"].map(code).to_numpy(np.int64),
        np.zeros(len(pred), dtype=np.int64),
        pred[BOX].to_numpy(float),
        pred["cls"].map(code).to_numpy(np.int64),
        pred["confidence"].to_numpy(float),
    )
    ref = cleanlab_detection(scene, 1, len(classes))
    for kind in ("pandas", "polars"):
        res = make_frame(kind, given).cl.detection_box_scores(
            predictions=make_frame(kind, pred), **DET
        )
        gs, ps = to_pandas(res.given), to_pandas(res.predicted)
        np.testing.assert_allclose(gs["badloc_score"], ref["badloc"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(gs["swap_score"], ref["swap"], rtol=0, atol=1e-12)
        overlooked = ps["overlooked_score"].to_numpy(dtype=float, na_value=np.nan)
        np.testing.assert_allclose(overlooked, ref["overlooked"], rtol=0, atol=1e-12)
        img = to_pandas(
            make_frame(kind, given).cl.detection_issues(predictions=make_frame(kind, pred), **DET)
        )
        np.testing.assert_allclose(img["label_score"], ref["label_score"], rtol=1e-12)
    # the injected problems score lowest of their kind
    assert gs["badloc_score"].idxmin() == 1
    assert gs["swap_score"].idxmin() == 3
    # the left-out nose lies inside the annotated animal box: no overlooked candidate (a
    # candidate overlaps no given box), as in cleanlab
    assert ps["overlooked_score"].isna().all()


def quokka_masks(n_images=6, scale=16, k=3, seed=0):
    """The annotated polygon rasterised (1/scale resolution): class 1 = quokka, 0 = background,
    2 = a band around the outline; a noisy model's probabilities, a few flipped regions."""
    from matplotlib.path import Path as Polygon

    ann, (h, w) = quokka()
    poly = Polygon([(p["x"], p["y"]) for p in ann["polygons"][0]["keypoints"]])
    hs, ws = h // scale // 2 * 2, w // scale // 2 * 2
    yy, xx = np.mgrid[0:hs, 0:ws]
    centres = np.c_[(xx.ravel() + 0.5) * scale, (yy.ravel() + 0.5) * scale]
    inside = poly.contains_points(centres).reshape(hs, ws)
    near = poly.contains_points(centres, radius=3 * scale).reshape(hs, ws) != inside
    truth = np.where(near, 2, inside.astype(int))
    rng = np.random.default_rng(seed)
    masks = np.repeat(truth[None], n_images, axis=0)
    logits = rng.normal(0, 1.0, (n_images, k, hs, ws)) + 2.5 * (
        np.arange(k)[None, :, None, None] == masks[:, None]
    )
    for i in range(0, n_images, 2):  # flipped annotation regions
        y, x = rng.integers(0, hs - 6), rng.integers(0, ws - 6)
        masks[i, y : y + 6, x : x + 6] = (masks[i, y : y + 6, x : x + 6] + 1) % k
    p = np.exp(logits)
    return masks, p / p.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------------------
# segmentation
# ------------------------------------------------------------------------------------------
@pytest.fixture
def stable_cleanlab(monkeypatch):
    """cleanlab's segmentation cut-off with ties broken by position (a stable sort)."""

    def find_top_issues(quality_scores, top=None):
        top = len(quality_scores) if top is None or top > len(quality_scores) else top
        return np.argsort(quality_scores, kind="stable")[:top]

    monkeypatch.setattr(batched, "find_top_issues", find_top_issues)


def masks_scene(n=10, k=4, h=16, w=16, seed=0, dtype=np.float64):
    """Masks of two regions, a noisy model, given masks wrong in a few squares."""
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, k, (n, 1, 1)) * np.ones((n, h, w), dtype=np.int64)
    masks[:, h // 2 :, : w // 2] = rng.integers(0, k, (n, 1, 1))
    logits = rng.normal(0, 1, (n, k, h, w)) + 3 * (
        np.arange(k)[None, :, None, None] == masks[:, None]
    )
    for i in range(n):
        if rng.random() < 0.5:
            y, x = rng.integers(0, h - 4, 2)
            masks[i, y : y + 4, x : x + 4] = (masks[i, y : y + 4, x : x + 4] + 1) % k
    p = np.exp(logits)
    return masks, (p / p.sum(axis=1, keepdims=True)).astype(dtype)


def in_batches(masks, probs, size):
    def batches():
        for s in range(0, len(masks), size):
            yield masks[s : s + size], probs[s : s + size]

    return batches


@pytest.mark.parametrize(
    "method, downsample, batch, dtype",
    [
        ("softmin", 1, 3, np.float64),
        ("num_pixel_issues", 1, 4, np.float64),
        ("num_pixel_issues", 2, 10, np.float64),
        ("num_pixel_issues", 4, 3, np.float32),
        ("softmin", 2, 1, np.float32),
    ],
)
def test_segmentation_kernel_matches_cleanlab(stable_cleanlab, method, downsample, batch, dtype):
    masks, probs = masks_scene(seed=downsample + batch, dtype=dtype)
    r = segmentation_scores(
        in_batches(masks, probs, batch),
        num_images=len(masks),
        num_classes=probs.shape[1],
        method=method,
        downsample=downsample,
    )
    kw = dict(downsample=downsample, n_jobs=1, verbose=False)
    issues = seg_filter.find_label_issues(masks, probs, **kw)
    scores, _ = seg_rank.get_label_quality_scores(masks, probs, method=method, **kw)
    np.testing.assert_allclose(r.label_score, scores, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(r.num_pixel_issues, issues.sum(axis=(1, 2)))
    mine = np.concatenate(
        [
            pixel_issues(masks[s : s + batch], probs[s : s + batch], s, r.cut, downsample)
            for s in range(0, len(masks), batch)
        ]
    )
    np.testing.assert_array_equal(mine, issues)
    assert issues.any()
    table = seg_summary.common_label_issues(issues, masks, probs, verbose=False)
    got = [(str(g), str(q), int(r.pairs[g, q])) for g, q in zip(*np.nonzero(r.pairs))]
    want = [tuple(x) for x in table.itertuples(index=False)]
    assert sorted(got, key=lambda t: -t[2]) == [(g, q, int(c)) for g, q, c in want]


def seg_frame(kind, masks, probs, *, per_class=False, classes=None):
    """One row per image: the mask and the probabilities as array columns of each library."""
    k = probs.shape[1]
    names = classes or [str(c) for c in range(k)]
    if kind.startswith("pandas"):

        def col(a):
            if kind == "pandas_arrow":
                return pd.Series(pd.arrays.ArrowExtensionArray(pa.array([x.tolist() for x in a])))
            return pd.Series(list(a), dtype=object)

        data = {"mask": col(masks)}
        if per_class:
            data.update({f"p_{names[c]}": col(probs[:, c]) for c in range(k)})
        else:
            data["probs"] = col(probs)
        return pd.DataFrame(data)
    cols = [pl.Series("mask", masks, dtype=pl.Array(pl.Int64, masks.shape[1:]))]
    if per_class:
        cols += [
            pl.Series(f"p_{names[c]}", probs[:, c], dtype=pl.Array(pl.Float64, masks.shape[1:]))
            for c in range(k)
        ]
    else:
        cols.append(pl.Series("probs", probs, dtype=pl.Array(pl.Float64, probs.shape[1:])))
    df = pl.DataFrame(cols)
    return df.lazy() if kind == "polars_lazy" else df


@pytest.mark.parametrize("kind", FRAME_TYPES)
@pytest.mark.parametrize("per_class", [False, True])
def test_segmentation_issues_on_every_frame_type(stable_cleanlab, kind, per_class):
    masks, probs = masks_scene(n=8, seed=4)
    df = seg_frame(kind, masks, probs, per_class=per_class)
    spec = "p_*" if per_class else "probs"
    out = to_pandas(
        df.cl.segmentation_issues(
            label="mask", pred_probs=spec, method="num_pixel_issues", batch_size=3, threshold=0.99
        )
    )
    issues = seg_filter.find_label_issues(masks, probs, n_jobs=1, verbose=False)
    scores, _ = seg_rank.get_label_quality_scores(
        masks, probs, method="num_pixel_issues", n_jobs=1, verbose=False
    )
    np.testing.assert_allclose(out["label_score"], scores, rtol=1e-12)
    np.testing.assert_array_equal(out["num_pixel_issues"], issues.sum(axis=(1, 2)))
    np.testing.assert_array_equal(out["is_issue"].to_numpy(bool), scores < 0.99)
    assert out["is_issue"].any() and not out["is_issue"].all()
    common = to_pandas(df.cl.common_segmentation_issues(label="mask", pred_probs=spec))
    ref = seg_summary.common_label_issues(issues, masks, probs, verbose=False)
    assert [tuple(map(str, r)) for r in common.itertuples(index=False)] == [
        tuple(map(str, r)) for r in ref.itertuples(index=False)
    ]


def test_segmentation_on_the_real_annotated_photo(stable_cleanlab):
    masks, probs = quokka_masks()
    kw = dict(n_jobs=1, verbose=False)
    for kind in ("pandas", "polars"):
        df = seg_frame(kind, masks, probs)
        for method, downsample in (("softmin", 1), ("num_pixel_issues", 2)):
            out = to_pandas(
                df.cl.segmentation_issues(
                    label="mask", pred_probs="probs", method=method, downsample=downsample
                )
            )
            scores, _ = seg_rank.get_label_quality_scores(
                masks, probs, method=method, downsample=downsample, **kw
            )
            issues = seg_filter.find_label_issues(masks, probs, downsample=downsample, **kw)
            np.testing.assert_allclose(out["label_score"], scores, rtol=1e-12)
            np.testing.assert_array_equal(out["num_pixel_issues"], issues.sum(axis=(1, 2)))
    flagged = vision.segmentation_pixel_issues(df, label="mask", pred_probs="probs", rows=[0, 1])
    issues = seg_filter.find_label_issues(masks, probs, **kw)
    np.testing.assert_array_equal(flagged, issues[:2])


def test_segmentation_class_names_and_exclude():
    masks, probs = masks_scene(n=6, k=3, seed=2)
    df = seg_frame("pandas", masks, probs, per_class=True, classes=["road", "car", "sky"])
    spec = {"road": "p_road", "car": "p_car", "sky": "p_sky"}
    common = df.cl.common_segmentation_issues(label="mask", pred_probs=spec)
    assert set(common["given_label"]) <= {"road", "car", "sky"}
    assert (common["num_pixel_issues"].diff().dropna() <= 0).all()
    without = df.cl.common_segmentation_issues(label="mask", pred_probs=spec, exclude=["car"])
    assert "car" not in set(without["predicted_label"])
    assert df.cl.common_segmentation_issues(label="mask", pred_probs=spec, top=1).shape[0] == 1


def test_segmentation_batch_size_changes_nothing(stable_cleanlab):
    masks, probs = masks_scene(n=9, seed=8)
    df = seg_frame("polars", masks, probs)
    outs = [
        df.cl.segmentation_issues(
            label="mask", pred_probs="probs", method="num_pixel_issues", batch_size=b
        )
        for b in (1, 4, 100)
    ]
    for o in outs[1:]:
        assert o.equals(outs[0])


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
def _bad_boxes(case):
    given, pred = boxes_frames(boxes_scene(5, 3, seed=0, empty=False))
    if case == "negative_width":
        given.loc[2, "x2"] = given.loc[2, "x1"] - 1
        return given, pred, {}, ("x2", "box_size")
    if case == "negative_height_prediction":
        pred.loc[1, "y2"] = pred.loc[1, "y1"] - 5
        return given, pred, {}, ("y2", "box_size")
    if case == "nan_coordinate":
        given.loc[0, "y1"] = np.nan
        return given, pred, {}, ("y1", "finite")
    if case == "confidence_above_1":
        pred.loc[0, "confidence"] = 1.5
        return given, pred, {}, ("confidence", "probability_range")
    if case == "negative_confidence":
        pred.loc[3, "confidence"] = -0.1
        return given, pred, {}, ("confidence", "probability_range")
    if case == "unknown_class":
        return given, pred, {"classes": ["class_0", "class_1"]}, ("cls", "known_class")
    if case == "null_image":
        given.loc[1, "image_id"] = None
        return given, pred, {}, ("image_id", "not_null")
    if case == "missing_column":
        return given, pred.drop(columns="confidence"), {}, ("confidence", "column_exists")
    if case == "three_box_columns":
        return given, pred, {"box": BOX[:3]}, (None, "box_columns")
    if case == "repeated_box_column":  # polars refused the repeated column with its own error
        return given, pred, {"box": [BOX[0], *BOX[:3]]}, (None, "box_columns")
    if case == "weights":
        w = {"overlooked": 0.5, "badloc": 0.5, "swap": 0.5}
        return given, pred, {"aggregation_weights": w}, (None, "aggregation_weights")
    raise AssertionError(case)


BOX_CASES = [
    "negative_width",
    "negative_height_prediction",
    "nan_coordinate",
    "confidence_above_1",
    "negative_confidence",
    "unknown_class",
    "null_image",
    "missing_column",
    "three_box_columns",
    "repeated_box_column",
    "weights",
]


@pytest.mark.parametrize("kind", ["pandas", "polars"])
@pytest.mark.parametrize("case", BOX_CASES)
def test_bad_boxes_are_clear_errors(kind, case):
    given, pred, extra, (column, rule) = _bad_boxes(case)
    kw = {**DET, **extra}
    g, p = make_frame(kind, given), make_frame(kind, pred)
    with pytest.raises(ValidationError) as err:
        g.cl.detection_issues(predictions=p, **kw)
    assert err.value.rule == rule and err.value.column == column
    with pytest.raises(ValidationError):
        g.cl.detection_box_scores(predictions=p, **{k: v for k, v in kw.items()})


def _bad_masks(case):
    masks, probs = masks_scene(n=5, k=3, h=8, w=8, seed=1)
    if case == "mask_shape":
        rows = list(masks)
        rows[2] = rows[2][:, :6]
        return pd.DataFrame({"mask": rows, "probs": list(probs)}), {}, ("mask", "shape")
    if case == "probs_shape":
        rows = list(probs)
        rows[3] = rows[3][:, :6]
        return pd.DataFrame({"mask": list(masks), "probs": rows}), {}, ("probs", "shape")
    if case == "probs_do_not_match_masks":
        return (
            pd.DataFrame({"mask": list(masks), "probs": list(probs[:, :, :4])}),
            {},
            ("mask", "shape"),
        )
    if case == "pixel_sums":
        bad = probs.copy()
        bad[1, 0, 2, 2] += 0.3
        bad[1, 1, 2, 2] = max(0.0, bad[1, 1, 2, 2] - 0.01)
        return (
            pd.DataFrame({"mask": list(masks), "probs": list(bad)}),
            {},
            ("probs", "pixel_sums_to_1"),
        )
    if case == "probability_range":
        bad = probs.copy()
        bad[4, 0, 0, 0], bad[4, 1, 0, 0] = -0.5, bad[4, 1, 0, 0] + 0.5
        return (
            pd.DataFrame({"mask": list(masks), "probs": list(bad)}),
            {},
            ("probs", "probability_range"),
        )
    if case == "mask_value":
        bad = masks.copy()
        bad[0, 0, 0] = 7
        return pd.DataFrame({"mask": list(bad), "probs": list(probs)}), {}, ("mask", "known_class")
    if case == "null_mask":
        rows = list(masks)
        rows[1] = None
        return pd.DataFrame({"mask": rows, "probs": list(probs)}), {}, ("mask", "not_null")
    if case == "downsample":
        frame = pd.DataFrame({"mask": list(masks), "probs": list(probs)})
        return frame, {"downsample": 3}, (None, "downsample")
    if case == "method":
        frame = pd.DataFrame({"mask": list(masks), "probs": list(probs)})
        return frame, {"method": "mean"}, (None, "choice")
    raise AssertionError(case)


MASK_CASES = [
    "mask_shape",
    "probs_shape",
    "probs_do_not_match_masks",
    "pixel_sums",
    "probability_range",
    "mask_value",
    "null_mask",
    "downsample",
    "method",
]


@pytest.mark.parametrize("case", MASK_CASES)
def test_bad_masks_are_clear_errors(case):
    frame, extra, (column, rule) = _bad_masks(case)
    with pytest.raises(ValidationError) as err:
        frame.cl.segmentation_issues(label="mask", pred_probs="probs", batch_size=2, **extra)
    assert err.value.rule == rule and err.value.column == column, str(err.value)


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------
@HYPOTHESIS_SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n_images=st.integers(1, 12),
    k=st.integers(1, 4),
    per_image=st.integers(0, 5),
)
def test_detection_invariants(seed, n_images, k, per_image):
    """Scores in [0, 1]; renaming classes, reordering rows or permuting image ids changes no
    image's result."""
    scene = boxes_scene(n_images, max(k, 2), per_image=per_image, seed=seed)
    if not len(scene[3]):
        return
    given, pred = boxes_frames(scene)
    out = given.cl.detection_issues(predictions=pred, **DET).set_index("image_id")
    for col in ("label_score", "overlooked_score", "badloc_score", "swap_score"):
        assert ((out[col] >= 0) & (out[col] <= 1)).all()
    rng = np.random.default_rng(seed)
    rename = {c: f"renamed {c[::-1]}" for c in set(given["cls"]) | set(pred["cls"])}
    ids = out.index.tolist()
    relabel = dict(zip(ids, rng.permutation(len(ids)).astype(str)))
    g2 = given.assign(cls=given["cls"].map(rename), image_id=given["image_id"].map(relabel))
    p2 = pred.assign(cls=pred["cls"].map(rename), image_id=pred["image_id"].map(relabel))
    g2 = g2.iloc[rng.permutation(len(g2))]
    p2 = p2.iloc[rng.permutation(len(p2))]
    out2 = g2.cl.detection_issues(predictions=p2, **DET).set_index("image_id")
    out2 = out2.loc[[relabel[i] for i in out.index]]
    np.testing.assert_allclose(out2["label_score"], out["label_score"], rtol=1e-9, atol=1e-12)
    for col in ("is_issue", "num_overlooked", "num_badly_located", "num_swapped"):
        np.testing.assert_array_equal(out2[col].to_numpy(), out[col].to_numpy())


@HYPOTHESIS_SETTINGS
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), k=st.integers(2, 4))
def test_segmentation_invariants(seed, n, k):
    """Scores in [0, 1]; permuting images or renaming (permuting) class codes changes nothing."""
    masks, probs = masks_scene(n=n, k=k, h=6, w=6, seed=seed)
    rng = np.random.default_rng(seed)
    base = pd.DataFrame({"mask": list(masks), "probs": list(probs)})
    kw = dict(label="mask", pred_probs="probs", method="num_pixel_issues")
    out = base.cl.segmentation_issues(**kw)
    assert ((out["label_score"] >= 0) & (out["label_score"] <= 1)).all()
    soft = base.cl.segmentation_issues(label="mask", pred_probs="probs")
    assert ((soft["label_score"] >= 0) & (soft["label_score"] <= 1 + 1e-12)).all()
    perm = rng.permutation(n)
    out_p = base.iloc[perm].reset_index(drop=True).cl.segmentation_issues(**kw)
    np.testing.assert_array_equal(
        out_p["num_pixel_issues"], out["num_pixel_issues"].to_numpy()[perm]
    )
    relabel = rng.permutation(k)
    masks2 = relabel[masks]
    probs2 = np.empty_like(probs)
    probs2[:, relabel] = probs
    out_r = pd.DataFrame({"mask": list(masks2), "probs": list(probs2)}).cl.segmentation_issues(**kw)
    np.testing.assert_array_equal(out_r["num_pixel_issues"], out["num_pixel_issues"])


def test_segmentation_cut_off_among_matched_pixels(stable_cleanlab, monkeypatch):
    """Exact 0.5 / 0.5 pixels: matched and mismatched pixels tie at the cut-off, which is then
    found over every pixel (histogram and exact bin), ties by position as the stable reference."""
    from cleanframe.scoring.vision import segmentation

    calls = []
    full_search = segmentation._cut_from_all_pixels
    monkeypatch.setattr(
        segmentation,
        "_cut_from_all_pixels",
        lambda *a: calls.append(1) or full_search(*a),
    )
    rng = np.random.default_rng(3)
    n, h, w = 6, 8, 8
    masks = rng.integers(0, 2, (n, h, w))
    p1 = np.where(rng.random((n, h, w)) < 0.4, 0.5, rng.uniform(0.05, 0.95, (n, h, w)))
    probs = np.stack([1 - p1, p1], axis=1)
    df = pd.DataFrame({"mask": list(masks), "probs": list(probs)})
    out = df.cl.segmentation_issues(label="mask", pred_probs="probs", batch_size=4)
    issues = seg_filter.find_label_issues(masks, probs, n_jobs=1, verbose=False)
    np.testing.assert_array_equal(out["num_pixel_issues"], issues.sum(axis=(1, 2)))
    flagged = vision.segmentation_pixel_issues(df, label="mask", pred_probs="probs", rows=range(n))
    np.testing.assert_array_equal(flagged, issues)
    assert calls and issues.any()


def test_segmentation_cut_off_shortcut_equals_the_full_search():
    from cleanframe.scoring.vision import segmentation

    masks, probs = masks_scene(n=7, seed=12)
    r = segmentation_scores(in_batches(masks, probs, 3), num_images=7, num_classes=4)
    assert r.cut.position >= 0
    full = segmentation._cut_from_all_pixels(
        in_batches(masks, probs, 3), int(r.num_issues), 1, None
    )
    assert full == r.cut


def test_pandas_equals_polars_for_every_vision_method():
    scene = boxes_scene(12, 3, seed=21)
    given, pred = boxes_frames(scene)
    masks, probs = masks_scene(n=5, k=3, seed=21)
    seg = {kind: seg_frame(kind, masks, probs) for kind in FRAME_TYPES}
    results = {}
    for kind in FRAME_TYPES:
        g, p = make_frame(kind, given), make_frame(kind, pred)
        boxes = g.cl.detection_box_scores(predictions=p, **DET)
        kw = dict(label="mask", pred_probs="probs", method="num_pixel_issues")
        results[kind] = [
            to_pandas(g.cl.detection_issues(predictions=p, **DET)),
            to_pandas(boxes.given).reset_index(drop=True),
            to_pandas(boxes.predicted),
            to_pandas(seg[kind].cl.segmentation_issues(**kw)).drop(columns=["mask", "probs"]),
            to_pandas(seg[kind].cl.common_segmentation_issues(label="mask", pred_probs="probs")),
        ]
    for kind in FRAME_TYPES[1:]:
        for ours, ref in zip(results[kind], results["pandas"]):
            pd.testing.assert_frame_equal(ours, ref, check_dtype=False, check_index_type=False)


def test_segmentation_from_a_scanned_parquet_file(tmp_path, stable_cleanlab):
    """A LazyFrame over a file is read batch by batch (only each batch's rows are collected)."""
    masks, probs = masks_scene(n=7, seed=30)
    path = tmp_path / "images.parquet"
    seg_frame("polars", masks, probs).write_parquet(path)
    lazy = pl.scan_parquet(path)
    out = lazy.cl.segmentation_issues(
        label="mask", pred_probs="probs", method="num_pixel_issues", batch_size=3
    )
    assert isinstance(out, pl.LazyFrame)
    issues = seg_filter.find_label_issues(masks, probs, n_jobs=1, verbose=False)
    got = out.select("num_pixel_issues").collect()["num_pixel_issues"].to_numpy()
    np.testing.assert_array_equal(got, issues.sum(axis=(1, 2)))


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_image_ids_the_given_column_cannot_hold(kind):
    given = pd.DataFrame({"image_id": [1, 2], "cls": ["a", "b"], "x1": [0.0, 1], "y1": [0.0, 1]})
    given = given.assign(x2=[5.0, 6], y2=[5.0, 6])
    pred = given.assign(confidence=[0.9, 0.8])
    g = make_frame(kind, given)
    for p, extra in (
        (make_frame(kind, pred.assign(image_id=["x", "y"])), {}),
        (make_frame(kind, pred), {"images": [1, 2, "three"]}),
    ):
        with pytest.raises(ValidationError) as err:
            g.cl.detection_issues(predictions=p, **DET, **extra)
        assert err.value.rule == "image_ids" and err.value.column == "image_id"
