"""Fuzzing the API from its own schema (issue 8): every operation, as an admin and as an
annotator, with a bounded number of generated requests: no 5xx, and every response
matches the schema."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from tests.conftest import import_items, prompt_line

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
EXAMPLES = 15  # generated requests per operation and user: bounded for CI


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """The schema's WSGI calls end like real requests, which close the database
    connection; the test's transaction lives on it. Django's own test client does this."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tokens(project, cast, wsgi_keeps_the_test_connection):
    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    from labelling.models import ApiToken

    return project, {
        name: ApiToken.objects.create(user=cast[name])[1] for name in ("adam", "alice")
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@pytest.mark.django_db
def test_every_operation_survives_generated_requests(case, fuzz_tokens):
    project, tokens = fuzz_tokens
    if case.path_parameters and "project_id" in case.path_parameters:
        # Half the requests reach a real project, so the checks behind the 404 run too.
        value = case.path_parameters["project_id"]
        if isinstance(value, int) and value % 2 == 0:
            case.path_parameters["project_id"] = project.pk
    for token in tokens.values():
        # Every check but "a schema-valid request is accepted": a wrong password or an
        # import whose content breaks a rule is valid in shape and still refused, rightly.
        case.call_and_validate(
            headers={"Authorization": f"Token {token}"},
            excluded_checks=[schemathesis.checks.positive_data_acceptance],
        )
