"""Datasets bundled with the package (no download, ever)."""
from __future__ import annotations

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_mice_protein"]

_MICE_DESCR = """Mice Protein Expression (UCI "Data_Cortex_Nuclear"; Higuera, Gardiner & Cios 2015, CC BY 4.0).

1080 rows (15 replicate measurements of each of 72 mice), 77 protein expression levels, 8 classes
coded as in the LassoNet paper: 1*(Genotype = Control) + 2*(Treatment = Memantine) +
4*(Behavior = C/S). `data`: each missing cell (1396 of them) filled with the mean of the observed
values of that protein in the same class, then min-max scaled to [0, 1] per column. `data_raw`:
the original values with NaN where missing. `mouse_id`: which mouse each row measures (split by it
to keep one mouse's replicates on one side).
"""


def load_mice_protein(*, return_X_y: bool = False, as_frame: bool = False):
    """Load the Mice Protein data (1080 x 77, 8 classes), as the LassoNet paper used it.

    Returns a scikit-learn ``Bunch`` with ``data``, ``target``, ``feature_names``, ``target_names``,
    ``data_raw``, ``mouse_id`` and ``DESCR``; or ``(X, y)`` with ``return_X_y=True``. With
    ``as_frame=True`` the data is a pandas DataFrame with the protein names as columns.
    """
    with resources.files(__name__).joinpath("mice_protein.npz").open("rb") as fh:
        with np.load(fh, allow_pickle=False) as z:
            X, y = z["X"], z["y"].astype(np.int64)
            names, classes = z["feature_names"].tolist(), z["class_names"].tolist()
            X_raw, mouse = z["X_raw"], z["mouse_id"]
    if as_frame:
        import pandas as pd

        X = pd.DataFrame(X, columns=names)
    if return_X_y:
        return X, y
    return Bunch(
        data=X, target=y, feature_names=names, target_names=classes, data_raw=X_raw,
        mouse_id=mouse, DESCR=_MICE_DESCR,
    )
