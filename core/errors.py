"""The errors every app raises and the one envelope every API failure is answered with.

Nothing here imports an app or a model: Django imports this module while it configures
logging (the quiet 500 of rlhf_site.errors), before any app is loaded.
"""

import json
from typing import Any


class DomainError(Exception):
    """A request the domain refuses; views turn it into a 400 with this message."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def error_body(detail: object, errors: list[dict] | None = None, **extra: Any) -> dict:
    """The error envelope of every API answer that is not a success: `detail` for a
    person, `errors` ({"field", "message"}, or {"line", ...} for imports) for a script,
    and any `extra` keys an answer adds (a 409's `guideline_version`). Every door builds
    it here: DRF's views (core.api_errors), the input layer, the URL fallbacks."""
    return {"detail": str(detail), "errors": errors or [], **extra}


# The API's answer to a failure of its own: the envelope, nothing about the failure.
SERVER_ERROR = json.dumps(error_body("The server failed on this request; it is logged."))
