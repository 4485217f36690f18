"""A trail row's "what changed" as a person reads it: indented JSON with its letters as written (an Arabic
title, "numérique", "L'un"), where the page had shown \\u escapes on one line thousands of pixels wide. The
keys stay left to right; each value takes its own direction, so an Arabic one reads from the right."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

INDENT = "  "


def changes_drawn(changes: Any, depth: int = 0) -> Markup:
    """`changes` as JSON for a <pre dir="ltr">: one key a line, sorted as the export writes them, each plain
    value in its own <bdi dir="auto">."""
    inner = INDENT * (depth + 1)
    if isinstance(changes, dict) and changes:
        lines = [
            Markup("%s%s: %s") % (inner, _written(str(key)), changes_drawn(value, depth + 1))
            for key, value in sorted(changes.items(), key=lambda item: str(item[0]))
        ]
        return Markup("{\n%s\n%s}") % (Markup(",\n").join(lines), INDENT * depth)
    if isinstance(changes, list) and changes:
        lines = [Markup("%s%s") % (inner, changes_drawn(value, depth + 1)) for value in changes]
        return Markup("[\n%s\n%s]") % (Markup(",\n").join(lines), INDENT * depth)
    return Markup('<bdi dir="auto">%s</bdi>') % _written(changes)


def _written(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
