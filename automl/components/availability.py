"""Whether a component can run here: installed modules and weights in the local HF cache.

Checks are cheap (no import of the module, no network), because the search space is built
from them before every search.
"""

from __future__ import annotations

import importlib.util


def has_modules(*names: str) -> bool:
    return all(importlib.util.find_spec(n) is not None for n in names)


def in_hf_cache(repo: str, files: tuple[str, ...] = ("config.json",)) -> bool:
    """Any of ``files`` of the hub repository ``repo`` is in the local Hugging Face cache."""
    if not has_modules("huggingface_hub"):
        return False
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, f), str) for f in files)
