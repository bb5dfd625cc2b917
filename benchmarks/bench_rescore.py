"""What does scoring the selection on the second CV repeat change, on searches already run?
For each kept search (``bench_text.py --keep`` or ``bench_estimates.py --keep`` folders,
searched before trials stored their second repeat's out-of-fold predictions), the shortlisted
trials that ran a second repeat are cross-validated again on it (same spec, folds, seed and
cache), and the selection is made twice from the same trials: scored on the first repeat
(less its luck, the old way) and on the second. Prints each search's choice and estimates
both ways. Only `train` is read.

    python benchmarks/bench_rescore.py DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import numpy as np
import optuna
from common import study_of

from automl.components.base import BuildContext
from automl.components.runtime import Runtime, pick_device
from automl.pipeline.metrics import METRICS
from automl.search.evaluate import cross_validate
from automl.search.orchestrator import encode_labels
from automl.search.selection import candidates, select, shortlist
from automl.search.study import SETTINGS_KEY, stored_problem
from automl.search.worker import study_dataset
from automl.space.spec import PipelineSpec

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rescore(runs: Path) -> None:
    study = study_of(runs / "optuna.db")
    problem = stored_problem(study)
    assert problem is not None
    settings = study.user_attrs[SETTINGS_KEY]
    metric = METRICS.get(problem.metric)
    ds = study_dataset(settings, Path(problem.data))
    _, y = encode_labels(ds.y)
    runtime = Runtime(
        device=pick_device(),
        n_jobs=os.cpu_count() or 1,
        cache_dir=str(runs / "cache"),
        unlabelled=ds.unlabelled,
    )
    ctx = BuildContext(profile=problem.profile, seed=settings["seed"], runtime=runtime)
    plan, n = problem.folds, problem.folds.n_splits
    trials = study.get_trials(deepcopy=False)
    keep = {c.number for c in shortlist(candidates(trials, n), metric)}
    rescored = copy.deepcopy(trials)
    for t in rescored:
        scores = t.user_attrs.get("fold_scores") or []
        if t.number in keep and len(scores) >= 2 * n and "oof_second" not in t.user_attrs:
            spec = PipelineSpec.from_dict(t.user_attrs["spec"])
            res = cross_validate(spec, ds.X, y, plan.repeat(1), metric, ctx)
            t.set_user_attr("oof_second", np.round(res.oof, 4).tolist())
    before = select(trials, y, plan, metric, seed=settings["seed"])
    after = select(rescored, y, plan, metric, seed=settings["seed"])
    n_second = sum("oof_second" in t.user_attrs for t in rescored)
    for name, sel in (("first repeat", before), ("second repeat", after)):
        assert sel is not None
        rules = ", ".join(
            f"{e.rule} {e.mean:.3f}" + (f" (wins {e.wins:.0%})" if e.wins is not None else "")
            for e in sel.rules
        )
        print(f"  scored on the {name}: ships {sel.rule} {list(sel.members)}; {rules}")
    print(f"  ({n_second} of {len(keep)} shortlisted trials re-scored on their second repeat)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", type=Path, nargs="+", help="folders holding <...>/runs/optuna.db")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for d in args.dirs:
        for db in sorted(d.rglob("runs/optuna.db")):
            print(db.parent.parent)
            rescore(db.parent)


if __name__ == "__main__":
    main()
