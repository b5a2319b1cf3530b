"""Error pages that leak nothing, even with DEBUG on (issue 15 point 10).

With DEBUG on (the demo of `make run`), Django answers an unhandled exception with its
technical page: the traceback, every setting it does not recognise as secret, and the
request's environment, which under runserver is the process's whole environment
(database URLs, tokens, whatever the shell held). This reporter gives the site's own
500 page instead, or the API's JSON envelope; the traceback is still logged to the
console by Django's request logger, where the developer running the demo reads it.
"""

import json

from django.template.loader import render_to_string
from django.views.debug import ExceptionReporter


def error_body(detail, errors: list[dict] | None = None, **extra) -> dict:
    """The error envelope of every API answer that is not a success: `detail` for a
    person, `errors` ({"field", "message"}, or {"line", ...} for imports) for a script,
    and any `extra` keys an answer adds (a 409's `guideline_version`). Every door builds
    it here: DRF's views (labelling.api_errors), the input layer, the URL fallbacks."""
    return {"detail": str(detail), "errors": errors or [], **extra}


# The API's answer to a failure of its own: the envelope, nothing about the failure.
# (Here, not in labelling: Django imports this module while it configures logging,
# before any app is loaded.)
SERVER_ERROR = json.dumps(error_body("The server failed on this request; it is logged."))


class QuietExceptionReporter(ExceptionReporter):
    def get_traceback_html(self) -> str:
        return render_to_string("500.html")

    def get_traceback_text(self) -> str:
        # What a client that does not accept HTML (a script, the API) is sent.
        return SERVER_ERROR
