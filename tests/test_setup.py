"""Setting a project up in the pages (issue 17, point 1): staff create a project with
its criteria built row by row, its admins edit the settings that may change."""

from django.test import Client

from core.models import AuditEvent
from labelling.models import Project
from tests.conftest import PASSWORD, annotate, import_items, prompt_line

SETTINGS = {
    "name": "Summaries",
    "description": "Which summary is better?",
    "responses_per_prompt": "3",
    "annotations_per_prompt": "2",
    "max_annotations_per_prompt": "0",
    "agreement_lead": "2",
    "allow_ties": "on",
    "required_critiques": "worst",
    "gold_rate": "0.05",
    "lease_minutes": "20",
    "gold_threshold": "0.7",
    "min_median_seconds": "10",
    "consensus_threshold": "0.6",
    "pause_window": "0",
    "review_below": "0.5",
}


def _rows(*rows: dict, initial: int = 0) -> dict:
    data = {
        "criteria-TOTAL_FORMS": str(len(rows)),
        "criteria-INITIAL_FORMS": str(initial),
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "12",
    }
    for i, row in enumerate(rows):
        data.update({f"criteria-{i}-{k}": v for k, v in row.items()})
    return data


def _client(name: str) -> Client:
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return client


def test_staff_create_a_project_with_criteria_in_the_order_given(cast):
    client = _client("sam")
    assert "Create project" in client.get("/projects/new/").content.decode()
    body = {
        **SETTINGS,
        "guideline": "# Rules\n\nPrefer the faithful summary.",
        **_rows(
            {"label": "Faithfulness", "key": "", "low": "1", "high": "5", "help": "", "ORDER": "2"},
            {"label": "Brevity", "key": "short", "low": "1", "high": "3", "help": "Is it short?",
             "ORDER": "1"},
            {"label": "Dropped", "key": "", "low": "1", "high": "7", "DELETE": "on", "ORDER": "3"},
        ),
    }  # fmt: skip
    response = client.post("/projects/new/", body, follow=True)
    assert response.status_code == 200
    assert "Project created." in response.content.decode()
    project = Project.objects.get(name="Summaries")
    assert project.criteria == [
        {"key": "short", "label": "Brevity", "scale": [1, 3], "help": "Is it short?"},
        {"key": "faithfulness", "label": "Faithfulness", "scale": [1, 5]},
    ]
    assert (project.responses_per_prompt, project.annotations_per_prompt) == (3, 2)
    assert project.required_critiques == "worst" and project.gold_rate == 0.05
    assert project.guidelines.get(version=1).body.startswith("# Rules")
    assert project.memberships.get(user=cast["sam"]).role == "admin"
    assert AuditEvent.objects.filter(verb=AuditEvent.Verb.PROJECT_CREATED, project=project).exists()


def test_a_bad_criterion_is_marked_on_its_row_and_nothing_is_created(cast):
    client = _client("sam")
    body = {
        **SETTINGS,
        **_rows(
            {"label": "Helpful", "key": "same", "low": "1", "high": "7", "ORDER": "1"},
            {"label": "Honest", "key": "same", "low": "5", "high": "2", "ORDER": "2"},
        ),
    }
    response = client.post("/projects/new/", body)
    assert response.status_code == 400
    page = response.content.decode()
    assert "The project was not created" in page
    assert "duplicate key same" in page
    assert "two whole numbers with low &lt; high" in page
    assert 'value="Honest"' in page  # what was typed stays
    assert not Project.objects.filter(name="Summaries").exists()


def test_adding_a_criterion_without_script_posts_for_one_more_row(cast):
    client = _client("sam")
    body = {
        **SETTINGS,
        **_rows({"label": "Helpful", "key": "", "low": "1", "high": "7", "ORDER": "1"}),
        "add-criterion": "1",
    }
    page = client.post("/projects/new/", {**body, "name": ""}).content.decode()
    assert 'name="criteria-1-label"' in page and 'value="Helpful"' in page
    assert 'value="Which summary is better?"' not in page  # a textarea: its text is inside
    assert "Which summary is better?" in page and 'value="20"' in page  # as typed
    # Not a submit: no error marks, not even on the name left to fill.
    assert "data-error-summary" not in page and "errorlist" not in page
    assert not Project.objects.exists()


def test_a_taken_name_and_out_of_range_settings_are_refused_with_reasons(project, cast):
    client = _client("sam")
    taken = client.post("/projects/new/", {**SETTINGS, "name": project.name, **_rows()})
    assert taken.status_code == 400 and "exists already" in taken.content.decode()
    wild = client.post("/projects/new/", {**SETTINGS, "gold_rate": "2", **_rows()})
    assert wild.status_code == 400
    assert "less than or equal to 1" in wild.content.decode()
    assert Project.objects.count() == 1


def test_only_staff_create_projects(project, cast):
    response = _client("adam").get("/projects/new/")
    assert response.status_code == 403
    assert "Only staff create projects." in response.content.decode()
    assert "New project" not in _client("adam").get("/").content.decode()
    assert "New project" in _client("sam").get("/").content.decode()


def test_admins_edit_settings_and_the_change_is_audited(project, cast):
    client = _client("adam")
    page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert 'value="Helpfulness"' in page and "Save settings" in page
    body = {
        **SETTINGS,
        "name": project.name,
        "responses_per_prompt": "4",
        "annotations_per_prompt": "5",
        **_rows(
            {"label": "Helpfulness", "key": "helpfulness", "low": "1", "high": "7", "ORDER": "2"},
            {"label": "Honesty", "key": "honesty", "low": "1", "high": "7", "ORDER": "1"},
            initial=2,
        ),
    }
    response = client.post(f"/projects/{project.pk}/settings/", body, follow=True)
    assert "Settings saved." in response.content.decode()
    project.refresh_from_db()
    assert project.annotations_per_prompt == 5 and project.lease_minutes == 20
    assert [c["key"] for c in project.criteria] == ["honesty", "helpfulness"]
    event = AuditEvent.objects.filter(verb=AuditEvent.Verb.PROJECT_UPDATED, project=project).latest(
        "pk"
    )
    assert event.data["after"]["annotations_per_prompt"] == 5


def test_mid_project_the_fixed_settings_say_why_and_are_kept(project, cast):
    import_items(project, prompt_line("p-1"))
    annotate(project, cast["alice"])
    client = _client("adam")
    page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert "Fixed: prompts are imported" in page
    assert "key and scale stay as they are" in page
    assert 'name="criteria-0-key" value="helpfulness" maxlength="40" readonly' in page
    # Posted anyway (a crafted form): a key or a scale changed is refused, with the reason.
    body = {
        **SETTINGS,
        "name": project.name,
        "responses_per_prompt": "4",
        **_rows(
            {"label": "Helpful?", "key": "x", "low": "1", "high": "3", "help": "Does it help?",
             "ORDER": "1"},
            {"label": "Honesty", "key": "honesty", "low": "1", "high": "7", "ORDER": "2"},
            initial=2,
        ),
    }  # fmt: skip
    refused = client.post(f"/projects/{project.pk}/settings/", body)
    assert refused.status_code == 400
    assert "cannot be added, removed or rescaled" in refused.content.decode()
    # Rows carry their keys: labels go with the criterion each row names, in any order.
    body.update(
        {
            "criteria-0-key": "honesty",
            "criteria-0-high": "7",
            "criteria-0-label": "Truthful",
            "criteria-0-help": "",
            "criteria-1-key": "helpfulness",
            "criteria-1-label": "Helpful?",
            "criteria-1-help": "Does it help?",
        }
    )
    response = client.post(f"/projects/{project.pk}/settings/", body, follow=True)
    assert "Settings saved." in response.content.decode()
    project.refresh_from_db()
    assert project.responses_per_prompt == 4
    assert project.criteria == [
        {"key": "honesty", "label": "Truthful", "scale": [1, 7]},
        {"key": "helpfulness", "label": "Helpful?", "scale": [1, 7], "help": "Does it help?"},
    ]
    responses = client.post(
        f"/projects/{project.pk}/settings/", {**body, "responses_per_prompt": "2"}
    )
    assert responses.status_code == 302  # nothing else changed: "Nothing was changed."
    project.refresh_from_db()
    assert project.responses_per_prompt == 4  # disabled: what is posted is not taken


def test_a_scale_beyond_its_limit_is_refused_on_its_row(cast):
    body = {
        **SETTINGS,
        **_rows({"label": "Huge", "key": "", "low": "1", "high": str(10**30), "ORDER": "1"}),
    }
    response = _client("sam").post("/projects/new/", body)
    assert response.status_code == 400
    assert "less than or equal to 1000" in response.content.decode()
    assert not Project.objects.filter(name="Summaries").exists()


def test_a_blank_row_the_builder_numbered_is_left_out(cast):
    body = {
        **SETTINGS,
        **_rows(
            {"label": "Helpful", "key": "", "low": "1", "high": "7", "ORDER": "1"},
            {"label": "", "key": "", "low": "1", "high": "7", "help": "", "ORDER": "2"},
        ),
    }
    response = _client("sam").post("/projects/new/", body)
    assert response.status_code == 302
    assert [c["key"] for c in Project.objects.get(name="Summaries").criteria] == ["helpful"]


def test_the_api_refuses_to_rescale_criteria_once_prompts_are_annotated(project, cast, api):
    import_items(project, prompt_line("p-1"))
    annotate(project, cast["alice"])
    client = api("adam")
    criteria = [dict(c) for c in project.criteria]
    criteria[0]["scale"] = [1, 5]
    response = client.patch(f"/api/projects/{project.pk}/", {"criteria": criteria}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "criteria"
    criteria[0]["scale"], criteria[0]["label"] = [1, 7], "Useful"
    again = client.patch(f"/api/projects/{project.pk}/", {"criteria": criteria}, format="json")
    assert again.status_code == 200


def test_others_cannot_open_the_settings(project, cast):
    assert _client("alice").get(f"/projects/{project.pk}/settings/").status_code == 403
    assert _client("olga").get(f"/projects/{project.pk}/settings/").status_code == 404


def test_two_overlap_and_pause_mistakes_at_once_are_each_named_on_their_field(project):
    """Issue 18's settings: each refusal on its own field, never a constraint's name."""
    body = {
        **SETTINGS,
        "name": project.name,
        "responses_per_prompt": "4",
        "annotations_per_prompt": "3",
        "max_annotations_per_prompt": "1",
        "pause_window": "2",
        **_rows(
            {"label": "Helpfulness", "key": "helpfulness", "low": "1", "high": "7", "ORDER": "1"},
            {"label": "Honesty", "key": "honesty", "low": "1", "high": "7", "ORDER": "2"},
            initial=2,
        ),
    }
    response = _client("adam").post(f"/projects/{project.pk}/settings/", body)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Must be 0 (fixed overlap) or at least the annotations per prompt (3)." in html
    assert "Must be 0 (never) or at least 3 items." in html
    assert "labelling_project_max_annotations_at_least_k" not in html
