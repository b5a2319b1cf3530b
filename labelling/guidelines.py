"""Guidelines that change mid-project (issue 4): publishing, acknowledging, diffs, and
asking for fresh annotations under the newest rules."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, QuerySet
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Greatest
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import DomainError
from core.models import AuditEvent
from labelling.models import (
    Annotation,
    GuidelineAcknowledgement,
    GuidelineVersion,
    Project,
    Prompt,
    QualificationSet,
    RelabelRequest,
)
from labelling.qualification import default_reason, qualification_require
from labelling.rendering import diff_opcodes
from labelling.selectors import counts_by_version

MAX_BODY = 200_000
METADATA_KEY = re.compile(r"^(?!.*__)[A-Za-z][A-Za-z0-9_]{0,63}$")


@transaction.atomic
def guideline_publish(
    *,
    project: Project,
    body: str,
    change_summary: str,
    actor: User,
    now: datetime,
    qualification_set: int | None = None,
) -> GuidelineVersion:
    """Publish the next version. Published versions are never changed afterwards. With
    `qualification_set` (a draft set of the project), every rater must pass that set
    before their next item, and is told the version's change summary as the reason."""
    # One line ending, whatever the door: browsers send CRLF from a textarea, and a diff
    # between versions would otherwise mark every line as changed.
    body = _unix_lines(body)
    change_summary = _unix_lines(change_summary)
    if not body.strip():
        raise DomainError(_("The guideline needs a body."), field="body")
    if len(body) > MAX_BODY:
        raise DomainError(_("At most %(n)d characters.") % {"n": MAX_BODY}, field="body")
    if not change_summary.strip():
        raise DomainError(
            _("Say what changed: annotators read this first."), field="change_summary"
        )
    requalify = None
    if qualification_set is not None:
        requalify = QualificationSet.objects.filter(
            project=project, pk=qualification_set, required_from__isnull=True, withdrawn_at=None
        ).first()
        if requalify is None:
            raise DomainError(
                _("Choose a draft qualification set of this project."), field="qualification_set"
            )
    # The row lock numbers versions one at a time (two admins publishing at once).
    locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    latest = locked.guidelines.order_by("-version").first()
    if latest is not None and latest.body == body:
        raise DomainError(_("This is the current text: nothing changed."), field="body")
    version = GuidelineVersion.objects.create(
        project=project,
        version=locked.guideline_version + 1,
        body=body,
        change_summary=change_summary.strip(),
        published_at=now,
        published_by=actor,
    )
    Project.objects.filter(pk=project.pk).update(guideline_version=version.version)
    project.guideline_version = version.version  # the caller's copy, too
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.GUIDELINE_PUBLISHED,
        obj=version,
        project=project,
        now=now,
        data={"version": version.version, "change_summary": version.change_summary},
    )
    if requalify is not None:
        qualification_require(
            qset=requalify,
            actor=actor,
            now=now,
            version=version.version,
            reason=default_reason(
                project=project, version=version.version, change_summary=version.change_summary
            ),
        )
    return version


def _unix_lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def guideline_last_acknowledged(*, project: Project, user: User) -> int | None:
    return GuidelineAcknowledgement.objects.filter(project=project, user=user).aggregate(
        v=Max("version")
    )["v"]


def guideline_pending(*, project: Project, user: User) -> int | None:
    """The version the user must acknowledge before their next item, or None."""
    return guidelines_pending(projects=[project], user=user)[project.pk]


def guidelines_pending(*, projects: list[Project], user: User) -> dict[int, int | None]:
    """guideline_pending for several projects in one query (a page listing projects)."""
    last = dict(
        GuidelineAcknowledgement.objects.filter(project__in=projects, user=user)
        .values("project_id")
        .annotate(v=Max("version"))
        .values_list("project_id", "v")
    )
    return {
        p.pk: p.guideline_version if last.get(p.pk, 0) < p.guideline_version else None
        for p in projects
    }


def guideline_acknowledge(
    *, project: Project, user: User, version: int, now: datetime
) -> GuidelineAcknowledgement:
    if not GuidelineVersion.objects.filter(project=project, version=version).exists():
        raise DomainError(_("There is no version %(v)d.") % {"v": version}, field="version")
    ack, _created = GuidelineAcknowledgement.objects.get_or_create(
        project=project, user=user, version=version, defaults={"acknowledged_at": now}
    )
    return ack


def word_diff(old: str, new: str) -> SafeString:
    """`new` with the words deleted since `old` in <del> and the inserted ones in <ins>.

    Works on the markdown source, word by word (white space kept), so a reader sees
    exactly which words changed. Every token is escaped before it is wrapped.
    """
    a, b, opcodes = diff_opcodes(old, new)
    out: list[str] = []
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(out))  # noqa: S308 - every piece escaped above


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Section:
    """A part of a guideline body: its heading line's text ("" before the first heading)
    and its markdown, heading included."""

    title: str
    body: str


def guideline_sections(body: str) -> list[Section]:
    """The body cut at every markdown heading (outside fenced code)."""
    sections: list[Section] = []
    title, fenced = "", False
    lines: list[str] = []
    for line in (body or "").splitlines(keepends=True):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line.rstrip("\n"))
        if heading is not None:
            if "".join(lines).strip():
                sections.append(Section(title, "".join(lines)))
            title, lines = heading.group(2), []
        lines.append(line)
    if "".join(lines).strip():
        sections.append(Section(title, "".join(lines)))
    return sections


@dataclass(frozen=True)
class SectionChanges:
    changed: list[Section]  # new, or with the same heading and other words
    added: set[str]  # titles of the changed sections that are new
    removed: list[str]  # titles of sections no longer there


def sections_changed(old: str, new: str) -> SectionChanges:
    """Which sections of `new` a reader of `old` must read again: a section is matched
    to the old one of the same heading (in order, for repeated headings)."""
    old_sections = guideline_sections(old)
    unmatched: dict[str, list[Section]] = {}
    for section in old_sections:
        unmatched.setdefault(section.title.casefold(), []).append(section)
    changed, added = [], set()
    for section in guideline_sections(new):
        same_title = unmatched.get(section.title.casefold())
        if not same_title:
            changed.append(section)
            added.add(section.title)
        elif same_title.pop(0).body.strip() != section.body.strip():
            changed.append(section)
    left = {id(s) for sections in unmatched.values() for s in sections}
    removed = [s.title for s in old_sections if id(s) in left]
    return SectionChanges(changed=changed, added=added, removed=removed)


@dataclass(frozen=True)
class RelabelFilters:
    versions: list[int] | None = None  # only prompts labelled under these versions
    metadata: dict[str, object] | None = None  # prompt metadata equal to these values
    prompt_ids: list[int] | None = None  # only these prompts
    max_agreement: float | None = None  # only prompts whose pairwise agreement is this or less

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def relabel_candidates(*, project: Project, filters: RelabelFilters) -> QuerySet[Prompt]:
    """Prompts with annotations, all of them made under versions older than the current.
    Agreement is the prompt's stored figure (labelling.review.prompt_review_refresh)."""
    current = project.guideline_version
    annotated = Annotation.objects.filter(prompt=OuterRef("pk"), is_current=True)
    prompts = Prompt.objects.filter(project=project, retired=False).filter(
        Exists(annotated), ~Exists(annotated.filter(guideline_version__gte=current))
    )
    if filters.versions:
        prompts = prompts.filter(Exists(annotated.filter(guideline_version__in=filters.versions)))
    for index, (key, value) in enumerate(sorted((filters.metadata or {}).items())):
        # The key is one JSON key, never a lookup: an explicit key transform compared
        # by equality, so "contains" or "a__b" name keys, not operators.
        prompts = prompts.alias(**{f"_metadata_{index}": KeyTransform(key, "metadata")}).filter(
            **{f"_metadata_{index}": value}
        )
    if filters.prompt_ids:
        prompts = prompts.filter(pk__in=filters.prompt_ids)
    if filters.max_agreement is not None:
        prompts = prompts.filter(agreement__lte=filters.max_agreement)
    return prompts


def relabel_request(
    *,
    project: Project,
    actor: User,
    now: datetime,
    annotations_wanted: int,
    filters: RelabelFilters,
    repeat_allowed: bool,
) -> RelabelRequest:
    """Raise the target of matching prompts by `annotations_wanted` fresh annotations.

    Old annotations stay as they are; the queue serves these prompts again until the new
    target is met. With `repeat_allowed`, a new round opens in which people who labelled
    the prompt before may get it again.
    """
    if not 1 <= annotations_wanted <= 50:
        raise DomainError(_("Ask for 1 to 50 fresh annotations."), field="annotations_wanted")
    for key in filters.metadata or {}:
        if not isinstance(key, str) or not 0 < len(key) <= 200:
            raise DomainError(
                _("A metadata key is a name of 1 to 200 characters."), field="metadata"
            )
    with transaction.atomic():
        return _relabel(
            project=project,
            actor=actor,
            now=now,
            annotations_wanted=annotations_wanted,
            filters=filters,
            repeat_allowed=repeat_allowed,
        )


def _relabel(
    *,
    project: Project,
    actor: User,
    now: datetime,
    annotations_wanted: int,
    filters: RelabelFilters,
    repeat_allowed: bool,
) -> RelabelRequest:
    # The current version as committed, under the row lock a publish also takes.
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    candidates = relabel_candidates(project=project, filters=filters)
    ids = list(candidates.values_list("pk", flat=True))
    # A prompt that was unsettled at its maximum is asked again: no longer unsettled.
    changes: dict[str, Any] = {"target": F("target") + annotations_wanted, "unsettled": False}
    if repeat_allowed:
        changes.update(round=F("round") + 1, repeat_allowed=True)
    Prompt.objects.filter(pk__in=ids).update(**changes)
    request = RelabelRequest.objects.create(
        project=project,
        requested_by=actor,
        guideline_version=project.guideline_version,
        annotations_wanted=annotations_wanted,
        filters=filters.as_dict(),
        repeat_allowed=repeat_allowed,
        prompts_raised=len(ids),
        prompt_ids=ids,
        created_at=now,
    )
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.RELABEL_REQUESTED,
        obj=request,
        project=project,
        now=now,
        data={"prompts": len(ids), "annotations_wanted": annotations_wanted, **filters.as_dict()},
    )
    return request


@dataclass(frozen=True)
class RelabelPreview:
    """What a re-labelling request would do, before it is made."""

    prompts: int  # prompts whose target would rise
    annotations: int  # their annotations so far (current, rejected ones aside)
    fresh: int  # annotations it asks for in all
    waiting: int  # of them, prompts still waiting for annotations asked for before


def relabel_preview(
    *, project: Project, filters: RelabelFilters, annotations_wanted: int
) -> RelabelPreview:
    candidates = relabel_candidates(project=project, filters=filters)
    ids = candidates.values("pk")
    prompts = ids.count()
    annotations = Annotation.objects.filter(
        prompt_id__in=ids, is_current=True, rejected=False
    ).count()
    return RelabelPreview(
        prompts=prompts,
        annotations=annotations,
        fresh=prompts * annotations_wanted,
        waiting=candidates.filter(live_count__lt=F("target")).count(),
    )


# Ids a statement names at most (SQLite takes some 32,000 parameters).
ID_CHUNK = 5000


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]


def relabel_outstanding(request: RelabelRequest) -> int | None:
    """How many of the request's prompts still want annotations (None: it was made
    before requests kept their prompts); 0 once they have them or it is cancelled.
    A prompt raised by two requests counts for both."""
    if request.prompt_ids is None:
        return None
    if request.cancelled_at is not None:
        return 0
    return sum(
        Prompt.objects.filter(pk__in=chunk, live_count__lt=F("target")).count()
        for chunk in _chunks(request.prompt_ids)
    )


@transaction.atomic
def relabel_cancel(*, request: RelabelRequest, actor: User, now: datetime) -> int:
    """Take back what a request still asks for: its prompts' targets fall by what it
    added, never below the annotations they have or hold. Returns how many prompts
    changed."""
    Project.objects.select_for_update(no_key=True).get(pk=request.project_id)
    request = RelabelRequest.objects.select_for_update().get(pk=request.pk)
    if request.cancelled_at is not None:
        raise DomainError(_("This request is already cancelled."), field="relabel")
    if request.prompt_ids is None:
        raise DomainError(
            _("This request is older than cancelling: its prompts were not recorded."),
            field="relabel",
        )
    lowered = sum(
        Prompt.objects.filter(pk__in=chunk, live_count__lt=F("target")).update(
            target=Greatest(F("target") - request.annotations_wanted, F("live_count"))
        )
        for chunk in _chunks(request.prompt_ids)
    )
    request.cancelled_at, request.cancelled_by = now, actor
    request.save(update_fields=["cancelled_at", "cancelled_by"])
    audit_record(
        actor=actor,
        verb=AuditEvent.Verb.RELABEL_CANCELLED,
        obj=request,
        project=request.project,
        now=now,
        data={"prompts": lowered},
    )
    return lowered


def guideline_timeline(*, project: Project, with_diffs: bool = True) -> list[dict]:
    """Every version, newest first, with how many current annotations were made under it
    and (unless a page has no use for them) the word diff from the version before."""
    counts = {row["version"]: row["annotations"] for row in counts_by_version(project=project)}
    versions = list(project.guidelines.select_related("published_by").order_by("-version"))
    return [
        {
            "version": v,
            "annotations": counts.get(v.version, 0),
            "diff": word_diff(older.body, v.body) if with_diffs and older is not None else None,
        }
        for v, older in zip(versions, [*versions[1:], None], strict=True)
    ]
