"""The layering rules of ARCHITECTURE.md, checked on the source: every import, including the
ones inside functions, must point down the stack."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "automl"

# module prefix -> prefixes it must never import (directly or inside a function)
FORBIDDEN = {
    "automl.data": (
        "automl.components",
        "automl.pipeline",
        "automl.space",
        "automl.search",
        "automl.export",
        "automl.report",
        "automl.tracking",
        "automl.predict",
        "automl.cli",
        "optuna",
        "mlflow",
    ),
    "automl.components": (
        "automl.pipeline",
        "automl.space.preset",
        "automl.space.sample",
        "automl.search",
        "automl.export",
        "automl.report",
        "automl.tracking",
        "automl.predict",
        "automl.cli",
        "optuna",
        "mlflow",
    ),
    "automl.pipeline": (
        "automl.space.preset",
        "automl.space.sample",
        "automl.search",
        "automl.export",
        "automl.report",
        "automl.tracking",
        "automl.predict",
        "automl.cli",
        "optuna",
        "mlflow",
    ),
    "automl.export": ("automl.search", "automl.report", "automl.cli"),
    "automl.predict": ("automl.search", "automl.report", "automl.tracking", "automl.cli", "optuna", "mlflow"),
    "automl.tracking": ("automl.search", "automl.export", "automl.report", "automl.cli"),
    "automl.space": ("automl.pipeline", "automl.search", "automl.export", "automl.report", "automl.cli"),
    # The report reads the study and the registries' info records, not component code.
    "automl.report": (
        "automl.components.audio",
        "automl.components.images",
        "automl.components.text",
        "automl.components.learners",
        "automl.components.features",
        "automl.components.semi",
        "automl.components.pretrain",
        "automl.cli",
    ),
    "automl.search.worker": ("automl.search.orchestrator",),
    "automl.labelling": ("automl.search", "automl.cli"),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(tree: ast.AST, module: str) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) for every import in the tree."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                pkg = module.split(".")[: -node.level] if not module.endswith("__init__") else module
                base = ".".join([*pkg, base] if base else pkg)
            out.append((node.lineno, base, [a.name for a in node.names]))
    return out


def violations(source: str, module: str) -> list[str]:
    found = []
    rules = [bad for prefix, bad in FORBIDDEN.items() if module == prefix or module.startswith(prefix + ".")]
    for line, target, names in imports(ast.parse(source), module):
        for bad in (b for rule in rules for b in rule):
            if target == bad or target.startswith(bad + "."):
                found.append(f"{module}:{line} imports {target}")
        # A private name belongs to its module: sharing it means it wants a public home.
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private and target.startswith("automl"):
            found.append(f"{module}:{line} imports private {private} from {target}")
    return found


def test_no_module_imports_against_the_layers():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += violations(path.read_text(), module_name(path))
    assert not found, "imports against ARCHITECTURE.md:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "module, source",
    [
        ("automl.pipeline.build", "from automl.search.evaluate import cross_validate"),
        ("automl.export.bundle", "def f():\n    import automl.search.orchestrator"),
        ("automl.predict", "import optuna"),
        ("automl.components.audio.cnn", "from automl.components.audio.features import _helper"),
        ("automl.report.analysis", "from automl.components.images.embed import ImageEmbedding"),
    ],
)
def test_the_checker_catches_a_forbidden_import(module, source):
    """The rule test can fail: each of these deliberately broken imports is reported."""
    assert violations(source, module)


def test_serving_a_model_does_not_import_the_search_stack():
    code = (
        "import sys, automl, automl.predict, automl.export.bundle, automl.pipeline.build\n"
        "loaded = [m for m in ('optuna', 'mlflow', 'automl.search.orchestrator') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"serving imports {out.stdout.strip()}"
