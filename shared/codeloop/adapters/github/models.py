"""The small pydantic models GitHub's responses are read into, and the check run's output."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasPath, BaseModel, ConfigDict, Field

from codeloop.domain.validation import Annotation  # GitHub's annotation shape, defined once


class _FromApi(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Repository(_FromApi):
    id: int
    name: str
    full_name: str
    owner_login: str = Field(validation_alias=AliasPath("owner", "login"))
    private: bool
    fork: bool = False
    default_branch: str
    clone_url: str
    html_url: str


class PullRequest(_FromApi):
    number: int
    state: str
    title: str
    body: str | None = None
    html_url: str
    draft: bool = False
    merged: bool = False
    user_login: str = Field(validation_alias=AliasPath("user", "login"))
    head_ref: str = Field(validation_alias=AliasPath("head", "ref"))
    head_sha: str = Field(validation_alias=AliasPath("head", "sha"))
    # None when the head repository (a fork) was deleted.
    head_repo_full_name: str | None = Field(
        default=None, validation_alias=AliasPath("head", "repo", "full_name")
    )
    head_repo_clone_url: str | None = Field(
        default=None, validation_alias=AliasPath("head", "repo", "clone_url")
    )
    base_ref: str = Field(validation_alias=AliasPath("base", "ref"))
    base_sha: str = Field(validation_alias=AliasPath("base", "sha"))
    changed_files: int | None = None  # absent when listed among others (``GET .../pulls``)


class PullRequestFile(_FromApi):
    filename: str
    status: str
    additions: int
    deletions: int
    changes: int
    patch: str | None = None  # absent for binary or very large files
    previous_filename: str | None = None


class IssueComment(_FromApi):
    id: int
    body: str = ""
    html_url: str
    user_login: str = Field(validation_alias=AliasPath("user", "login"))
    user_type: str = Field(validation_alias=AliasPath("user", "type"))


class CheckRun(_FromApi):
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None = None
    html_url: str | None = None
    details_url: str | None = None
    external_id: str | None = None
    app_slug: str | None = Field(default=None, validation_alias=AliasPath("app", "slug"))
    app_id: int | None = Field(default=None, validation_alias=AliasPath("app", "id"))


class CheckSuite(_FromApi):
    id: int
    head_sha: str
    status: str | None = None
    conclusion: str | None = None
    app_slug: str | None = Field(default=None, validation_alias=AliasPath("app", "slug"))
    app_id: int | None = Field(default=None, validation_alias=AliasPath("app", "id"))


class Commit(_FromApi):
    sha: str
    message: str = Field(validation_alias=AliasPath("commit", "message"))
    author_name: str | None = Field(default=None, validation_alias=AliasPath("commit", "author", "name"))
    authored_at: datetime | None = Field(default=None, validation_alias=AliasPath("commit", "author", "date"))
    # The GitHub account GitHub linked the commit to (by a verified email of it), if any.
    author_login: str | None = Field(default=None, validation_alias=AliasPath("author", "login"))
    html_url: str | None = None


class TreeEntry(_FromApi):
    path: str
    type: str  # blob | tree | commit (submodule)
    mode: str | None = None  # 100644, 100755, 120000 (symlink), 040000 (tree), 160000 (submodule)
    size: int | None = None


class Tree(_FromApi):
    sha: str
    truncated: bool = False
    entries: list[TreeEntry] = Field(validation_alias="tree")


class HookDelivery(_FromApi):
    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool
    status: str
    status_code: int
    event: str
    action: str | None = None
    installation_id: int | None = None
    repository_id: int | None = None


class CheckRunAction(BaseModel):
    """A button on the check run; GitHub sends a ``check_run.requested_action`` webhook on click."""

    label: str = Field(max_length=20)
    description: str = Field(max_length=40)
    identifier: str = Field(max_length=20)


class CheckRunOutput(BaseModel):
    title: str
    summary: str
    text: str | None = None
    annotations: list[Annotation] = Field(default_factory=list)


class MergeState(_FromApi):
    """A pull request as far as merging it is concerned (``mergeable`` is None until GitHub computed it)."""

    node_id: str
    number: int
    state: str
    merged: bool = False
    draft: bool = False
    mergeable: bool | None = None
    mergeable_state: str | None = None
    user_login: str = Field(validation_alias=AliasPath("user", "login"))
    head_ref: str = Field(validation_alias=AliasPath("head", "ref"))
    head_sha: str = Field(validation_alias=AliasPath("head", "sha"))
    head_repo_full_name: str | None = Field(
        default=None, validation_alias=AliasPath("head", "repo", "full_name")
    )
    changed_files: int | None = None


class ThreadComment(_FromApi):
    """One comment of a review thread, as GraphQL gives it."""

    body: str = ""
    url: str | None = None
    diff_hunk: str | None = Field(default=None, validation_alias="diffHunk")
    author_login: str | None = Field(default=None, validation_alias=AliasPath("author", "login"))


class ReviewThread(_FromApi):
    """A conversation on a line of a pull request's diff. REST has no ``is_resolved``; GraphQL has.
    ``line`` is None once the thread is outdated; ``original_line`` is where it was written."""

    is_resolved: bool = Field(validation_alias="isResolved")
    is_outdated: bool = Field(default=False, validation_alias="isOutdated")
    path: str
    line: int | None = None
    original_line: int | None = Field(default=None, validation_alias="originalLine")
    comments: list[ThreadComment] = Field(
        default_factory=list, validation_alias=AliasPath("comments", "nodes")
    )
