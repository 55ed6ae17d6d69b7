"""Read rendered Markdown the way GitHub does (CommonMark with raw HTML), to check what it shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark", {"html": True})


@dataclass
class Rendered:
    html_fragments: list[str] = field(default_factory=list)  # raw HTML that GitHub would interpret
    prose: list[str] = field(default_factory=list)  # text shown as text (where mentions are live)
    code: list[str] = field(default_factory=list)  # code spans and blocks (inert)
    links: list[str] = field(default_factory=list)  # link targets


def read(markdown: str) -> Rendered:
    rendered = Rendered()
    for token in _PARSER.parse(markdown):
        if token.type == "html_block":
            rendered.html_fragments.append(token.content.strip())
        elif token.type in ("fence", "code_block"):
            rendered.code.append(token.content)
        for child in token.children or []:
            if child.type == "html_inline":
                rendered.html_fragments.append(child.content)
            elif child.type == "code_inline":
                rendered.code.append(child.content)
            elif child.type == "text":
                rendered.prose.append(child.content)
            elif child.type == "link_open":
                rendered.links.append(str(child.attrs.get("href", "")))
    return rendered
