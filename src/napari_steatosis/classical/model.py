"""Classifier training (randomised search, patient-grouped CV), saving and safe loading.

Models are saved with skops, which stores the estimator without pickle; loading checks every
type in the file against an allow-list first and refuses anything else (a tampered or
foreign file) with a message naming the file and the type.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import stats

from ..data.atomic import atomic_write
from ..errors import SteatosisError
from ..words import count
from .candidates import CandidateParams
from .features import FEATURES, FEATURES_2

FORMAT = "napari-steatosis-classical"
# 2: candidate_params may hold local_level (white.py); a version-1 file has none and loads with 0,
# the fixed white rule it was trained with
# 3: candidate_params may hold split and the features are FEATURES (5 more); a version-2 file loads
# with split 0 and its own 23 features
VERSION = 3
CLASSIFIERS = ("gbt", "rf", "svm", "logreg")

# Every type stored in a classifier file must match this allow-list (checked before loading).
SAFE_BUILTINS = {f"builtins.{t}" for t in ("dict", "list", "str", "tuple", "int", "float", "bool", "NoneType",
                                            "slice", "bytes")}
SAFE_MODULE_PREFIXES = (
    "numpy.", "sklearn._loss.", "sklearn.ensemble._hist_gradient_boosting.", "sklearn.ensemble._forest.",
    "sklearn.tree.", "sklearn.svm.", "sklearn.linear_model._logistic.", "sklearn.pipeline.",
    "sklearn.preprocessing.", "sklearn.utils._bunch.", "collections.OrderedDict",
)


def stored_types(path: Path) -> set[str]:
    """Every ``module.Class`` a skops file would create, read from its schema without loading it."""
    with zipfile.ZipFile(path) as z:
        schema = json.loads(z.read("schema.json"))
    found: set[str] = set()

    def walk(o):
        if isinstance(o, dict):
            if "__class__" in o and "__module__" in o:
                found.add(f"{o['__module__']}.{o['__class__']}")
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(schema)
    return found


def is_safe_type(name: str) -> bool:
    return name in SAFE_BUILTINS or name.startswith(SAFE_MODULE_PREFIXES)


def make_estimator(kind: str, seed: int = 0):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415
    from sklearn.svm import SVC  # noqa: PLC0415

    if kind == "gbt":
        return HistGradientBoostingClassifier(class_weight="balanced", random_state=seed), {
            "learning_rate": stats.loguniform(0.01, 0.3), "max_iter": stats.randint(50, 400),
            "max_leaf_nodes": stats.randint(8, 64), "min_samples_leaf": stats.randint(5, 60),
            "l2_regularization": stats.loguniform(1e-4, 10.0)}
    if kind == "rf":
        return RandomForestClassifier(class_weight="balanced", random_state=seed, n_jobs=1), {
            "n_estimators": stats.randint(50, 300), "max_depth": [None, 6, 10, 16, 24],
            "min_samples_leaf": stats.randint(1, 20), "max_features": ["sqrt", 0.3, 0.6]}
    if kind == "svm":
        return Pipeline([("scale", StandardScaler()), ("clf", SVC(class_weight="balanced", probability=True,
                                                                   random_state=seed))]), {
            "clf__C": stats.loguniform(1e-2, 1e3), "clf__gamma": stats.loguniform(1e-4, 1.0)}
    if kind == "logreg":
        return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(class_weight="balanced",
                                                                                  max_iter=2000))]), {
            "clf__C": stats.loguniform(1e-3, 1e3)}
    raise SteatosisError(f"unknown classifier {kind!r}; use one of {', '.join(CLASSIFIERS)}")


@dataclass
class ClassicalModel:
    estimator: object
    classifier: str
    candidate_params: CandidateParams
    summary: dict = field(default_factory=dict)
    features: list = field(default_factory=lambda: list(FEATURES))
    threshold: float = 0.5

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] == 0:
            return np.zeros(0)
        return self.estimator.predict_proba(X)[:, 1]


def search(X, y, groups, kind="gbt", n_iter=350, seed=0, progress: Callable[[int, int, float], None] | None = None,
           cancelled: Callable[[], bool] | None = None, scoring="f1"):
    """Randomised search, cross-validated with patient groups. Returns ``(estimator, best score, params)``.

    Runs setting by setting so that it reports progress and can stop between settings; the
    best setting found so far is used when cancelled.
    """
    from sklearn.base import clone  # noqa: PLC0415
    from sklearn.model_selection import GroupKFold, ParameterSampler, cross_val_score  # noqa: PLC0415

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise SteatosisError("training needs both positive and negative examples "
                             f"(got {int((y == 1).sum())} positive, {count(int((y == 0).sum()), 'negative region')})")
    n_groups = len(np.unique(groups))
    if n_groups >= 2:
        cv = GroupKFold(n_splits=min(5, n_groups))
        # a fold whose training patients hold one class cannot be fitted (every setting would fail)
        if any(len(np.unique(y[train])) < 2 for train, _ in cv.split(X, y, groups)):
            raise SteatosisError(f"cross-validation by patient ({count(n_groups, 'patient')}) needs positive and "
                                 "negative regions among the training patients of every fold; label both kinds on more "
                                 "patients")
    else:  # one image or one patient: folds of regions (optimistic; the summary says so)
        from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415

        if min((y == 0).sum(), (y == 1).sum()) < 3:
            raise SteatosisError("need at least 3 positive and 3 negative labelled regions")
        cv, groups = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed), None
    base, space = make_estimator(kind, seed)
    settings = list(ParameterSampler(space, n_iter=n_iter, random_state=seed))
    best = (-np.inf, None)
    for k, params in enumerate(settings):
        if cancelled is not None and cancelled():
            break
        est = clone(base).set_params(**params)
        score = float(np.mean(cross_val_score(est, X, y, groups=groups, cv=cv, scoring=scoring, n_jobs=2)))
        if score > best[0]:
            best = (score, params)
        if progress is not None:
            progress(k + 1, len(settings), best[0])
    if best[1] is None:
        raise SteatosisError("cancelled before any setting was scored")
    est = clone(base).set_params(**best[1]).fit(X, y)
    return est, best[0], best[1]


def importances(model: ClassicalModel, X, y, seed=0) -> dict[str, float]:
    """Permutation importances (drop in F1 when a feature is shuffled), largest first."""
    from sklearn.inspection import permutation_importance  # noqa: PLC0415

    r = permutation_importance(model.estimator, X, y, scoring="f1", n_repeats=3, random_state=seed, n_jobs=1)
    pairs = sorted(zip(model.features, r.importances_mean), key=lambda p: -p[1])
    return {k: round(float(v), 4) for k, v in pairs}


def save_classifier(model: ClassicalModel, path: str | os.PathLike) -> Path:
    import skops.io as sio  # noqa: PLC0415

    path = Path(path)
    meta = dict(format=FORMAT, version=VERSION, classifier=model.classifier, features=model.features,
                candidate_params=model.candidate_params.to_dict(), threshold=model.threshold,
                summary=model.summary, saved=time.strftime("%Y-%m-%dT%H:%M:%S"))
    with atomic_write(path) as tmp:
        sio.dump({"meta": json.dumps(meta, default=float), "estimator": model.estimator}, tmp)
    return path


def load_classifier(path: str | os.PathLike) -> ClassicalModel:
    import skops.io as sio  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise SteatosisError(f"{path}: classifier file not found")
    try:
        types = stored_types(path)
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 (not a skops file at all)
        raise SteatosisError(f"{path}: not a napari-steatosis classifier ({type(exc).__name__}: {exc})") from exc
    unsafe = sorted(t for t in set(types) | set(untrusted) if not is_safe_type(t))
    if unsafe:
        raise SteatosisError(f"{path}: refused to load: it holds types that are not part of a steatosis "
                             f"classifier ({', '.join(unsafe[:5])}); it may have been tampered with")
    try:
        obj = sio.load(path, trusted=list(untrusted))
        meta = json.loads(obj["meta"])
    except Exception as exc:  # noqa: BLE001
        raise SteatosisError(f"{path}: cannot read classifier ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SteatosisError(f"{path}: not a napari-steatosis classifier")
    if not isinstance(meta.get("version", 1), int) or meta.get("version", 1) > VERSION:
        raise SteatosisError(f"{path}: made by a newer napari-steatosis (classifier format {meta.get('version')!r}, "
                             f"this version reads up to {VERSION}); update napari-steatosis")
    if meta.get("features") not in (list(FEATURES), FEATURES_2):
        n = len(meta.get("features", []))
        raise SteatosisError(f"{path}: made with another feature set ({count(n, 'feature')}); retrain it with this version")
    return ClassicalModel(obj["estimator"], meta["classifier"], CandidateParams(**meta["candidate_params"]),
                          meta.get("summary", {}), meta["features"], float(meta.get("threshold", 0.5)))
