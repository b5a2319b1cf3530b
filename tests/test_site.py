"""Settings, the demo seeder, the admin, the pages and the sanitising renderer."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from labelling.models import GuidelineVersion, Membership, Project, Prompt, Response
from labelling.rendering import render_markdown
from rlhf_site.env import env_bool, env_int, env_list
from tests.conftest import PASSWORD, import_items, prompt_line

ROOT = Path(__file__).resolve().parent.parent

# --- settings from the environment ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("ON", True), ("false", False), ("0", False)]
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_bool("SOME_FLAG") is expected


def test_env_bool_refuses_junk(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "yes please")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG")


def test_env_int_and_env_list(monkeypatch):
    monkeypatch.setenv("N", "12")
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_int("N", 1) == 12 and env_list("HOSTS") == ["a.example", "b.example"]
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env_int("N", 1)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    unset = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    clean["DJANGO_SETTINGS_MODULE"] = "rlhf_site.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_server_refuses_to_start_in_production_without_a_secret_key():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_junk_debug_value_stops_start_up():
    result = _manage("check", DEBUG="maybe", SECRET_KEY="k" * 60)
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr


def test_check_deploy_is_clean_with_production_like_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="a9X!kq3-" * 8,
        ALLOWED_HOSTS="labels.example.org",
        CSRF_TRUSTED_ORIGINS="https://labels.example.org",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


# --- the domain's constraints hold whoever writes --------------------------------------------


def test_the_database_refuses_a_second_membership_for_the_same_user(project, cast):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(project=project, user=cast["alice"], role="reviewer")


def test_the_database_refuses_a_duplicate_guideline_version(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        GuidelineVersion.objects.create(
            project=project, version=1, body="x", change_summary="x", published_at=timezone.now()
        )


@pytest.mark.parametrize(
    "field", [{"responses_per_prompt": 1}, {"responses_per_prompt": 10}, {"gold_rate": 2}]
)
def test_the_database_refuses_impossible_project_settings(db, field):
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(name="bad", **field)


# --- the demo ---------------------------------------------------------------------------------


def test_seed_demo_builds_a_realistic_project_and_can_run_again(db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    project = Project.objects.get(name="Demo: assistant responses")
    prompts = Prompt.objects.filter(project=project)
    assert prompts.count() >= 200
    assert prompts.filter(kind="chat").count() >= 20
    assert prompts.exclude(gold=None).count() >= 5
    models = set(Response.objects.values_list("model_name", flat=True))
    assert not any(
        model in rid
        for rid in Response.objects.values_list("external_id", flat=True)
        for model in models
    ), "a response id must not give its model away"
    domains = {p.metadata["domain"] for p in prompts}
    assert {"code", "maths", "advice", "chat"} <= domains
    assert Response.objects.filter(prompt__project=project).count() == 4 * prompts.count()
    assert len(set(Response.objects.values_list("model_name", flat=True))) == 4
    assert [c["key"] for c in project.criteria] == ["helpfulness", "harmlessness", "honesty"]
    assert all(c["scale"] == [1, 7] for c in project.criteria)
    assert "## 2. Rank" in project.guidelines.get(version=1).body
    roles = dict(project.memberships.values_list("user__username", "role"))
    assert roles == {
        "admin": "admin",
        "alice": "annotator",
        "bob": "annotator",
        "carol": "annotator",
        "rita": "reviewer",
        "erin": "engineer",
        # Seed raters whose labels give the dashboard and review queue something to show.
        "rater-kim": "annotator",
        "rater-lee": "annotator",
        "rater-max": "annotator",
    }
    assert project.annotations.count() == 180
    assert not project.memberships.get(user__username="rater-kim").user.has_usable_password()
    assert prompts.filter(agreement__lt=project.review_below).exists()
    assert prompts.filter(agreement__gte=0.9).exists()

    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert "0 prompts added" in again.getvalue()
    assert project.annotations.count() == 180
    assert Prompt.objects.count() == prompts.count()
    password = next(
        line.split()[1]
        for line in again.getvalue().splitlines()
        if line.strip().startswith("alice")
    )
    from django.test import Client

    assert Client().login(username="alice", password=password)


def test_seed_demo_keeps_an_older_demo_and_can_rebuild_it(db):
    call_command("seed_demo", stdout=io.StringIO())
    project = Project.objects.get(name="Demo: assistant responses")
    Prompt.objects.filter(project=project, external_id="maths-000").update(content_hash="old")
    err = io.StringIO()
    call_command("seed_demo", stdout=io.StringIO(), stderr=err)
    assert "older version of the demo prompts (1 differ)" in err.getvalue()
    assert Prompt.objects.get(external_id="maths-000").content_hash == "old"

    out = io.StringIO()
    call_command("seed_demo", "--reset", stdout=out)
    assert "212 prompts added" in out.getvalue()
    assert Prompt.objects.get(external_id="maths-000").content_hash != "old"


# --- the admin is usable ------------------------------------------------------------------------


def test_every_admin_page_of_ours_opens_for_staff(client, project, cast):

    import_items(project, prompt_line())
    cast["sam"].is_superuser = True
    cast["sam"].save()
    client.login(username="sam", password=PASSWORD)
    prompt = Prompt.objects.get()
    assignment, annotation = _one_annotation(project, cast["alice"])
    for url in [
        "/admin/",
        "/admin/labelling/project/",
        f"/admin/labelling/project/{project.pk}/change/",
        "/admin/labelling/membership/",
        "/admin/labelling/guidelineversion/",
        f"/admin/labelling/guidelineversion/{project.guidelines.get().pk}/change/",
        "/admin/labelling/prompt/?q=p-1",
        f"/admin/labelling/prompt/{prompt.pk}/change/",
        "/admin/labelling/response/",
        f"/admin/labelling/response/{prompt.responses.first().pk}/change/",
        "/admin/core/auditevent/",
        "/admin/labelling/assignment/",
        f"/admin/labelling/assignment/{assignment.pk}/change/",
        "/admin/labelling/annotation/",
        f"/admin/labelling/annotation/{annotation.pk}/change/",
        "/admin/labelling/pairwisepreference/",
    ]:
        assert client.get(url).status_code == 200, url


def test_a_project_added_in_the_admin_gets_guideline_v1_and_its_creator_as_admin(client, cast):
    cast["sam"].is_superuser = True
    cast["sam"].save()
    client.login(username="sam", password=PASSWORD)
    response = client.post(
        "/admin/labelling/project/add/",
        {
            "name": "Made in the admin",
            "responses_per_prompt": 3,
            "annotations_per_prompt": 3,
            "allow_ties": "on",
            "criteria": "[]",
            "required_critiques": "none",
            "gold_rate": 0,
            "lease_minutes": 30,
            "gold_threshold": 0.7,
            "min_median_seconds": 15,
            "consensus_threshold": 0.6,
            "pause_window": 0,
            "max_annotations_per_prompt": 0,
            "agreement_lead": 2,
            "review_below": 0.5,
            "queue_order": "completion",
            "memberships-TOTAL_FORMS": 0,
            "memberships-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(name="Made in the admin")
    assert project.guidelines.get().version == 1
    assert project.memberships.get().user == cast["sam"]
    assert project.audit_events.filter(verb="project.created").exists()


def test_the_admin_changes_a_project_through_the_domains_rules(client, project, cast):
    """Criteria rescaled once annotated are refused on the field; a change of k moves the
    prompts' targets and is audited, as through the API and the pages."""
    import json

    from tests.conftest import annotate, import_items, prompt_line

    import_items(project, prompt_line("p-1"))
    annotate(project, cast["alice"])
    cast["sam"].is_superuser = True
    cast["sam"].save()
    client.login(username="sam", password=PASSWORD)
    form = {
        "name": project.name,
        "responses_per_prompt": 4,
        "annotations_per_prompt": 3,
        "allow_ties": "on",
        "required_critiques": "none",
        "gold_rate": 0,
        "lease_minutes": 30,
        "gold_threshold": 0.7,
        "min_median_seconds": 15,
        "consensus_threshold": 0.6,
        "pause_window": 0,
        "max_annotations_per_prompt": 0,
        "agreement_lead": 2,
        "review_below": 0.5,
        "queue_order": "completion",
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
    }
    rescaled = [dict(c, scale=[1, 5]) for c in project.criteria]
    url = f"/admin/labelling/project/{project.pk}/change/"
    response = client.post(url, {**form, "criteria": json.dumps(rescaled)})
    assert response.status_code == 200
    assert "cannot be added, removed or rescaled" in response.content.decode()
    project.refresh_from_db()
    assert project.criteria[0]["scale"] == [1, 7]
    response = client.post(
        url, {**form, "annotations_per_prompt": 5, "criteria": json.dumps(project.criteria)}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    prompt = project.prompts.get()
    project.refresh_from_db()
    assert project.annotations_per_prompt == 5 and prompt.target == 5
    event = project.audit_events.filter(verb="project.updated").latest("pk")
    assert event.data["after"] == {"annotations_per_prompt": 5}


def _one_annotation(project, annotator):
    from labelling.queue import assignment_lease_next
    from labelling.submission import annotation_submit

    assignment = assignment_lease_next(project=project, annotator=annotator, now=timezone.now())
    ids = assignment.display_order
    ratings = {str(i): {"helpfulness": 4, "honesty": 4} for i in ids}
    result = annotation_submit(
        assignment=assignment,
        annotator=annotator,
        data={"ranking": [ids], "ratings": ratings},
        now=timezone.now(),
    )
    return assignment, result.annotation


def test_the_admin_cannot_edit_a_published_guideline(client, project, cast):
    cast["sam"].is_superuser = True
    cast["sam"].save()
    client.login(username="sam", password=PASSWORD)
    version = project.guidelines.get()
    client.post(
        f"/admin/labelling/guidelineversion/{version.pk}/change/",
        {"body": "rewritten", "change_summary": "sneaky"},
    )
    version.refresh_from_db()
    assert version.body != "rewritten"


# --- pages ------------------------------------------------------------------------------------


def test_login_page_and_home_list_my_projects(client, project, other_project):
    assert client.get("/accounts/login/").status_code == 200
    client.login(username="alice", password=PASSWORD)
    page = client.get("/").content.decode()
    assert project.name in page and other_project.name not in page


def test_project_page_escapes_prompt_text(client, project):

    hostile = "<img src=x onerror=alert(1)>"
    import_items(project, prompt_line(prompt=hostile))
    # The project page lists prompts to those who may see them (not to annotators).
    client.login(username="adam", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert hostile not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


# --- the sanitising renderer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<svg onload=alert(1)>",
        "<iframe src=//evil.example></iframe>",
    ],
)
def test_markdown_renderer_never_emits_active_content(source):
    tags = _tags(str(render_markdown(source)))
    assert not {name for name, _ in tags} & {"script", "img", "svg", "iframe", "object"}
    for _name, attrs in tags:
        for attr, value in attrs:
            assert not attr.startswith("on"), attrs
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), attrs


def test_hostile_markdown_stays_readable_as_text():
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in str(
        render_markdown("<script>alert(1)</script>")
    )


def _tags(html: str) -> list[tuple[str, list]]:
    from html.parser import HTMLParser

    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_markdown_renderer_keeps_formatting():
    html = str(render_markdown("# Title\n\n**bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |"))
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<code>code</code>" in html and "<table>" in html
    assert 'rel="nofollow noopener noreferrer"' in str(render_markdown("[a](https://example.org)"))


def test_every_page_sends_a_content_security_policy_without_inline_scripts(client, project):
    client.login(username="adam", password=PASSWORD)
    for path in ["/", f"/projects/{project.pk}/", "/accounts/login/", "/api/docs/"]:
        policy = client.get(path)["Content-Security-Policy"]
        directives = {
            part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()
        }
        assert directives["script-src"] == ["'self'"], path
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == [
            "'none'"
        ]
        assert "Content-Security-Policy-Report-Only" not in client.get(path)
