"""What a trained model needs at predict time, below ``search/``, ``export/`` and ``predict``:
building a pipeline from its spec, the feature pipeline, aligned probabilities, the ensemble
and the metric definitions. Nothing here imports Optuna or the search stack."""
