"""The queue under real concurrency: threads with their own database connections."""

import threading
import time

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from labelling.models import Annotation, Assignment, Prompt
from labelling.queue import assignment_lease_next
from labelling.services import membership_set, project_create
from labelling.submission import annotation_submit
from tests.conftest import import_items, prompt_line

ANNOTATORS, PROMPTS, K = 30, 100, 3


@pytest.mark.django_db(transaction=True)
def test_thirty_annotators_racing_for_a_hundred_prompts_fill_each_exactly_k_times(make_user):
    now = timezone.now()
    project = project_create(
        name="race", created_by=None, now=now, responses_per_prompt=2, annotations_per_prompt=K
    )
    lines = [prompt_line(f"p-{i}", n=2) for i in range(PROMPTS)]
    import_items(project, *lines, now=now)
    users = [make_user(f"rater{i:02d}") for i in range(ANNOTATORS)]
    for user in users:
        membership_set(project=project, user=user, role="annotator", actor=None, now=now)

    start = threading.Barrier(ANNOTATORS)
    failures: list[BaseException] = []
    done = {user.pk: 0 for user in users}

    def annotate(user) -> None:
        try:
            start.wait()
            while True:
                assignment = assignment_lease_next(
                    project=project, annotator=user, now=timezone.now()
                )
                if assignment is None:
                    return
                ids = assignment.display_order
                annotation_submit(
                    assignment=assignment,
                    annotator=user,
                    data={"ranking": [[i] for i in ids]},
                    now=timezone.now(),
                )
                done[user.pk] += 1
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=annotate, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures[:3]
    assert sum(done.values()) == PROMPTS * K
    for prompt in Prompt.objects.filter(project=project):
        annotators = list(
            Annotation.objects.filter(prompt=prompt).values_list("annotator_id", flat=True)
        )
        assert len(annotators) == K and len(set(annotators)) == K, prompt.external_id
        assert prompt.live_count == K
    assert not Assignment.objects.filter(project=project, status="leased").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_the_last_prompt_locked_for_a_moment_by_someone_else_is_still_given(make_user):
    # Another annotator's submission holds the prompt row while it updates the
    # agreement; the claim skips locked rows, but must not answer "nothing left" when
    # the locked one is the only one: it asks again and waits for it.
    import psycopg

    now = timezone.now()
    project = project_create(
        name="last", created_by=None, now=now, responses_per_prompt=2, annotations_per_prompt=K
    )
    import_items(project, prompt_line("p-0", n=2), now=now)
    prompt = Prompt.objects.get(project=project)
    alice = make_user("alice")
    membership_set(project=project, user=alice, role="annotator", actor=None, now=now)

    settings = connection.settings_dict
    locked, held = threading.Event(), 0.5

    def hold_the_row() -> None:
        with psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"],
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
        ) as other:
            other.execute("SELECT id FROM labelling_prompt WHERE id = %s FOR UPDATE", [prompt.pk])
            locked.set()
            time.sleep(held)
            other.commit()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(10)
    started = time.monotonic()
    assignment = assignment_lease_next(project=project, annotator=alice, now=timezone.now())
    waited = time.monotonic() - started
    holder.join()
    assert assignment is not None and assignment.prompt_id == prompt.pk
    assert waited >= held * 0.8  # it waited for the lock rather than skipping the row


@pytest.mark.django_db(transaction=True)
def test_one_annotator_asking_from_eight_tabs_at_once_holds_one_lease(make_user):
    """issue 15: the database allows one lease per annotator and project, and every
    call that lost the race answers with the lease the winner took."""
    now = timezone.now()
    project = project_create(name="tabs", created_by=None, now=now, responses_per_prompt=2)
    lines = [prompt_line(f"p-{i}", n=2) for i in range(20)]
    import_items(project, *lines, now=now)
    alice = make_user("alice")
    membership_set(project=project, user=alice, role="annotator", actor=None, now=now)
    tabs = 8
    start = threading.Barrier(tabs)
    leases: list[int] = []
    failures: list[BaseException] = []

    def ask() -> None:
        try:
            start.wait()
            assignment = assignment_lease_next(project=project, annotator=alice, now=timezone.now())
            leases.append(assignment.pk)
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(tabs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert len(leases) == tabs and len(set(leases)) == 1
    held = Assignment.objects.filter(project=project, annotator=alice, status="leased")
    assert held.count() == 1
    # Every slot another tab claimed and lost was given back.
    assert sum(Prompt.objects.filter(project=project).values_list("live_count", flat=True)) == 1


def test_the_database_refuses_a_second_lease_for_one_annotator(project, cast):
    from django.db import IntegrityError, transaction

    import_items(project, prompt_line("p-1"), prompt_line("p-2"))
    first = assignment_lease_next(project=project, annotator=cast["alice"], now=timezone.now())
    other = Prompt.objects.exclude(pk=first.prompt_id).get(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            project=project, prompt=other, annotator=cast["alice"], status="leased",
            display_order=[], guideline_version=1, leased_at=timezone.now(),
            expires_at=timezone.now(),
        )  # fmt: skip
    # An expired lease of theirs is reclaimed before they take the next one.
    later = timezone.now() + timezone.timedelta(hours=2)
    second = assignment_lease_next(project=project, annotator=cast["alice"], now=later)
    assert second.pk != first.pk and second.prompt_id == other.pk
    first.refresh_from_db()
    assert first.status == "expired"


@pytest.mark.django_db(transaction=True)
def test_adaptive_overlap_under_racing_annotators_tests_every_prompt(make_user):
    """Issue 18, point 7: twenty annotators ranking two responses at random race for
    thirty prompts, k = 2 up to 5 at a lead of 2. At the end every prompt has settled
    with all its target's annotations, or sits at its maximum marked unsettled: none was
    left complete and untested by two submissions at once."""
    import random

    from core import statistics as st

    now = timezone.now()
    project = project_create(
        name="adaptive race",
        created_by=None,
        now=now,
        responses_per_prompt=2,
        annotations_per_prompt=2,
        max_annotations_per_prompt=5,
        agreement_lead=2,
    )
    import_items(project, *(prompt_line(f"p-{i}", n=2) for i in range(30)), now=now)
    users = [make_user(f"racer{i:02d}") for i in range(20)]
    for user in users:
        membership_set(project=project, user=user, role="annotator", actor=None, now=now)
    start = threading.Barrier(len(users))
    failures: list[BaseException] = []

    def annotate(user, seed: int, *, race: bool = True) -> None:
        rng = random.Random(seed)
        try:
            if race:
                start.wait()
            while (
                assignment := assignment_lease_next(
                    project=project, annotator=user, now=timezone.now()
                )
            ) is not None:
                ids = sorted(assignment.display_order)
                ranking = [[i] for i in (ids if rng.random() < 0.5 else reversed(ids))]
                annotation_submit(
                    assignment=assignment,
                    annotator=user,
                    data={"ranking": ranking},
                    now=timezone.now(),
                )
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=annotate, args=(u, i)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # A rater who found nothing left stopped, though a later submission may have asked
    # for more since: they come back one by one, as raters do, until nothing is left.
    for again in range(3):
        for i, user in enumerate(users):
            annotate(user, 100 * again + i, race=False)
    assert not failures, failures[:3]
    for prompt in Prompt.objects.filter(project=project):
        rankings = list(
            Annotation.objects.filter(prompt=prompt, is_current=True).values_list(
                "ranking", flat=True
            )
        )
        ids = sorted(rid for group in rankings[0] for rid in group)
        settled = st.consensus_settled(st.ranks_from_groups(rankings, ids), 2)
        assert len(rankings) == prompt.target == prompt.live_count, prompt.external_id
        assert settled or (len(rankings) == 5 and prompt.unsettled), (
            prompt.external_id,
            len(rankings),
            prompt.unsettled,
        )
        assert prompt.extra_asked == len(rankings) - 2
