"""Merge queues: a ``merge_group`` ``checks_requested`` delivery gets codeloop's check run on the
merge group's head concluded at once (see :func:`~codeloop.domain.report.render_merge_group_check_run`),
so a queue whose branch protection requires the ``codeloop`` check never waits on it.
"""

from __future__ import annotations

from typing import Any

from codeloop.adapters import github
from codeloop.db import validation_store
from codeloop.db.pool import transaction
from codeloop.domain.report import render_merge_group_check_run


def on_merge_group_checks_requested(installation_id: int, full_name: str, merge_group: dict[str, Any]) -> str:
    """Conclude codeloop's check run on the merge group's head commit; what was done, in words."""
    head_sha = merge_group.get("head_sha")
    if not head_sha:
        return "merge group without a head commit"
    tree_sha = (merge_group.get("head_commit") or {}).get("tree_id")
    with transaction() as conn:
        green = bool(tree_sha) and validation_store.validated_green_tree(conn, full_name, tree_sha)
    render = render_merge_group_check_run(green)
    github.create_check_run(
        installation_id,
        full_name,
        name=render.name,
        head_sha=head_sha,
        status=render.status,
        conclusion=render.conclusion,
        output=github.CheckRunOutput(title=render.title, summary=render.summary),
        external_id=f"merge_group:{head_sha}",
    )
    return f"merge group check run {render.conclusion}"
