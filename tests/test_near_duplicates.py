"""Near-duplicate prompts (issue 18, point 6): after an import that adds prompts, a
background check (datasketch's MinHash LSH, confirmed by the exact similarity) lists the
project's prompts whose words are nearly the same, on the prompts page and in the API."""

from labelling.near_duplicates import near_duplicates_find
from tests.conftest import PASSWORD, import_items, jsonl, prompt_line

BASE = "Explain how TCP slow start grows the congestion window after every acknowledgement"


def test_an_import_reports_near_duplicates_where_engineers_and_admins_look(
    project, api, client, django_capture_on_commit_callbacks
):
    items = [
        prompt_line("tcp-1", prompt=BASE),
        prompt_line("tcp-2", prompt=BASE.replace("every", "each")),  # a word changed
        prompt_line("tcp-3", prompt=BASE.upper()),  # the same words: the import's warning
        prompt_line("dns-1", prompt="What does a DNS resolver cache, and for how long?"),
        prompt_line(
            "chat-1",
            prompt=[{"role": "user", "content": BASE + " , please"}],
        ),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = api("adam").post(
            f"/api/projects/{project.pk}/prompts/import/",
            data=jsonl(*items),
            content_type="application/x-ndjson",
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["near_duplicates"] == f"/api/projects/{project.pk}/near-duplicates/"
    assert any("the same prompt as 'tcp-1'" in w["message"] for w in body["warnings"])

    found = api("erin").get(body["near_duplicates"]).json()
    assert (found["status"], found["prompts"]) == ("idle", 5)
    pairs = {(p["a"], p["b"]): p["similarity"] for p in found["pairs"]}
    # tcp-1 and tcp-3 are the same words: not a near-duplicate, but each is one of tcp-2.
    assert set(pairs) == {
        ("chat-1", "tcp-1"),
        ("chat-1", "tcp-2"),
        ("chat-1", "tcp-3"),
        ("tcp-1", "tcp-2"),
        ("tcp-2", "tcp-3"),
    }
    # 11 word pairs each, 9 of them shared.
    assert pairs[("tcp-1", "tcp-2")] == round(9 / 13, 3)
    assert found["pairs_total"] == 5
    assert api("alice").get(body["near_duplicates"]).status_code == 403

    client.login(username="rita", password=PASSWORD)
    page = client.get(f"/projects/{project.pk}/prompts/").content.decode()
    tcp2 = project.prompts.get(external_id="tcp-2")
    assert 'id="near-duplicates"' in page and "5 pairs among 5 prompts" in page
    assert f'href="/projects/{project.pk}/prompts/{tcp2.pk}/"' in page
    assert "Check again" not in page  # admins only


def test_a_later_import_is_compared_with_the_earlier_prompts_and_admins_check_again(
    project, api, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        import_items(project, prompt_line("old", prompt=BASE))
    with django_capture_on_commit_callbacks(execute=True):
        import_items(project, prompt_line("new", prompt=BASE + " segment"))
    url = f"/api/projects/{project.pk}/near-duplicates/"
    (pair,) = api("adam").get(url).json()["pairs"]
    assert (pair["a"], pair["b"]) == ("new", "old")

    project.prompts.filter(external_id="new").update(retired=True)
    with django_capture_on_commit_callbacks(execute=True):
        again = api("adam").post(url)
    assert again.status_code == 202
    assert api("adam").get(url).json()["pairs"] == []  # retired prompts are left out
    client.login(username="adam", password=PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(f"/projects/{project.pk}/prompts/near-duplicates/", follow=True)
    assert "0 pairs among 1 prompts" in page.content.decode()


def test_the_comparison_itself():
    """Short and unrelated texts are not near-duplicates; pairs come most alike first,
    each once."""
    texts = {
        "a": "What is 35% of 480?",
        "b": "What is 17% of 540?",  # same template, other numbers: different questions
        "dice-6": "I roll two fair six-sided dice. What is the probability they sum to 6?",
        "dice-4": "I roll two fair six-sided dice. What is the probability they sum to 4?",
        "c": BASE,
        "d": BASE + " in some detail",
        "e": BASE.replace("congestion", "receive"),
        "f": "",
    }
    found, total = near_duplicates_find(texts)
    assert total == 2
    # d and e are each one change from c (11 of 14 pairs, 9 of 13), and two changes
    # from each other (9 of 16).
    assert [(p["a"], p["b"]) for p in found] == [("c", "d"), ("c", "e")]
    assert [p["similarity"] for p in found] == [round(11 / 14, 3), round(9 / 13, 3)]
    assert near_duplicates_find({"x": BASE}) == ([], 0) == near_duplicates_find({})


def test_an_import_during_a_scan_gets_a_scan_of_its_own(
    project, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Task

    from labelling.models import NearDuplicateScan
    from labelling.near_duplicates import near_duplicates_request, near_duplicates_scan

    with django_capture_on_commit_callbacks(execute=True):
        import_items(project, prompt_line("old", prompt=BASE))
    runs = Task.objects.filter(func="labelling.tasks.near_duplicates_task")
    assert runs.count() == 1
    # A scan is running when the next import lands: no second task at once, but one after.
    NearDuplicateScan.objects.filter(project=project).update(status="running")
    with django_capture_on_commit_callbacks(execute=True):
        import_items(project, prompt_line("new", prompt=BASE + " segment"))
    scan = NearDuplicateScan.objects.get(project=project)
    assert (scan.status, scan.again, runs.count()) == ("running", True, 1)
    # That scan ends (here: run as its task would, from the claim on), then one more runs.
    NearDuplicateScan.objects.filter(project=project).update(status="queued")
    with django_capture_on_commit_callbacks(execute=True):
        near_duplicates_scan(project_id=project.pk)
    scan.refresh_from_db()
    assert (scan.status, scan.again, scan.pairs_total, runs.count()) == ("idle", False, 1, 2)

    # A scan whose task was lost is taken over by the next request.
    NearDuplicateScan.objects.filter(project=project).update(
        status="queued", requested_at=timezone.now() - timedelta(days=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        near_duplicates_request(project=project, now=timezone.now())
    scan.refresh_from_db()
    assert (scan.status, runs.count()) == ("idle", 3)
