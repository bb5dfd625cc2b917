"""The command line: a thin layer that builds configs and calls the API. Parses nothing twice."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from automl.config import (
    DURATION_FORMS,
    Budget,
    SearchConfig,
    check_jobs,
    check_out_file,
    check_tracking_uri,
    redact_url,
)
from automl.exceptions import AutoMLError, LabelColumnUnknown, first_line
from automl.logger import log


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        # Logs go to stderr (stdout carries results); the live progress panel shares this console.
        handler = RichHandler(
            console=Console(stderr=True), show_path=False, markup=False, rich_tracebacks=verbose
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    # Libraries' Python warnings (a solver's ConvergenceWarning on one fold, a deprecation) are
    # details of a trial, not the user's news: shown with -v, otherwise dropped. What the user
    # must know is said through the automl logger.
    logging.captureWarnings(True)
    py_warnings = logging.getLogger("py.warnings")
    py_warnings.handlers[:] = [handler]
    py_warnings.propagate = False
    py_warnings.setLevel(logging.WARNING if verbose else logging.CRITICAL)
    # MLflow configures its own loggers when first imported; its INFO lines (database
    # migrations, uvicorn start-up) are not this tool's news.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _budget(text: str) -> Budget:
    try:
        return Budget.parse(text)
    except AutoMLError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automl", description="AutoML search for small labelled data.")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("search", help="search for the best pipeline and export it")
    s.add_argument(  # a str: SearchConfig refuses URLs, which Path would fold (https:/...)
        "--data", required=True, help="CSV/Parquet/JSONL table, or a folder with one sub-folder per class"
    )
    s.add_argument("--budget", required=True, type=_budget, help=f"wall-clock budget: {DURATION_FORMS}")
    s.add_argument("--label", help="label column of a table (default: label/target/class)")
    s.add_argument(
        "--text", dest="text_column", help="text column(s) of a table, comma-separated (default: detected)"
    )
    s.add_argument("--unlabelled", help="unlabelled data of the same kind (file or folder)")
    s.add_argument("--trials", type=int, help="stop after this many finished trials in the study")
    s.add_argument(
        "--output", type=Path, default=Path("automl-runs"), help="output folder (default: automl-runs)"
    )
    s.add_argument(
        "--metric", help="accuracy, balanced_accuracy, f1_macro, log_loss, roc_auc (default: from the data)"
    )
    s.add_argument("--cv", type=int, default=5, help="number of CV folds (default 5)")
    s.add_argument(
        "--space", type=Path, help="search-space YAML (default: the preset for the data's modality)"
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--storage", help="Optuna storage URL (default: sqlite in the output folder)")
    s.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite in the output folder)")
    s.add_argument("--study", help="study name (default: from the data path); re-use it to resume")
    s.add_argument("--jobs", type=int, dest="n_jobs", help="threads per trial (default: all cores)")
    s.add_argument(
        "--heartbeat",
        type=float,
        help="seconds between worker heartbeats (default 20); "
        "a worker silent for 3 beats has its trial failed and retried",
    )
    s.add_argument(
        "--register",
        metavar="NAME",
        help="register the shipped model in the MLflow Model "
        "Registry as a new version of NAME (serve it with `mlflow models serve -m models:/NAME/<version>`)",
    )
    _add_common(s)

    w = sub.add_parser("worker", help="join a running search's study and run its trials")
    w.add_argument(
        "--storage", required=True, help="the search's Optuna storage URL (postgresql:// or journal:///)"
    )
    w.add_argument("--study", required=True, help="the search's study name")
    w.add_argument(
        "--budget", type=_budget, help="stop after this long (default: when the study's budget ends)"
    )
    w.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one stored with the study)")
    w.add_argument("--data", type=Path, help="local copy of the study's data, if not at the same path")
    w.add_argument("--cache", type=Path, help="embedding cache folder (default: the search's, if reachable)")
    w.add_argument(
        "--jobs",
        type=int,
        default=1,
        dest="n_jobs",
        help="threads per trial (default 1: workers x threads should not exceed the cores)",
    )
    _add_common(w)

    p = sub.add_parser("predict", help="predict with a saved model")
    p.add_argument(
        "--model",
        required=True,
        help="the model folder of a search (automl-runs/<study>/model), its study or output folder, "
        "or an MLflow model URI (runs:/<run id>/model, models:/<name>/<version>)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI, for an MLflow model URI in --model")
    p.add_argument("--cache", type=Path, help="cache embeddings in this folder (default: none written)")
    p.add_argument("--data", required=True, type=Path, help="table, folder or file to predict on")
    p.add_argument("--out", required=True, type=Path, help="CSV to write: prediction + proba_<class> columns")
    _add_common(p)

    u = sub.add_parser("ui", help="open the MLflow UI on the searches' runs")
    u.add_argument("--output", type=Path, default=Path("automl-runs"), help="output folder of the searches")
    u.add_argument("--tracking-uri", help="tracking store to serve instead of the output folder's")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=5000)
    _add_common(u)

    b = sub.add_parser(
        "backbones", help="list pretrained backbones/encoders and whether they are usable offline"
    )
    _add_common(b)

    rep = sub.add_parser("report", help="write (or rewrite) the HTML report of a finished search")
    rep.add_argument("--run", required=True, type=Path, help="the search's run folder (automl-runs/<study>)")
    rep.add_argument(
        "--storage", help="Optuna storage URL the search used (default: sqlite in the output folder)"
    )
    _add_common(rep)

    r = sub.add_parser("runs", help="list past searches in an output folder")
    r.add_argument("--output", type=Path, default=Path("automl-runs"))
    _add_common(r)

    g = sub.add_parser("suggest", help="rank unlabelled items to label next, with a search's model")
    g.add_argument(
        "--model", required=True, help="the model folder, its study or output folder, or an MLflow model URI"
    )
    g.add_argument("--pool", required=True, type=Path, help="unlabelled items: a table, a folder of files")
    g.add_argument("--n", type=int, default=50, help="how many items to suggest (default 50)")
    g.add_argument("--out", required=True, type=Path, help="CSV to write: item, score, predicted class, why")
    g.add_argument(
        "--labelled", type=Path, help="the labelled data (default: the data the model was trained on)"
    )
    g.add_argument(
        "--strategy",
        help="balanced_margin (default), margin, entropy, kcenter, margin_kcenter, badge, typiclust, random",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    _add_common(g)
    return parser


def _quiet_optuna() -> None:
    """Optuna's own per-trial lines duplicate ours, and it logs a failed trial's traceback at
    WARNING: the search logs the failure itself, in one line (only commands that search
    import Optuna)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def cmd_search(args: argparse.Namespace) -> int:
    from automl.search.orchestrator import search

    _quiet_optuna()
    fields = SearchConfig.__dataclass_fields__
    config = SearchConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None})
    try:
        result = search(config)
    except LabelColumnUnknown as e:
        if not sys.stdin.isatty():
            raise
        label = _ask_label(e.columns)
        print(f"(next time: --label {label})")
        result = search(dataclasses.replace(config, label=label))
    shipped = result.shipped
    if shipped is not None:
        print(f"shipped: {shipped.describe()}")
        print(f"  {shipped.sentence(result.metric)}")
    if result.curve_sentence:
        print(f"  {result.curve_sentence}")
    print(
        f"best single trial: {result.metric} {result.best_value:.4f} CV (trial {result.best_trial}, "
        f"optimistic: the best of {result.n_complete}): {result.best_spec.describe()}"
    )
    print(f"model: {result.model_dir} ({_size(result.model_dir)})")
    print(f"predict: automl predict --model {result.model_dir} --data NEW_DATA --out predictions.csv")
    print(f"runs: automl ui --output {config.output}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from automl.search.worker import work

    check_jobs(args.n_jobs)
    if args.tracking_uri:
        check_tracking_uri(args.tracking_uri)
    _quiet_optuna()
    result = work(
        args.storage,
        args.study,
        budget=args.budget,
        tracking_uri=args.tracking_uri,
        data=args.data,
        cache_dir=args.cache,
        n_jobs=args.n_jobs,
    )
    print(
        f"worker {result.worker}: {result.trials_run} trial(s) in {result.seconds:.0f}s, "
        f"stopped by {result.stopped_by}"
    )
    return 0


def _ask_label(columns: list[str]) -> str:
    return _ask_choice("Which column is the label?", columns)


def _ask_choice(question: str, choices: list[str]) -> str:
    print(question)
    for i, c in enumerate(choices, 1):
        print(f"  {i:2d}. {c}")
    while True:
        answer = input("number or name: ").strip()
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return choices[int(answer) - 1]
        if answer in choices:
            return answer
        print(f"{answer!r} is neither a listed number nor one of the names.")


def _size(folder: Path) -> str:
    size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def cmd_predict(args: argparse.Namespace) -> int:
    from automl.export.locate import SeveralModels
    from automl.predict import Predictor

    check_out_file(args.out, args.data)
    cache = str(args.cache) if args.cache else None
    try:
        predictor = Predictor.load(args.model, args.device, cache, args.tracking_uri)
    except SeveralModels as e:
        if not sys.stdin.isatty():
            raise
        chosen = _ask_choice("Which search's model?", [str(c) for c in e.choices])
        print(f"(next time: --model {chosen})")
        predictor = Predictor.load(chosen, args.device, cache)
    frame = predictor.predict_file(args.data, args.out)
    print(f"wrote {len(frame)} predictions to {args.out}")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from automl.config import check_out_file
    from automl.labelling.pool import DEFAULT_STRATEGY, suggest

    if args.n < 1:
        raise AutoMLError(f"--n must be at least 1, but got {args.n}.")
    check_out_file(args.out, args.pool)
    frame = suggest(
        args.model,
        args.pool,
        n=args.n,
        strategy=args.strategy or DEFAULT_STRATEGY,
        labelled=args.labelled,
        device=args.device,
        seed=args.seed,
    )
    if frame.empty:
        raise AutoMLError(
            f"No item of --pool {args.pool} can be suggested: every one is labelled already (in the "
            "model's training data or --labelled), a copy, or a near-duplicate of a labelled item. "
            "Pass a pool of items that have no label yet."
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} suggestions to {args.out}")
    return 0


def ui_command(tracking_uri: str, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        tracking_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def cmd_ui(args: argparse.Namespace) -> int:
    uri = args.tracking_uri
    if uri is None:
        db = args.output / "mlflow.db"
        if not db.is_file():
            raise AutoMLError(
                f"No MLflow store at {db}. Run a search first, or pass --output "
                "(the folder given to `automl search --output`) or --tracking-uri."
            )
        uri = f"sqlite:///{db.resolve()}"
    # One worker and no job runner: the defaults start ~8 processes and 2.4 GB.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    base = f"http://{args.host}:{args.port}"
    print(f"MLflow UI on {base} (Ctrl-C to stop); each search's runs table:")
    for name, url in experiment_urls(uri, base):
        print(f"  {name}: {url}")
    try:
        return subprocess.call(ui_command(uri, args.host, args.port), env=env)
    except KeyboardInterrupt:
        return 0


def experiment_urls(uri: str, base: str) -> list[tuple[str, str]]:
    """(experiment, URL of its runs table) for every automl experiment in the store. MLflow 3
    opens an experiment in its GenAI view unless the URL asks for the model-training one (the
    experiment's ``mlflow.experimentKind`` tag is ignored while the UI's GenAI / Model training
    switch is shown), so the links ask for it."""
    from mlflow.tracking import MlflowClient

    try:
        experiments = MlflowClient(tracking_uri=uri).search_experiments()
    except Exception as e:
        log.warning("Could not list the experiments in %s (%s).", redact_url(uri), first_line(e, 200))
        return []
    return [
        (e.name, f"{base}/#/experiments/{e.experiment_id}?workflowType=machine_learning")
        for e in experiments
        if e.name.startswith("automl/")
    ]


def cmd_runs(args: argparse.Namespace) -> int:
    if not args.output.is_dir():
        raise AutoMLError(
            f"--output {args.output} does not exist (or is not a folder). Pass the folder given "
            "to `automl search --output` (default automl-runs)."
        )
    rows = [row for path in sorted(args.output.glob("*/summary.json")) if (row := _run_row(path))]
    if not rows:
        print(f"No finished searches in {args.output}.")
        return 0
    print(f"{'study':32} {'metric':18} {'best':>8} {'trials':>7} {'budget':>8}  finished")
    print("\n".join(rows))
    return 0


def _run_row(path: Path) -> str | None:
    """One line of `automl runs`, or None (with a warning) for a summary it cannot read."""
    try:
        s = json.loads(path.read_text())
        n = sum(s["trials"].values())
        return (
            f"{s['study'][:32]:32} {s['metric']:18} {s['best_value']:8.4f} {n:7d} "
            f"{s['budget']:>8}  {s['finished_at']}"
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        why = f"no {e} entry" if isinstance(e, KeyError) else first_line(e)
        log.warning(
            "Skipping %s: not a complete search summary (%s). The search may have been "
            "interrupted; re-run it to rewrite the file.",
            path,
            why,
        )
        return None


def cmd_report(args: argparse.Namespace) -> int:
    from automl.report import write_report

    _quiet_optuna()
    print(write_report(args.run, storage=args.storage))
    return 0


def cmd_backbones(args: argparse.Namespace) -> int:
    from automl.components.backbones_report import all_reports

    for kind, rows in all_reports():
        print(f"{kind}:")
        for name, state, detail in rows:
            print(f"  {name:24} {state:12} {detail}")
    return 0


COMMANDS = {
    "search": cmd_search,
    "worker": cmd_worker,
    "predict": cmd_predict,
    "ui": cmd_ui,
    "runs": cmd_runs,
    "backbones": cmd_backbones,
    "report": cmd_report,
    "suggest": cmd_suggest,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    try:
        return COMMANDS[args.command](args)
    except AutoMLError as e:
        log.error("%s", e)
        return 2
    except OSError as e:
        # A path the checks up front could not vet: root passes os.access everywhere, and
        # /proc or a full disk only refuse at the write itself.
        if args.verbose:
            raise
        where = f" {e.filename}" if e.filename else ""
        log.error(
            "Cannot read or write%s: %s. Check that the path is right and that you may write "
            "there (another --output/--out), then run the command again; -v shows where it failed.",
            where,
            e.strerror or e,
        )
        return 2
    except KeyboardInterrupt:
        log.error("Aborted.")
        return 130


# How long a finished command waits for threads a library left running before it exits anyway.
STRAY_THREAD_GRACE = 10.0


def run() -> None:
    """The ``automl`` program: ``main``, then exit even if a library left a non-daemon thread
    running (everything the command finished is already written; waiting would hang a done
    search forever)."""
    code = main()
    deadline = time.monotonic() + STRAY_THREAD_GRACE
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for t in others:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stray = [t.name for t in others if t.is_alive()]
    if not stray:
        sys.exit(code)
    log.debug("Exiting although thread(s) %s still run.", ", ".join(stray))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
