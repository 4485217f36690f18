"""A workflow's diagram, drawn by Graphviz (Debian's `dot`) from the definition itself."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

from markupsafe import Markup

from app.core.i18n import RTL_LANGUAGES
from app.workflow.definitions import WorkflowDefinition

_TITLES = re.compile(r"<title>[^<]*</title>|<!--.*?-->", re.DOTALL)
STATE_COLOURS = {"initial": "#e7f1ff", "working": "#ffffff", "final": "#e9ecef"}


def to_dot(definition: WorkflowDefinition, language: str) -> str:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    # Drawn the way the page reads: from the right in Arabic, as its stepper and timeline are.
    direction = "RL" if language in RTL_LANGUAGES else "LR"
    lines = [
        "digraph workflow {",
        f'  rankdir={direction}; bgcolor="transparent";',
        '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans", fontsize=13];',
        '  edge [fontname="DejaVu Sans", fontsize=11, color="#555555"];',
    ]
    for name, state in definition.states.items():
        extra = ", peripheries=2" if state.kind == "final" else ""
        lines.append(
            f"  {quote(name)} [label={quote(state.label[language])}, "
            f"fillcolor={quote(STATE_COLOURS[state.kind])}{extra}];"
        )
    for transition in definition.transitions:
        for source in transition.sources:
            style = ", style=dashed" if transition.automatic else ""
            colour = ', color="#0d6efd"' if transition.approval else ""
            lines.append(
                f"  {quote(source)} -> {quote(transition.target)} "
                f"[label={quote(transition.label[language])}{style}{colour}];"
            )
            if transition.approval:
                lines.append(
                    f"  {quote(source)} -> {quote(transition.approval.reject_to)} "
                    f'[style=dotted, color="#dc3545", label={quote("✗")}];'
                )
    lines.append("}")
    return "\n".join(lines)


@functools.lru_cache(maxsize=64)
def _render(dot_source: str) -> str | None:
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        result = subprocess.run([dot, "-Tsvg"], input=dot_source.encode(), capture_output=True, timeout=20, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    svg = result.stdout.decode("utf-8", "replace")
    svg = svg[svg.find("<svg") :]  # drop the XML prolog and DOCTYPE: it is inlined in HTML
    # Graphviz titles each node and edge with its identifiers ("internal_review->draft"), which browsers
    # show on hover, in every language, and repeats them in comments: the labels drawn say it.
    return _TITLES.sub("", svg)


def render_svg(definition: WorkflowDefinition) -> Markup | None:
    """Inline SVG in the reader's language, or None when Graphviz is not installed (the table remains)."""
    from app.core.i18n import current_language

    svg = _render(to_dot(definition, current_language()))
    return Markup(svg) if svg else None
