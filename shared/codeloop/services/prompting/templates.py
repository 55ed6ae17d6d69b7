"""The shipped prompt templates on disk: where ``prompts/`` is, and reading it.

The domain (:mod:`codeloop.domain.prompts`) parses and renders from text it is given; this
module is the one place that finds the directory and reads its files.
"""

from __future__ import annotations

import os
from pathlib import Path

import codeloop
from codeloop.domain.prompts import PromptTemplate, PromptTemplateError, parse_template

PROMPTS_DIR_ENV = "CODELOOP_PROMPTS_DIR"
LAMBDA_PROMPTS_DIR = Path("/opt/python/prompts")
TEMPLATE_SUFFIX = ".md.j2"
PARTIALS_DIR = "_partials"


def prompts_dir() -> Path:
    """Where the ship templates are: ``$CODELOOP_PROMPTS_DIR``, the repository's ``prompts/``
    (development), or ``/opt/python/prompts`` (the Lambda layer)."""
    configured = os.environ.get(PROMPTS_DIR_ENV)
    if configured:
        path = Path(configured)
        if not path.is_dir():
            raise PromptTemplateError(f"{PROMPTS_DIR_ENV}={configured} is not a directory")
        return path
    for candidate in (Path(codeloop.__file__).resolve().parent.parent.parent / "prompts", LAMBDA_PROMPTS_DIR):
        if candidate.is_dir():
            return candidate
    raise PromptTemplateError(f"no prompts directory: set {PROMPTS_DIR_ENV}, or ship {LAMBDA_PROMPTS_DIR}")


def read_partials(directory: Path) -> dict[str, str]:
    """Every ``_partials/**/*.md.j2``, by the name templates use for it (``_partials/layout.md.j2``)."""
    return {
        path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((directory / PARTIALS_DIR).rglob(f"*{TEMPLATE_SUFFIX}"))
        if path.is_file()
    }


def load_templates(directory: Path | None = None) -> list[PromptTemplate]:
    """Every ``<id>.md.j2`` in the prompts directory (partials excluded), sorted by id, each
    carrying the partials it uses."""
    directory = directory or prompts_dir()
    partials = read_partials(directory)
    templates = []
    for path in sorted(directory.glob(f"*{TEMPLATE_SUFFIX}")):
        template = parse_template(path.read_text(encoding="utf-8"), partials, name=path.name)
        if template.id != path.name.removesuffix(TEMPLATE_SUFFIX):
            raise PromptTemplateError(f"{path.name}: metadata id {template.id!r} must match the file name")
        templates.append(template)
    return templates
