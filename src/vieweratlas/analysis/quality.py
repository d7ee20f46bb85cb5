"""How well a partition recovers a planted one (normalised mutual information)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean normalisation), in [0, 1]."""
    a = np.unique(np.asarray(a), return_inverse=True)[1]
    b = np.unique(np.asarray(b), return_inverse=True)[1]
    n = len(a)
    if n == 0:
        return 1.0
    joint = sp.coo_matrix((np.ones(n), (a, b))).toarray() / n
    pa_, pb = joint.sum(axis=1), joint.sum(axis=0)
    nz = joint > 0
    mi = float((joint[nz] * np.log(joint[nz] / np.outer(pa_, pb)[nz])).sum())
    ha = -float((pa_[pa_ > 0] * np.log(pa_[pa_ > 0])).sum())
    hb = -float((pb[pb > 0] * np.log(pb[pb > 0])).sum())
    if ha + hb == 0:
        return 1.0
    return max(0.0, min(1.0, 2 * mi / (ha + hb)))
