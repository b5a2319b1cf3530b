"""Reward-model assistance (issue 7), driven through the real transformers loading path
with a tiny model the test run builds and saves itself; nothing touches the network."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from labelling.models import Prompt, RegisteredRewardModel, Response, ResponseScore, ScoringJob
from labelling.queue import assignment_lease_next
from labelling.scoring import reward_model_load, scoring_request, scoring_run
from labelling.services import project_update
from ranking.agreement import agreement_report
from tests.conftest import PASSWORD, annotate, import_items, prompt_line
from tests.reward_model import build_tiny_reward_model

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


def register(folder, name: str | None = None) -> str:
    """Staff register a reward model (the only kind a project may name)."""
    name = name or f"rm-{Path(folder).name}"
    RegisteredRewardModel.objects.create(name=name, source=str(folder))
    return name


@pytest.fixture
def scored_project(project, cast, tiny_reward_model):
    """Three prompts (one a chat) and the tiny reward model named on the project."""
    project = project_update(
        project=project,
        actor=cast["adam"],
        now=timezone.now(),
        reward_model=register(tiny_reward_model, "tiny"),
    )
    return project


def load(project, *items):
    import_items(project, *items)


def test_import_scores_every_response_in_a_background_job(
    scored_project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        load(
            scored_project, prompt_line("p-1"), prompt_line("p-2", prompt=CHAT), prompt_line("p-3")
        )
    # One for the scoring job, one for the near-duplicate check every import starts.
    assert len(callbacks) == 2
    job = ScoringJob.objects.get()
    assert (job.status, job.progress_done, job.progress_total) == ("done", 12, 12)
    scores = ResponseScore.objects.filter(reward_model=scored_project.reward_model)
    assert scores.count() == 12
    # Each prompt knows how close its best two responses are.
    for prompt in Prompt.objects.all():
        values = sorted(
            scores.filter(response__prompt=prompt).values_list("score", flat=True), reverse=True
        )
        assert prompt.score_gap == pytest.approx(values[0] - values[1])


def test_a_second_run_scores_nothing_again(scored_project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        load(scored_project, prompt_line("p-1"))
    first = dict(ResponseScore.objects.values_list("response_id", "score"))
    with django_capture_on_commit_callbacks(execute=True):
        scoring_request(project=scored_project, user=None, now=timezone.now())
    again = ScoringJob.objects.order_by("-id").first()
    assert (again.status, again.progress_total) == ("done", 0)
    assert dict(ResponseScore.objects.values_list("response_id", "score")) == first


def test_resumption_scores_only_what_a_dead_worker_left(
    scored_project, tiny_reward_model, django_capture_on_commit_callbacks
):
    # Import without the job running (as if the worker were down), then a dead run.
    load(scored_project, prompt_line("p-1"), prompt_line("p-2"))
    job = ScoringJob.objects.get()
    first_two = list(Response.objects.order_by("id")[:2])
    model = reward_model_load(scored_project.reward_model)
    earlier = model.score([(r.prompt.content, r.text) for r in first_two])
    stamp = timezone.now() - timedelta(hours=1)
    ResponseScore.objects.bulk_create(
        ResponseScore(
            response=r, reward_model=scored_project.reward_model, score=s, created_at=stamp
        )
        for r, s in zip(first_two, earlier, strict=True)
    )
    ScoringJob.objects.filter(pk=job.pk).update(
        status="running", started_at=stamp, progress_done=2, progress_total=8
    )
    job = scoring_run(job_id=job.pk, batch=1)  # rounds of ROUND_BATCHES: two here
    assert (job.status, job.progress_done, job.progress_total) == ("done", 6, 6)
    assert ResponseScore.objects.count() == 8
    kept = ResponseScore.objects.filter(response__in=first_two)
    assert all(score.created_at == stamp for score in kept)


def test_a_run_still_in_progress_is_not_taken_twice(scored_project):
    load(scored_project, prompt_line("p-1"))
    job = ScoringJob.objects.get()
    ScoringJob.objects.filter(pk=job.pk).update(status="running", started_at=timezone.now())
    assert scoring_run(job_id=job.pk).status == "running"
    assert not ResponseScore.objects.exists()
    # Asking again returns the running job rather than starting a second one.
    assert scoring_request(project=scored_project, user=None, now=timezone.now()) == job


@pytest.mark.slow  # imports transformers and tries its loaders
@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("/no/such/folder", "There is no model folder at /no/such/folder."),
        # A hub id, and downloads off: never fetched, whatever the model is called.
        ("some-org/some-reward-model", "couldn't find them in the cached files"),
        ("two-outputs", None),
    ],
)
def test_a_model_that_cannot_be_loaded_fails_the_job_and_tells_only_staff_why(
    api, project, cast, tmp_path, source, detail
):
    if source == "two-outputs":
        source = str(build_tiny_reward_model(tmp_path / "two", outputs=2))
    name = register(source, "broken")
    project = project_update(
        project=project, actor=cast["adam"], now=timezone.now(), reward_model=name
    )
    load(project, prompt_line("p-1"))
    job = ScoringJob.objects.get()
    job = scoring_run(job_id=job.pk)  # returns: the worker carries on
    assert job.status == "failed"
    assert not ResponseScore.objects.exists()
    if detail is None:
        assert "has 2 outputs; a reward model has one." in job.error
        return
    # The project's admins are told it failed, in words that say nothing of the server.
    assert job.error == "The reward model broken could not be loaded; staff can see why."
    assert detail in job.error_detail
    status = api("adam").get(f"/api/projects/{project.pk}/score/").json()
    assert "no/such" not in str(status) and "error_detail" not in status
    assert detail in api("sam").get(f"/api/projects/{project.pk}/score/").json()["error_detail"]
    # The project is free for the next run.
    assert scoring_request(project=project, user=None, now=timezone.now()).pk != job.pk


def test_a_project_admin_can_only_name_a_model_staff_registered(api, client, project, tmp_path):
    for name in ("/etc", "../../models/x", "some-org/model", "unregistered"):
        response = api("adam").patch(
            f"/api/projects/{project.pk}/", {"reward_model": name}, format="json"
        )
        assert response.status_code == 400, name
        assert response.json()["errors"][0]["field"] == "reward_model"
    register(tmp_path, "team-rm")
    response = api("adam").patch(
        f"/api/projects/{project.pk}/", {"reward_model": "team-rm"}, format="json"
    )
    assert response.status_code == 200 and response.json()["reward_model"] == "team-rm"
    client.login(username="adam", password=PASSWORD)
    client.post(f"/projects/{project.pk}/reward-model/", {"reward_model": "/etc"})
    project.refresh_from_db()
    assert project.reward_model == "team-rm"


def test_a_model_unregistered_since_stays_while_other_settings_change(project, client, tmp_path):
    """Its option is shown disabled, which a browser does not send: saving the queue
    order neither clears the model nor is refused for it."""
    register(tmp_path, "old-rm")
    project.reward_model = "old-rm"
    project.save(update_fields=["reward_model"])
    RegisteredRewardModel.objects.filter(name="old-rm").delete()
    client.login(username="adam", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "old-rm (no longer registered)" in page
    client.post(f"/projects/{project.pk}/reward-model/", {"queue_order": "uncertainty"})
    project.refresh_from_db()
    assert (project.reward_model, project.queue_order) == ("old-rm", "uncertainty")


def test_the_service_is_offline_and_never_runs_a_models_own_code(db, tmp_path):
    """A folder whose config asks for its own Python (auto_map) gets the library's own
    class, and its code never runs."""
    import json
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"  # settings: downloads are off
    folder = build_tiny_reward_model(tmp_path / "custom")
    ran = tmp_path / "RAN"
    (folder / "evil.py").write_text(f"import pathlib; pathlib.Path({str(ran)!r}).touch()\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "evil.Evil"}
    (folder / "config.json").write_text(json.dumps(config))
    model = reward_model_load(register(folder, "custom"))
    assert type(model.model).__module__.startswith("transformers.")
    assert not ran.exists()


def test_a_chat_template_that_never_ends_fails_the_run_within_its_bound(
    project, cast, tmp_path, settings
):
    settings.CHAT_TEMPLATE_SECONDS = 1
    folder = build_tiny_reward_model(
        tmp_path / "loop",
        chat_template=(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        ),
    )
    project = project_update(
        project=project, actor=cast["adam"], now=timezone.now(), reward_model=register(folder)
    )
    load(project, prompt_line("p-1", prompt=CHAT))
    job = ScoringJob.objects.get()
    started = timezone.now()
    job = scoring_run(job_id=job.pk)
    assert job.status == "failed"
    assert "chat template took more than 1 s" in job.error
    assert (timezone.now() - started).total_seconds() < 30


def test_a_run_that_needs_too_much_memory_fails_with_a_message(project, cast, tmp_path, settings):
    settings.SCORING_MEMORY_MB = 64
    folder = build_tiny_reward_model(
        tmp_path / "greedy",
        # Each rendering asks for gigabytes of text.
        chat_template="{{ 'x' * 4000000000 }}",
    )
    project = project_update(
        project=project, actor=cast["adam"], now=timezone.now(), reward_model=register(folder)
    )
    load(project, prompt_line("p-1", prompt=CHAT))
    job = scoring_run(job_id=ScoringJob.objects.get().pk)
    assert job.status == "failed", job.error
    assert job.error  # said in words; the worker carries on
    # The limit was for the run only.
    import resource

    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY


def test_a_run_past_its_time_stops_and_keeps_what_it_scored(scored_project, settings):
    settings.SCORING_MAX_SECONDS = 0
    load(scored_project, prompt_line("p-1"), prompt_line("p-2"))
    job = scoring_run(job_id=ScoringJob.objects.get().pk)
    assert job.status == "failed" and "took longer than 0 s" in job.error


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_batch_is_what_the_tokenizers_own_call_gives(db, tiny_reward_model, side):
    # The job pads in numpy rather than through the tokenizer's wrapper: the same ids and
    # mask, whatever the lengths, the side padded, or a pad token in the text itself.
    import torch

    model = reward_model_load(register(tiny_reward_model))
    model.tokenizer.padding_side = side
    pairs = [("Explain TCP slow start?", "the window " * n + "[PAD] good") for n in (1, 7, 200)]
    ours = model.encode(pairs)
    theirs = model.tokenizer(
        [prompt for prompt, _ in pairs],
        [response for _, response in pairs],
        padding=True,
        truncation=True,
        max_length=128,
        return_tensors="pt",
    )
    assert set(ours) == set(model.tokenizer.model_input_names)
    for name, tensor in ours.items():
        assert torch.equal(tensor, theirs[name]), name
    assert ours["input_ids"].shape == (3, 128)  # the longest was cut at the model's limit


def test_the_tokenizers_chat_template_is_used_when_it_has_one(db, tmp_path):
    folder = build_tiny_reward_model(
        tmp_path / "chat",
        chat_template="{% for m in messages %}{{ m.role }} {{ m.content }} {% endfor %}",
    )
    model = reward_model_load(register(folder))
    assert model.uses_chat_template
    encoded = model.encode([(CHAT, "Answer 1")])
    words = model.tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    assert "assistant" in words  # the role the template writes; plain pairs have none
    assert len(model.score([(CHAT, "Answer 1"), ("Explain TCP slow start.", "Answer 2")])) == 2


def test_scoring_through_the_api(api, scored_project, django_capture_on_commit_callbacks):
    load(scored_project, prompt_line("p-1"))  # its job runs at commit: not in this test
    ScoringJob.objects.all().delete()
    client = api("adam")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{scored_project.pk}/score/")
    assert response.status_code == 202
    status = client.get(f"/api/projects/{scored_project.pk}/score/").json()
    assert status["status"] == "done"
    assert status["progress"] == {"done": 4, "total": 4}
    assert status["scored"] == status["responses"] == 4
    # An admin names the model through PATCH, as section 6 says.
    patched = client.patch(
        f"/api/projects/{scored_project.pk}/",
        {"reward_model": "", "queue_order": "uncertainty"},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["queue_order"] == "uncertainty"
    refused = client.post(f"/api/projects/{scored_project.pk}/score/")
    assert refused.status_code == 400
    assert "Name a reward model" in refused.json()["errors"][0]["message"]


def test_annotators_never_see_scores_and_reviewers_do(
    api, client, scored_project, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        load(scored_project, prompt_line("p-1"))
    payload = api("alice").post(f"/api/projects/{scored_project.pk}/next/").json()
    assert "score" not in str(payload).lower()
    client.login(username="alice", password=PASSWORD)
    page = client.get(f"/assignments/{payload['assignment_id']}/").content.decode()
    some_score = f"{ResponseScore.objects.first().score:.3f}"
    assert some_score not in page and "reward-model score" not in page
    client.logout()
    annotate(scored_project, cast["bob"])
    client.login(username="rita", password=PASSWORD)
    prompt = Prompt.objects.get()
    review = client.get(f"/projects/{scored_project.pk}/review/{prompt.pk}/").content.decode()
    assert "reward-model score" in review
    for score in ResponseScore.objects.values_list("score", flat=True):
        assert f"score {score:.3f}" in review


def test_reward_model_accuracy_against_the_annotators(scored_project, cast):
    load(scored_project, prompt_line("p-1"), prompt_line("p-2"))
    ScoringJob.objects.all().delete()
    ids = {
        p: sorted(Response.objects.filter(prompt__external_id=p).values_list("pk", flat=True))
        for p in ("p-1", "p-2")
    }
    # The model prefers lower ids on p-1 and higher ids on p-2.
    stamp = timezone.now()
    for prompt, sign in (("p-1", -1), ("p-2", 1)):
        ResponseScore.objects.bulk_create(
            ResponseScore(
                response_id=rid,
                reward_model=scored_project.reward_model,
                score=sign * i,
                created_at=stamp,
            )
            for i, rid in enumerate(ids[prompt])
        )
    # alice and bob both rank lowest id first on both prompts: the consensus.
    for user in ("alice", "bob"):
        annotate(scored_project, cast[user])
        annotate(scored_project, cast[user])
    report = agreement_report(project=scored_project)["reward_model"]
    assert report["model"] == scored_project.reward_model
    assert report["n_pairs"] == 12
    assert report["accuracy"] == 0.5  # right on all six pairs of p-1, wrong on p-2
    low, high = report["accuracy_interval"]
    assert 0 <= low <= 0.5 <= high <= 1
    assert report["by_guideline_version"] == [
        {"version": 1, "n_pairs": 12, "accuracy": 0.5, "accuracy_interval": [low, high]}
    ]
    pairs = {tuple(row["models"]): row for row in report["by_model_pair"]}
    assert pairs[("model-a", "model-b")] == {
        "models": ["model-a", "model-b"],
        "n_pairs": 2,
        "accuracy": 0.5,
    }


def test_the_uncertainty_first_queue_serves_the_closest_scores_first(project, cast):
    project = project_update(
        project=project, actor=cast["adam"], now=timezone.now(), queue_order="uncertainty"
    )
    load(project, *(prompt_line(f"p-{i}") for i in range(1, 5)))
    gaps = {"p-1": 0.9, "p-2": 0.05, "p-3": None, "p-4": 0.4}
    for ext, gap in gaps.items():
        Prompt.objects.filter(external_id=ext).update(score_gap=gap)
    served = []
    for user in ("alice", "bob"):
        for _ in range(4):
            assignment = assignment_lease_next(
                project=project, annotator=cast[user], now=timezone.now()
            )
            served.append((user, assignment.prompt.external_id))
            from labelling.queue import assignment_skip

            assignment_skip(assignment=assignment, reason="next", now=timezone.now())
    # Closest scores first, unscored last; nobody gets a prompt twice.
    assert [ext for user, ext in served if user == "alice"] == ["p-2", "p-4", "p-1", "p-3"]
    assert len(set(served)) == 8


def test_the_project_page_lets_an_admin_name_the_model_and_score(
    client, project, tiny_reward_model, django_capture_on_commit_callbacks
):
    load(project, prompt_line("p-1"))
    client.login(username="adam", password=PASSWORD)
    name = register(tiny_reward_model, "team-rm")
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert '<option value="team-rm">team-rm</option>' in page
    client.post(
        f"/projects/{project.pk}/reward-model/",
        {"reward_model": name, "queue_order": "uncertainty"},
    )
    project.refresh_from_db()
    assert project.reward_model == name
    assert project.queue_order == "uncertainty"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/projects/{project.pk}/score/")
    html = client.get(f"/projects/{project.pk}/").content.decode()
    assert "4 of 4 responses scored." in html


def test_without_the_ml_extra_the_service_runs_and_says_scoring_is_unavailable(
    api, client, scored_project, monkeypatch
):
    import labelling.scoring

    # What a machine without torch and transformers looks like to the service.
    monkeypatch.setattr(labelling.scoring, "find_spec", lambda name: None)
    refused = api("adam").post(f"/api/projects/{scored_project.pk}/score/")
    assert refused.status_code == 400
    assert "Scoring is unavailable" in refused.json()["errors"][0]["message"]
    assert api("adam").get(f"/api/projects/{scored_project.pk}/score/").json()["available"] is False
    client.login(username="adam", password=PASSWORD)
    html = client.get(f"/projects/{scored_project.pk}/").content.decode()
    assert "Scoring is unavailable on this server" in html
    load(scored_project, prompt_line("p-9"))  # an import still works
    assert not ScoringJob.objects.exists()


def test_a_scoring_task_queued_under_its_old_name_still_runs_its_job(project):
    """Tasks waiting in the broker across the upgrade that moved scoring to labelling name
    ranking.tasks.scoring_run_task; django-q2 looks that name up and must find it."""
    from pydoc import locate  # how django-q2's worker turns a task's name into a function

    job = ScoringJob.objects.create(
        project=project,
        reward_model="never-registered",
        status=ScoringJob.Status.QUEUED,
        created_at=timezone.now(),
    )
    task = locate("ranking.tasks.scoring_run_task")
    assert callable(task)
    task(job.pk)
    job.refresh_from_db()
    assert job.status == ScoringJob.Status.FAILED
    assert job.finished_at is not None
