"""Error pages that leak nothing, even with DEBUG on (issue 15 point 10).

With DEBUG on (the demo of `make run`), Django answers an unhandled exception with its
technical page: the traceback, every setting it does not recognise as secret, and the
request's environment, which under runserver is the process's whole environment
(database URLs, tokens, whatever the shell held). This reporter gives the site's own
500 page instead, or the API's JSON envelope; the traceback is still logged to the
console by Django's request logger, where the developer running the demo reads it.
"""

from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.views.debug import ExceptionReporter

from core.errors import SERVER_ERROR


class QuietExceptionReporter(ExceptionReporter):
    def get_traceback_html(self) -> SafeString:
        return render_to_string("500.html")

    # Django's returns a rendered template (SafeString, hence the stub's type); what it is
    # used as, a response body or an e-mail's text, is any str.
    def get_traceback_text(self) -> str:  # type: ignore[override]
        # What a client that does not accept HTML (a script, the API) is sent.
        return SERVER_ERROR
