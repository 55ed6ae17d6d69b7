"""Prompt templates: parsing, selection, rendering, and :func:`build_prompt`.

A template is a Jinja2 file ``prompts/<id>.md.j2`` that opens with its metadata, a YAML block
inside a Jinja comment (so rendering ignores it)::

    {#---
    id: bug_fix
    task_types: [bug_fix]
    complexity: [1, 5]
    description: Fix a reported bug with a regression test.
    variables: [task, repository, validation, context]
    ---#}

Shared parts live in ``prompts/_partials/`` and are pulled in with ``{% extends %}``,
``{% import %}`` or ``{% include %}``. This module never reads files: the caller hands
:func:`parse_template` the template's text and the partials it may pull in (name → source;
:mod:`codeloop.services.prompting.templates` reads them from ``prompts/``), and a parsed
template carries the partials it uses, so it renders from what it carries alone. Rendering is sandboxed (``SandboxedEnvironment``) and strict
(``StrictUndefined``): a missing variable raises :class:`PromptRenderError` naming the
template and the variable. Templates never see raw third-party text: every such string
reaches them cleaned and fenced (:mod:`codeloop.domain.untrusted`), and Jinja does not
evaluate the contents of variables, so ``{{ ... }}`` in an issue body stays literal text.
"""

from __future__ import annotations

import functools
import hashlib
import re
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from jinja2 import DictLoader, StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import Field, ValidationError, field_validator, model_validator

from codeloop.domain.frozen import Frozen
from codeloop.domain.learning import LearningInputs, Outcomes, choose, complexity_band
from codeloop.domain.prompt_context import (
    TASK_TYPES,
    ContextManifest,
    FittedContext,
    PromptInputs,
    context_pieces,
    fit_context,
)
from codeloop.domain.repo_config import RepoConfig
from codeloop.domain.untrusted import clean, fence, inline

_HEADER = re.compile(r"\A\{#-?[ \t]*---[ \t]*\n(?P<yaml>.*?)\n---[ \t]*-?#\}[ \t]*\n?", re.DOTALL)


class PromptTemplateError(ValueError):
    """A template file cannot be used (bad header, bad metadata, bad Jinja, undeclared variable)."""


class PromptSelectionError(LookupError):
    """No template can serve the task (or a repository pins one that does not exist)."""


class PromptRenderError(RuntimeError):
    """Rendering failed; ``template_id`` and ``variable`` say where and what."""

    def __init__(self, template_id: str, message: str, variable: str | None = None, line: int | None = None):
        self.template_id = template_id
        self.variable = variable
        self.line = line
        where = f" (line {line})" if line else ""
        super().__init__(f"prompt template {template_id!r}{where}: {message}")


class TemplateMeta(Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    task_types: list[str] = Field(min_length=1)
    complexity: tuple[int, int] = (1, 5)
    description: str
    variables: list[str] = Field(description="The variables the template uses; all must be given.")

    @field_validator("task_types")
    @classmethod
    def _known_task_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(TASK_TYPES))
        if unknown:
            raise ValueError(f"unknown task types {unknown}; known: {list(TASK_TYPES)}")
        return value

    @model_validator(mode="after")
    def _complexity_range(self) -> TemplateMeta:
        low, high = self.complexity
        if not 1 <= low <= high <= 5:
            raise ValueError(f"complexity must be [min, max] within 1..5, got {list(self.complexity)}")
        return self

    @property
    def complexity_width(self) -> int:
        return self.complexity[1] - self.complexity[0]

    def serves(self, task_type: str) -> bool:
        return task_type in self.task_types

    def fits(self, complexity: int) -> bool:
        return self.complexity[0] <= complexity <= self.complexity[1]


class PromptTemplate(Frozen):
    """A template as written, with everything that renders it: its own ``source`` and the
    ``partials`` it pulls in, transitively (name → source). ``sha256`` covers both, so the
    version store sees a change to a shared partial as a change to each template using it,
    and an old version renders with the partials it was stored with."""

    meta: TemplateMeta
    source: str
    partials: dict[str, str] = Field(default_factory=dict)
    sha256: str

    @property
    def id(self) -> str:
        return self.meta.id


class AvailableTemplate(Frozen):
    """A template at one version (versions are assigned by the version store, from 1).
    ``active``: the version an operator's rollback (or a file reverted to it) made the template's
    active one; it then serves alone."""

    template: PromptTemplate
    version: int = Field(ge=1)
    active: bool = False


class TemplateSelection(Frozen):
    template: PromptTemplate
    version: int
    reason: str


class PromptSizes(Frozen):
    total_chars: int
    context_chars: int
    context_budget: int
    task_chars: int = Field(description="The protected task sections (request, issue, PR, criteria).")


class RenderedPrompt(Frozen):
    text: str
    template_id: str
    template_version: int
    template_sha256: str
    reason: str
    manifest: ContextManifest
    sizes: PromptSizes
    sha256: str


# -- parsing ---------------------------------------------------------------------------------


def _environment(partials: Mapping[str, str]) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=DictLoader(dict(partials)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def parse_template(
    source: str, partials: Mapping[str, str] | None = None, name: str = "<template>"
) -> PromptTemplate:
    """A template's metadata, checked against what its Jinja actually uses (with its partials).

    ``partials`` are the sources the template may pull in, by the name it uses for them
    (``_partials/layout.md.j2``); the template keeps those it uses, transitively.
    """
    header = _HEADER.match(source)
    if not header:
        raise PromptTemplateError(f"{name}: must open with a metadata block {{#--- … ---#}}")
    try:
        data = yaml.safe_load(header.group("yaml"))
        template_meta = TemplateMeta.model_validate(data)
    except yaml.YAMLError as exc:
        raise PromptTemplateError(f"{name}: the metadata block is not valid YAML ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise PromptTemplateError(f"{name}: bad metadata: {problems}") from None
    env = _environment(partials or {})
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise PromptTemplateError(f"{name}: line {exc.lineno}: {exc.message}") from None
    used_partials = _partials_of(tree, env)
    used = set(meta.find_undeclared_variables(tree))
    for _, partial_tree in used_partials.values():
        used |= meta.find_undeclared_variables(partial_tree)
    declared = set(template_meta.variables)
    if used != declared:
        raise PromptTemplateError(
            f"{name}: metadata variables must be exactly those used (with its partials): "
            f"used but not declared {sorted(used - declared)}, "
            f"declared but not used {sorted(declared - used)}"
        )
    sources = {partial: used_partials[partial][0] for partial in sorted(used_partials)}
    return PromptTemplate(
        meta=template_meta, source=source, partials=sources, sha256=content_hash(source, sources)
    )


def content_hash(source: str, partials: Mapping[str, str]) -> str:
    """The version store's identity of a template: its text, then each partial by name.
    Stored versions carry this hash, so its formula must not change."""
    digest = hashlib.sha256(source.encode())
    for partial in sorted(partials):
        digest.update(f"\0{partial}\0{partials[partial]}".encode())
    return digest.hexdigest()


def _partials_of(
    tree: Any, env: SandboxedEnvironment, found: dict | None = None
) -> dict[str, tuple[str, Any]]:
    """Every template ``tree`` extends, imports or includes, transitively: name → (source, tree)."""
    found = {} if found is None else found
    for name in meta.find_referenced_templates(tree):
        if name is None:
            raise PromptTemplateError("templates must name the partials they use literally")
        if name not in found:
            source = _partial_source(env, name)
            try:
                partial_tree = env.parse(source)
            except TemplateSyntaxError as exc:
                raise PromptTemplateError(f"partial {name!r}: line {exc.lineno}: {exc.message}") from None
            found[name] = (source, partial_tree)
            _partials_of(partial_tree, env, found)
    return found


def _partial_source(env: SandboxedEnvironment, name: str) -> str:
    try:
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    except TemplateError as exc:
        raise PromptTemplateError(f"partial {name!r} cannot be loaded: {exc}") from None
    return source


# -- selection ---------------------------------------------------------------------------------


def select_template(
    available: Sequence[AvailableTemplate],
    task_type: str,
    complexity: int,
    repo_config: RepoConfig,
    learning: LearningInputs | None = None,
) -> TemplateSelection:
    """The template for a task, and why.

    1. A repository pin (``prompts: {<task type>: <id> | {template, version}}``) wins: that
       id at the pinned version, or its latest version. A pin that names nothing available
       is an error (a silent fallback would hide the repository's misconfiguration).
    2. Otherwise, among the templates serving the task type, those whose complexity range
       holds the task's complexity; if none does, those whose range is nearest to it.
    3. Ties go to the narrowest complexity range (the most specific), then to the template
       serving the fewest task types, then to the smallest id (alphabetical).
    4. The version: a rolled-back template serves its active version alone. Otherwise, with
       ``learning``, the version the task started with (its outcome is that version's), else one
       chosen by Thompson sampling over the versions' posteriors (:mod:`codeloop.domain.learning`);
       without it, the latest version.
    """
    pin = repo_config.prompt_pin(task_type)
    if pin is not None:
        return _pinned(available, task_type, pin.template, pin.version)
    latest = _latest_versions(available)
    serving = [t for t in latest if t.template.meta.serves(task_type)]
    if not serving:
        raise PromptSelectionError(f"no prompt template serves task type {task_type!r}")
    fitting = [t for t in serving if t.template.meta.fits(complexity)]
    if fitting:
        why = f"serves {task_type!r} and complexity {complexity} is within its range"
    else:
        fitting = _nearest_range(serving, complexity)
        why = (
            f"serves {task_type!r}; no template's complexity range holds {complexity}, this one's is nearest"
        )
    chosen = min(fitting, key=_specificity)
    low, high = chosen.template.meta.complexity
    ties = (
        f"; chosen among {len(fitting)} by narrowest range, fewest task types, then id"
        if len(fitting) > 1
        else ""
    )
    chosen, version_reason = _version(available, chosen, complexity, learning)
    reason = f"{chosen.template.id} v{chosen.version} (complexity {low}-{high}): {why}{ties}{version_reason}"
    return TemplateSelection(template=chosen.template, version=chosen.version, reason=reason)


def _version(
    available: Sequence[AvailableTemplate],
    latest: AvailableTemplate,
    complexity: int,
    learning: LearningInputs | None,
) -> tuple[AvailableTemplate, str]:
    """Which version of the chosen template serves, and why (appended to the reason)."""
    versions = [t for t in available if t.template.id == latest.template.id]
    held = [t for t in versions if t.active]
    if held:
        return held[0], f"; v{held[0].version} is the active version (rolled back), it serves alone"
    if learning is None:
        return latest, ""
    keys = [(t.template.id, t.version) for t in versions]
    used = (latest.template.id, learning.kept.get(latest.template.id))
    if used in keys:
        kept = versions[keys.index(used)]
        return kept, f"; v{kept.version} kept: the task used it before (its outcome counts for it)"
    choice = choose(
        [f"v{t.version}" for t in versions],
        [learning.everyone.get(key, Outcomes()) for key in keys],
        [learning.repository.get(key, Outcomes()) for key in keys],
        learning.policy,
        learning.rng,
    )
    band = complexity_band(complexity)
    return versions[choice.index], f"; version by outcomes (complexity band {band}): {choice.reason}"


def _pinned(available: Sequence[AvailableTemplate], task_type: str, template_id: str, version: int | None):
    versions = [t for t in available if t.template.id == template_id]
    if version is not None:
        versions = [t for t in versions if t.version == version]
    if not versions:
        wanted = f"{template_id!r}" + (f" version {version}" if version is not None else "")
        raise PromptSelectionError(
            f".github/codeloop.yml pins prompts.{task_type} to {wanted}, which is not available"
        )
    chosen = max(versions, key=lambda t: t.version)
    pinned = f"pinned to version {version}" if version is not None else "pinned (latest version)"
    note = "" if chosen.template.meta.serves(task_type) else f"; note: it does not declare {task_type!r}"
    reason = (
        f"{template_id} v{chosen.version}: the repository's .github/codeloop.yml {pinned} "
        f"for {task_type!r}{note}"
    )
    return TemplateSelection(template=chosen.template, version=chosen.version, reason=reason)


def _latest_versions(available: Sequence[AvailableTemplate]) -> list[AvailableTemplate]:
    latest: dict[str, AvailableTemplate] = {}
    for item in available:
        current = latest.get(item.template.id)
        if current is None or item.version > current.version:
            latest[item.template.id] = item
    return list(latest.values())


def _nearest_range(candidates: list[AvailableTemplate], complexity: int) -> list[AvailableTemplate]:
    def distance(item: AvailableTemplate) -> int:
        low, high = item.template.meta.complexity
        return low - complexity if complexity < low else complexity - high

    nearest = min(distance(t) for t in candidates)
    return [t for t in candidates if distance(t) == nearest]


def _specificity(item: AvailableTemplate) -> tuple[int, int, str]:
    template_meta = item.template.meta
    return (template_meta.complexity_width, len(template_meta.task_types), template_meta.id)


# -- rendering ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _compiled(source: str, partials: tuple[tuple[str, str], ...]) -> Template:
    return _environment(dict(partials)).from_string(source)


_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def render_template(template: PromptTemplate, variables: dict[str, Any]) -> str:
    """The template rendered with ``variables`` and its own partials; every declared variable
    must be given."""
    missing = [name for name in template.meta.variables if name not in variables]
    if missing:
        raise PromptRenderError(template.id, f"variable {missing[0]!r} was not given", variable=missing[0])
    try:
        return _compiled(template.source, tuple(sorted(template.partials.items()))).render(variables)
    except UndefinedError as exc:
        found = _UNDEFINED_NAME.search(str(exc))
        variable = next((g for g in found.groups() if g), None) if found else None
        raise PromptRenderError(
            template.id,
            f"undefined variable {variable!r}: {exc}",
            variable=variable,
            line=_template_line(exc),
        ) from None
    except TemplateError as exc:
        raise PromptRenderError(template.id, str(exc), line=_template_line(exc)) from None


def _template_line(exc: BaseException) -> int | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


# -- the whole pipeline ------------------------------------------------------------------------


def build_prompt(
    templates: Sequence[AvailableTemplate],
    inputs: PromptInputs,
    repo_config: RepoConfig,
    max_context_chars: int,
    learning: LearningInputs | None = None,
) -> RenderedPrompt:
    """Select a template, fit the context to the budget, render.

    ``max_context_chars`` is the service-wide budget (``get_settings().max_context_chars``);
    the repository's ``max_context_chars`` overrides it. The budget bounds the context
    section (fenced pieces, headings and cut markers); the task itself, its acceptance
    criteria and the validation commands are never cut and are outside it.
    """
    task = inputs.task
    selection = select_template(templates, task.type, task.complexity, repo_config, learning)
    budget = repo_config.max_context_chars or max_context_chars
    fitted = fit_context(context_pieces(inputs), budget)
    variables = template_variables(inputs, repo_config, fitted)
    text = render_template(selection.template, variables)
    sizes = PromptSizes(
        total_chars=len(text),
        context_chars=fitted.manifest.used,
        context_budget=budget,
        task_chars=_task_chars(variables["task"]),
    )
    return RenderedPrompt(
        text=text,
        template_id=selection.template.id,
        template_version=selection.version,
        template_sha256=selection.template.sha256,
        reason=selection.reason,
        manifest=fitted.manifest,
        sizes=sizes,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def template_variables(
    inputs: PromptInputs, repo_config: RepoConfig, fitted: FittedContext
) -> dict[str, Any]:
    """What templates see: plain values, third-party text already cleaned and fenced."""
    task = inputs.task
    issue = task.issue
    pull_request = task.pull_request
    return {
        "task": {
            "type": task.type,
            "complexity": task.complexity,
            "attempt": task.attempt,
            "request": clean(task.request).text.strip(),
            "requested_by": inline(task.requested_by) if task.requested_by else None,
            "acceptance_criteria": [clean(c).text.strip() for c in task.acceptance_criteria],
            "paths_in_scope": [inline(p) for p in task.paths_in_scope],
            "paths_out_of_scope": [inline(p) for p in task.paths_out_of_scope],
            "issue": None
            if issue is None
            else {
                "number": issue.number,
                "url": issue.url,
                "block": fence(
                    f"issue #{issue.number}, title and body",
                    clean(f"{issue.title}\n\n{issue.body or '(no description)'}").text.strip(),
                ),
            },
            "pull_request": None
            if pull_request is None
            else {
                "number": pull_request.number,
                "url": pull_request.url,
                "head_branch": inline(pull_request.head_branch),
                "base_branch": inline(pull_request.base_branch),
                "block": fence(
                    f"pull request #{pull_request.number}, title and description",
                    clean(f"{pull_request.title}\n\n{pull_request.body or '(no description)'}").text.strip(),
                ),
            },
        },
        "repository": {
            "full_name": inline(inputs.repository.full_name),
            "default_branch": inline(inputs.repository.default_branch),
        },
        "validation": {
            "setup": [clean(c).text for c in repo_config.validation.setup],
            "test": [clean(c).text for c in repo_config.validation.test],
            "timeout_minutes": repo_config.validation.timeout_minutes,
            "include_repo_checks": repo_config.validation.include_repo_checks,
        },
        "context": {
            "text": fitted.text,
            "kinds": sorted({piece.kind for piece in fitted.included}),
            "shortened": [p.title for p in fitted.manifest.cut if p.rendered_chars],
            "left_out": [
                f"{p.title} ({p.cut_chars:,} chars)" for p in fitted.manifest.cut if not p.rendered_chars
            ],
        },
    }


def _task_chars(task: dict[str, Any]) -> int:
    blocks = [task["request"], *task["acceptance_criteria"]]
    blocks += [part["block"] for part in (task["issue"], task["pull_request"]) if part]
    return sum(len(b) for b in blocks)
