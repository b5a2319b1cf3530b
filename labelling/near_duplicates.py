"""Near-duplicate prompts (issue 18, point 6): prompts of a project whose words are
nearly the same (a word changed, added or dropped), reported after every import that
adds prompts. Exact repeats are the import's own warning (labelling.importing).

Two prompts are near-duplicates when the Jaccard similarity of their sets of adjacent
word pairs (case and numbers aside) is at least SIMILAR, and they are not the same words:
one word changed in twelve leaves 9 of 13 pairs (0.69), two changed about 0.45. Candidates come
from MinHash signatures (datasketch) banded for locality-sensitive hashing; each is
confirmed by its exact similarity, so a reported pair is never a hashing accident.

The comparison runs in a background job (django-q2), not in the import: over 100,000
prompts it takes seconds, and the import of 100,000 prompts has a 20-second budget
(bench/import_prompts.py). The prompts page shows the result and its state.
"""

import logging
import re
from datetime import datetime
from itertools import pairwise

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from core.jobs import BUSY, JobLife, job_abandoned_after
from labelling.models import NearDuplicateScan, Project, Prompt

logger = logging.getLogger(__name__)

SIMILAR = 0.6
# Candidates agree with another on all ROWS values of one of BANDS bands of their
# signatures: found with probability 1 - (1 - s**4)**16, 0.89 at SIMILAR and 0.98 at a
# word changed in twelve (0.69); then the exact similarity decides.
PERMUTATIONS = 64
BANDS, ROWS = 16, 4
CHUNK = 10_000
NEIGHBOURS = 20
MAX_PAIRS = 500
_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = "#"

SCAN_LIFE = JobLife(NearDuplicateScan, claimed_at="requested_at", finished_at=None, done="idle")


def shingles(text: str) -> set[str]:
    """The prompt's adjacent word pairs, case aside, every number one and the same word
    (its word, if it has only one). Pairs, not words: prompts on one topic share their
    words, and over a small vocabulary every prompt would be a candidate of every other.
    Numbers alike: the same question with other numbers is another question from one
    template ("sum to 6", "sum to 4"), not a near-duplicate."""
    words = [_NUMBER if any(c.isdigit() for c in w) else w for w in _WORD.findall(text.casefold())]
    if len(words) < 2:
        return set(words)
    return {f"{a} {b}" for a, b in pairwise(words)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicates_find(texts: dict[str, str], limit: int = MAX_PAIRS) -> tuple[list[dict], int]:
    """The `limit` most alike pairs of near-duplicate texts (keyed by external id), most
    alike first, and how many pairs there are in all. Texts with the same pairs are
    compared once, as one; each of their members then pairs with each of the other's,
    counted, and listed only as far as `limit` (two templates repeated 5,000 times
    would otherwise make 25 million rows to keep 500)."""
    same: dict[frozenset[str], list[str]] = {}
    for ext, text in texts.items():
        if words := shingles(text):
            same.setdefault(frozenset(words), []).append(ext)
    sets = list(same)
    if len(sets) < 2:
        return [], 0
    alike = sorted(
        _alike(sets, _signatures(sets)).items(),
        key=lambda found: (-found[1], min(same[sets[found[0][0]]] + same[sets[found[0][1]]])),
    )
    total = sum(len(same[sets[i]]) * len(same[sets[j]]) for (i, j), _s in alike)
    listed: list[dict] = []
    for (i, j), similarity in alike:
        if len(listed) >= limit:
            break
        pairs = sorted(tuple(sorted((a, b))) for a in same[sets[i]] for b in same[sets[j]])[
            : limit - len(listed)
        ]
        listed.extend({"a": a, "b": b, "similarity": round(similarity, 3)} for a, b in pairs)
    return listed, total


def _signatures(sets: list[frozenset[str]]) -> np.ndarray:
    """datasketch's MinHash signature of every set, one row each, in one array: a third
    of the memory of datasketch's own index at 100,000 prompts (bench/import_prompts.py)."""
    # Imported here, in the worker that runs the scan: datasketch brings SciPy, 40 MB
    # that every web process would otherwise carry for nothing.
    from datasketch import MinHash

    signatures = np.empty((len(sets), PERMUTATIONS), dtype=np.uint64)
    for start in range(0, len(sets), CHUNK):
        chunk = sets[start : start + CHUNK]
        hashes = MinHash.bulk(
            ([token.encode() for token in s] for s in chunk), num_perm=PERMUTATIONS
        )
        for row, minhash in enumerate(hashes, start):
            signatures[row] = minhash.hashvalues
    return signatures


def _alike(sets: list[frozenset[str]], signatures: np.ndarray) -> dict[tuple[int, int], float]:
    """Pairs of rows at least SIMILAR, among those whose signatures agree on a band."""
    alike: dict[tuple[int, int], float] = {}
    for band in range(BANDS):
        block = np.ascontiguousarray(signatures[:, band * ROWS : (band + 1) * ROWS])
        keys = block.view(np.dtype((np.void, ROWS * 8))).ravel()
        _unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")  # rows grouped by their band's values
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        for start, count in zip(starts[counts > 1], counts[counts > 1], strict=True):
            members = sorted(order[start : start + count].tolist())
            # A big group is prompts from one template: each is compared with its next
            # NEIGHBOURS only, so that the work stays linear in the number of prompts.
            for index, i in enumerate(members):
                for j in members[index + 1 : index + 1 + NEIGHBOURS]:
                    if (i, j) in alike:
                        continue
                    if (similarity := jaccard(sets[i], sets[j])) >= SIMILAR:
                        alike[(i, j)] = similarity
    return alike


def near_duplicates_request(*, project: Project, now: datetime) -> None:
    """Queue a scan of the project's prompts (one statement when it was scanned before).
    A scan queued or running is left to run, and asked to run once more after it (it
    may read the prompts before this import's: at worst one scan too many); one whose
    task was lost (queued or running past the jobs' timeout) is taken over."""
    stale = now - job_abandoned_after()
    queued = (
        NearDuplicateScan.objects.filter(project=project)
        .filter(~Q(status__in=BUSY) | Q(requested_at__lt=stale))
        .update(status=NearDuplicateScan.Status.QUEUED, requested_at=now, error="", again=False)
    )
    if not queued:
        _scan, queued = NearDuplicateScan.objects.get_or_create(
            project=project,
            defaults={"status": NearDuplicateScan.Status.QUEUED, "requested_at": now},
        )
        if not queued:
            NearDuplicateScan.objects.filter(project=project).update(again=True)
            return
    _enqueue(project.pk, now)


def _enqueue(project_id: int, now: datetime) -> None:
    transaction.on_commit(
        lambda: async_task(
            "labelling.tasks.near_duplicates_task",
            project_id,
            task_name=f"near-duplicates-{project_id}-{now:%Y%m%dT%H%M%S%f}",
        )
    )


def near_duplicates_scan(*, project_id: int) -> None:
    """The job: compare every prompt of the project (retired ones aside), in the order
    they were imported, so that the same prompts give the same pairs."""
    now = timezone.now()
    scan = NearDuplicateScan.objects.filter(project_id=project_id).first()
    if scan is None or not SCAN_LIFE.claim(scan.pk, now=now):
        return
    scan_id = scan.pk
    try:
        texts = dict(
            Prompt.objects.filter(project_id=scan.project_id, retired=False)
            .order_by("id")
            .values_list("external_id", "search_text")
        )
        pairs, total = near_duplicates_find(texts)
    except Exception as error:  # the page says it failed; the log has the trace
        logger.exception("near-duplicate scan %s failed", scan_id)
        SCAN_LIFE.fail(scan_id, error=f"{type(error).__name__}: {error}", now=now)
        return
    SCAN_LIFE.finish(
        scan_id,
        now=now,
        computed_at=timezone.now(),
        prompts=len(texts),
        pairs=pairs,
        pairs_total=total,
    )
    # An import landed while this ran: once more, for its prompts.
    ended = timezone.now()
    if NearDuplicateScan.objects.filter(pk=scan_id, again=True, status="idle").update(
        status=NearDuplicateScan.Status.QUEUED, requested_at=ended, again=False
    ):
        _enqueue(project_id, ended)


def near_duplicates_shown(*, project: Project) -> dict:
    """The last scan's result and state (a project never scanned: idle, nothing found)."""
    scan = NearDuplicateScan.objects.filter(project=project).first() or NearDuplicateScan()
    return {
        "status": scan.status,
        "computed_at": scan.computed_at,
        "prompts": scan.prompts,
        "pairs_total": scan.pairs_total,
        "pairs": scan.pairs,
        "error": scan.error,
    }
