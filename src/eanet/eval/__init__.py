"""Evaluation on InterHand2.6M and HIC under named, explicit protocols (docs/eval.md).

Public API::

    from eanet.eval import Evaluator, HandRegressors, get_protocol, write_result_json

    evaluator = Evaluator("official", HandRegressors.from_model_data(mano_right, mano_left))
    for batch in loader:
        evaluator.update(model(batch["img"]), batch)
    result = evaluator.compute()        # EvalResult: metrics per category, per sequence, Figure 9
    report = "\\n".join(result.summary_lines())   # the protocol signature comes first
    write_result_json(result, "result.json")      # protocol, subset, counts, metrics, notes

Importing this package is cheap (``eanet.config`` imports :mod:`eanet.eval.config`); torch loads on first use of
an attribute below (PEP 562 lazy attributes).
"""

from __future__ import annotations

from eanet._lazy import lazy_exports

__all__ = [
    "Evaluator",
    "HandRegressors",
    "EvalResult",
    "MetricValue",
    "Protocol",
    "PROTOCOLS",
    "get_protocol",
    "write_result_json",
    "run_eval",
    "make_train_evaluate_fn",
]

# Lazy: `eanet.config` imports eanet.eval.config, which runs this file, and a configuration must load and be checked
# (`eanet configs`, every command's config errors) without waiting for torch: these names are imported on first use.
_LAZY = {
    "Evaluator": "eanet.eval.evaluator",
    "HandRegressors": "eanet.eval.evaluator",
    "EvalResult": "eanet.eval.result",
    "MetricValue": "eanet.eval.result",
    "write_result_json": "eanet.eval.result",
    "Protocol": "eanet.eval.protocols",
    "PROTOCOLS": "eanet.eval.protocols",
    "get_protocol": "eanet.eval.protocols",
    "run_eval": "eanet.eval.runner",
    "make_train_evaluate_fn": "eanet.eval.runner",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
