"""Fixtures of the evaluation tests (builders live in ``eval_builders.py``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from eval_builders import V, joint_vertex, make_batch, make_prediction, onehot_regressors, random_gt_verts, regress


@pytest.fixture
def kit() -> SimpleNamespace:
    """Builders: ``regressors()``, ``gt_verts(b, seed)``, ``regress(verts)``, ``prediction(...)``, ``batch(...)``,
    ``joint_vertex(j)``."""
    return SimpleNamespace(
        regressors=onehot_regressors,
        gt_verts=random_gt_verts,
        regress=regress,
        prediction=make_prediction,
        batch=make_batch,
        joint_vertex=joint_vertex,
        V=V,
    )
