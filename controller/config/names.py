"""Names that reach a page, a file or a log are checked when the campaign file is loaded.

A fidelity named ``<img src=x onerror=...>`` would otherwise be stored and shown to every
operator; a campaign named ``..`` would become a path. Identifiers (parameters, fidelities,
properties) are Python-like names; labels (campaign names, choices) may also hold ``.``,
``+`` and ``-`` but never start with them.
"""

from __future__ import annotations

import re
from typing import Any

from core import FieldIssue

MAX_NAME = 64
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def identifier_issue(value: Any, field: str, what: str) -> FieldIssue | None:
    """A problem with a parameter, fidelity or property name, or None."""
    if isinstance(value, str) and len(value) <= MAX_NAME and IDENTIFIER.fullmatch(value):
        return None
    return FieldIssue(field, f"{_shown(value)} is not a valid {what} name: use a letter, then letters, digits "
                             f"or '_' (at most {MAX_NAME} characters), e.g. cure_temperature")


def label_issue(value: Any, field: str, what: str) -> FieldIssue | None:
    """A problem with a campaign name or a choice label, or None."""
    if isinstance(value, str) and len(value) <= MAX_NAME and LABEL.fullmatch(value):
        return None
    return FieldIssue(field, f"{_shown(value)} is not a valid {what}: start with a letter or digit, then letters, "
                             f"digits, '_', '.', '+' or '-' (at most {MAX_NAME} characters)")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
