"""Load the Lambda handlers from functions/<name>/app.py, as the local stack runs them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


def load_module(name: str) -> ModuleType:
    """functions/<name>/app.py, imported as Lambda imports it."""
    path = FUNCTIONS_DIR / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"codeloop_function_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(name: str) -> Any:
    return load_module(name).lambda_handler
