"""Server-rendered pages of the labelling app: adapters over selectors and services."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.http import AuthenticatedHttpRequest
from labelling import selectors
from labelling.annotation_table import annotation_columns, ranking_text, response_letters
from labelling.drafts import draft_for, draft_save, draft_unfinished
from labelling.forms import (
    GuidelineForm,
    ImportForm,
    MemberForm,
    RelabelForm,
    form_values,
    labels_from_values,
    labels_to_initial,
)
from labelling.guidelines import (
    MAX_BODY,
    RelabelFilters,
    guideline_acknowledge,
    guideline_last_acknowledged,
    guideline_pending,
    guideline_publish,
    guideline_timeline,
    guidelines_pending,
    relabel_cancel,
    relabel_outstanding,
    relabel_preview,
    relabel_request,
    sections_changed,
    word_diff,
)
from labelling.importing import ImportRejected, prompts_import
from labelling.inputs import ascii_int
from labelling.models import (
    Annotation,
    Assignment,
    Draft,
    Membership,
    Project,
    Prompt,
    QualificationSet,
    RaterPause,
    RegisteredRewardModel,
    RelabelRequest,
    Response,
)
from labelling.pauses import pause_message, pause_resume
from labelling.qualification import standings
from labelling.queue import assignment_next, assignment_skip
from labelling.rater_views import rejections_of
from labelling.rendering import diff_sides, render_folded, render_markdown
from labelling.review import (
    annotation_reject,
    prompt_adjudicate,
    prompt_get_for_review,
    prompt_review,
    prompt_review_close,
    review_queue,
    with_annotation_counts,
)
from labelling.roles import ADMINS, ANNOTATORS, EXPORTERS, REVIEWERS, WATCHERS
from labelling.rules import SubmissionInvalid
from labelling.scoring import scoring_request, scoring_status
from labelling.services import membership_set, project_update
from labelling.submission import (
    ChangedElsewhere,
    RatingsAgainstRanking,
    annotation_submit,
    assignment_locked,
)
from labelling.tokens import token_create, token_revoke, tokens_of
from labelling.visibility import (
    annotator_names,
    is_blind,
    item_for_annotator,
    item_reference,
    labels_by_letter,
    letters,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    projects = list(selectors.projects_for_user(user=request.user).order_by("name"))
    ids = [p.pk for p in projects]
    roles = selectors.roles_for_user(user=request.user, project_ids=ids)
    progress = selectors.project_progress(project_ids=ids)
    labels: dict[str | None, StrOrPromise] = dict(Membership.Role.choices)
    now = timezone.now()
    pending = guidelines_pending(projects=projects, user=request.user)
    # Only annotators label; their own counts come with a start button.
    labelling = [p for p in projects if roles.get(p.pk) == Membership.Role.ANNOTATOR]
    mine = (
        selectors.annotators_progress(projects=labelling, user=request.user, now=now)
        if labelling
        else {}
    )
    rejected = rejections_of(user=request.user, projects=labelling, limit=5) if labelling else []
    paused = (
        {
            pause.project_id: pause
            for pause in RaterPause.objects.filter(
                annotator=request.user, project__in=labelling, resumed_at__isnull=True
            ).select_related("project")
        }
        if labelling
        else {}
    )
    qualifying = standings(projects=labelling, annotator=request.user) if labelling else {}
    rows = [
        {
            "project": p,
            "role": labels.get(roles.get(p.pk)),
            "progress": progress.get(p.pk),
            "mine": mine.get(p.pk),
            "pending": pending[p.pk] if p.pk in mine else None,
            "paused": pause_message(pause=paused[p.pk]) if p.pk in paused else "",
            "qualification": qualifying.get(p.pk),
        }
        for p in projects
    ]
    return render(
        request,
        "labelling/home.html",
        {"rows": rows, "rejected": rejected, "labels": bool(labelling)},
    )


def _project_context(
    request: AuthenticatedHttpRequest,
    project: Project,
    *,
    import_form: ImportForm | None = None,
    import_errors: ImportRejected | None = None,
    member_form: MemberForm | None = None,
    relabel_form: RelabelForm | None = None,
) -> dict[str, Any]:
    role = selectors.role_for(user=request.user, project=project)
    is_admin = role == Membership.Role.ADMIN
    blind = is_blind(viewer=request.user, role=role)
    return {
        "project": project,
        "role": role,
        # Annotators see the rules they label by, not the settings or prompts that would
        # tell gold items apart (labelling.visibility).
        "blind": blind,
        "role_label": dict(Membership.Role.choices).get(role or "", ""),
        "is_admin": is_admin,
        "can_watch": role in WATCHERS,
        "can_review": role in REVIEWERS,
        "can_export": role in EXPORTERS,
        "scoring": scoring_status(project=project, viewer=request.user) if is_admin else None,
        "reward_models": (
            list(RegisteredRewardModel.objects.values_list("name", flat=True)) if is_admin else []
        ),
        "queue_orders": Project.QueueOrder.choices,
        "progress": selectors.project_progress(project_ids=[project.pk])[project.pk],
        "guideline": project.guidelines.order_by("-version").first(),
        "members": (
            project.memberships.select_related("user").order_by("role", "user__username")
            if is_admin
            else None
        ),
        "roles": Membership.Role.choices,
        "recent_prompts": None if blind else project.prompts.order_by("-id")[:10],
        "import_form": import_form or (ImportForm() if is_admin else None),
        "import_errors": import_errors,
        "member_form": member_form or (MemberForm() if is_admin else None),
        "timeline": guideline_timeline(project=project, with_diffs=False),
        "relabel_form": relabel_form
        or (
            RelabelForm(
                versions=_older_versions(project),
                initial={"annotations_wanted": project.annotations_per_prompt},
            )
            if is_admin and project.guideline_version > 1
            else None
        ),
    }


@login_required
def project_detail(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(user=request.user, project_id=project_id)
    return render(request, "labelling/project.html", _project_context(request, project))


@login_required
@require_POST
def project_import(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        context = _project_context(request, project, import_form=form)
        return render(request, "labelling/project.html", context, status=400)
    upload = form.cleaned_data["file"]
    try:
        result = prompts_import(
            project=project,
            stream=upload.file,
            actor=request.user,
            now=timezone.now(),
            source=f"upload:{upload.name}",
        )
    except ImportRejected as rejected:
        context = _project_context(request, project, import_form=form, import_errors=rejected)
        return render(request, "labelling/project.html", context, status=400)
    text = ngettext(
        "Imported %(created)d new prompt (%(unchanged)d already here, unchanged).",
        "Imported %(created)d new prompts (%(unchanged)d already here, unchanged).",
        result.created,
    ) % {"created": result.created, "unchanged": result.unchanged}
    if result.created:
        text += " " + _("Near-duplicate prompts are looked for in the background: see Prompts.")
    if not result.warnings_total:
        messages.success(request, text)
        return redirect("project", project_id=project.pk)
    # One banner for the import: what it did, then what to check.
    shown = "; ".join(
        _("line %(line)s: %(message)s") % {"line": w.line, "message": w.message}
        for w in result.warnings[:5]
    )
    more = result.warnings_total - min(5, len(result.warnings))
    check = ngettext(
        "%(n)d thing to check: %(shown)s",
        "%(n)d things to check: %(shown)s",
        result.warnings_total,
    ) % {"n": result.warnings_total, "shown": shown}
    if more > 0:
        check += _(" (and %(more)d more)") % {"more": more}
    messages.warning(request, f"{text} {check}")
    return redirect("project", project_id=project.pk)


@login_required
@require_POST
def project_member_add(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    form = MemberForm(request.POST)
    if not form.is_valid():
        context = _project_context(request, project, member_form=form)
        return render(request, "labelling/project.html", context, status=400)
    try:
        change = membership_set(
            project=project,
            user=form.cleaned_data["user"],
            role=form.cleaned_data["role"],
            actor=request.user,
            now=timezone.now(),
        )
    except DomainError as refused:
        form.add_error("role", refused.message)
        context = _project_context(request, project, member_form=form)
        return render(request, "labelling/project.html", context, status=400)
    name = form.cleaned_data["username"]
    role = change.membership.get_role_display()
    if change.created:
        text = _("%(name)s joined as %(role)s.") % {"name": name, "role": role}
    else:
        text = _("%(name)s is now %(role)s.") % {"name": name, "role": role}
    messages.success(request, text)
    return redirect("project", project_id=project.pk)


# --- labelling --------------------------------------------------------------------------


def _annotator_project(request: AuthenticatedHttpRequest, project_id: int) -> Project:
    return selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ANNOTATORS
    )


def _go_to_next(
    request: AuthenticatedHttpRequest, project: Project, *, saved: str = ""
) -> HttpResponseRedirect:
    """The next item (one whose lease ran out with a draft, the one held, or a new one),
    the guideline to read first, or the news that nothing is left; `saved` (what was
    just saved, if anything) joins the one banner of the page that follows."""
    now = timezone.now()
    unfinished = draft_unfinished(project=project, annotator=request.user, now=now)
    if unfinished is not None and unfinished.resumed:
        if saved:
            messages.success(request, saved)
        # The page says why it is back.
        return redirect(reverse("assignment", args=[unfinished.assignment.pk]) + "?resumed=1")
    if unfinished is not None:
        messages.warning(
            request,
            _(
                "Your time on %(item)s ran out at %(when)s UTC, and %(why)s: what you had "
                "typed there could not be kept."
            )
            % {
                "item": item_reference(unfinished.assignment),
                "when": _utc_time(unfinished.assignment.expires_at),
                "why": unfinished.lost,
            },
        )
    given = assignment_next(project=project, annotator=request.user, now=now)
    if given.paused is not None:
        if saved:
            messages.success(request, saved)
        messages.warning(request, pause_message(pause=given.paused))
        return redirect("home")
    if given.guideline_pending is not None:
        if saved:
            messages.success(request, saved)
        return redirect("guideline-acknowledge", project_id=project.pk)
    if given.qualifying is not None:
        if saved:
            messages.success(request, saved)
        return redirect("qualify", project_id=project.pk)
    assignment = given.assignment
    if assignment is None:
        left = _("Nothing more is left for you in %(project)s. Thank you!") % {
            "project": project.name
        }
        messages.info(request, f"{saved} {left}" if saved else left)
        return redirect("home")
    if saved:
        messages.success(request, f"{saved} {_('Here is the next one.')}")
    return redirect("assignment", assignment_id=assignment.pk)


@login_required
@require_POST
def label_next(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    return _go_to_next(request, _annotator_project(request, project_id))


def _labelling_context(
    request: AuthenticatedHttpRequest,
    assignment: Assignment,
    *,
    errors: Sequence[tuple[str, str]] = (),
    initial: dict[str, Any] | None = None,
    current: Annotation | None = None,
    changed_elsewhere: bool = False,
    restored: Draft | None = None,
    resumed: bool = False,
    against_ranking: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    project, prompt = assignment.project, assignment.prompt
    now = timezone.now()
    if current is None:
        current = _current_of(assignment)
    locked = assignment_locked(assignment=assignment, current=current)
    # What the annotator sees, by letter (labelling.visibility): the form's fields are
    # named by letter too, so the page holds no response id.
    payload = item_for_annotator(assignment=assignment)
    initial = initial or {}
    by_response: dict[str, list[str]] = {}
    general: list[str] = []
    shown = {response["id"] for response in payload["responses"]}
    for field, message in errors:
        head, _dot, rest = field.partition(".")
        letter = rest.split(".")[0]
        if head in {"ratings", "critiques", "flags"} and letter in shown:
            by_response.setdefault(letter, []).append(message)
        else:
            general.append(message)
    n = len(payload["responses"])
    cards = [
        {
            **response,
            # Long responses are sent folded: their beginning, and a link to the whole.
            "html_left_out": render_folded(response["text"]),
            "rank": initial.get("rank", {}).get(response["id"]),
            "ratings": initial.get("ratings", {}).get(response["id"], {}),
            "critique": initial.get("critiques", {}).get(response["id"], ""),
            "flags": initial.get("flags", {}).get(response["id"], []),
            "errors": by_response.get(response["id"], []),
        }
        for response in payload["responses"]
    ]
    criteria = [
        {**c, "values": list(range(c["scale"][0], c["scale"][1] + 1))} for c in project.criteria
    ]
    recent = (
        Annotation.objects.filter(project=project, annotator=request.user, is_current=True)
        .exclude(assignment=assignment)
        .select_related("prompt")
        .order_by("-created_at")[:5]
    )
    return {
        "assignment": assignment,
        "project": project,
        "prompt": prompt,
        "item": payload["prompt"]["external_id"],
        "cards": cards,
        "positions": list(range(1, n + 1)),
        "criteria": criteria,
        "flags": RESPONSE_FLAG_LABELS,
        "errors": general,
        "has_errors": bool(errors),
        "comment": initial.get("comment", ""),
        "none_acceptable": "none_acceptable" in initial.get("flags", {}).get("all", []),
        "current": current,
        # The version this form shows: a save made elsewhere since is warned of.
        "based_on": current.version if current else 0,
        "changed_elsewhere": changed_elsewhere,
        "against_ranking": against_ranking,
        # A page shown again after a save that did not happen keeps the time counted.
        "active_seconds": (
            ascii_int(request.POST.get("active_seconds", "")) if request.method == "POST" else None
        )
        or "",
        "restored": restored,
        "resumed": resumed,
        "reload": reverse("assignment", args=[assignment.pk]),
        "locked": locked,
        "your_ranking": (
            " > ".join(
                " = ".join(group)
                for group in labels_by_letter(current, assignment.display_order)["ranking"]
            )
            if locked and current
            else ""
        ),
        "guideline": project.guidelines.filter(version=assignment.guideline_version).first(),
        "progress": selectors.annotator_progress(project=project, user=request.user, now=now),
        "recent": recent,
        "expired": assignment.expires_at <= now,
    }


RESPONSE_FLAG_LABELS = [
    ("unsafe", _lazy("Unsafe")),
    ("factual_error", _lazy("Factual error")),
    ("broken", _lazy("Broken")),
]


def _current_of(assignment: Assignment) -> Annotation | None:
    """The annotator's latest labels of the item: submitted, or rejected by a reviewer."""
    if assignment.status in (Assignment.Status.SUBMITTED, Assignment.Status.REJECTED):
        return assignment.annotations.filter(is_current=True).first()
    return None


@login_required
def assignment_page(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = selectors.assignment_get_for_annotator(
        user=request.user, assignment_id=assignment_id
    )
    if request.method == "POST":
        return _assignment_submit(request, assignment)
    current = _current_of(assignment)
    # `?saved=1`: the labels as saved, whatever was typed since (the conflict's "see the
    # other" link).
    found = None if request.GET.get("saved") else draft_for(assignment=assignment, current=current)
    if found is not None and assignment_locked(assignment=assignment, current=current):
        found = None
    if found is not None:
        initial: dict[str, Any] | None = found.draft.values
    else:
        initial = labels_to_initial(current, assignment.display_order) if current else None
    context = _labelling_context(
        request,
        assignment,
        initial=initial,
        current=current,
        restored=found.draft if found and not found.conflict else None,
        resumed=bool(request.GET.get("resumed")),
        changed_elsewhere=bool(found and found.conflict),
    )
    return render(request, "labelling/label.html", context)


@login_required
@require_POST
def assignment_draft_page(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    """Keep what the rater has typed (static/js/draft.js sends it as they work)."""
    assignment = selectors.assignment_get_for_annotator(
        user=request.user, assignment_id=assignment_id
    )
    shown = list(letters(assignment.display_order).values())
    values = form_values(request.POST, response_ids=shown, criteria=assignment.project.criteria)
    try:
        draft = draft_save(
            assignment=assignment,
            annotator=request.user,
            values=values,
            based_on=ascii_int(request.POST.get("based_on", "")) or 0,
            now=timezone.now(),
        )
    except DomainError as refused:
        return JsonResponse({"detail": refused.message}, status=409)
    when = _utc_time(draft.saved_at)
    return JsonResponse(
        {
            "saved_at": draft.saved_at.isoformat(),
            "label": _("Draft kept at %(when)s UTC.") % {"when": when},
        }
    )


def _utc_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M")


def _assignment_submit(request: AuthenticatedHttpRequest, assignment: Assignment) -> HttpResponse:
    project = assignment.project
    shown = list(letters(assignment.display_order).values())
    values = form_values(request.POST, response_ids=shown, criteria=project.criteria)
    data = labels_from_values(values, response_ids=shown)
    based_on = ascii_int(request.POST.get("based_on", ""))
    try:
        result = annotation_submit(
            assignment=assignment,
            annotator=request.user,
            data=data,
            now=timezone.now(),
            by_letter=True,
            based_on=based_on,
            # Asked once: "Save anyway" sends ratings_confirmed.
            check_ratings=not request.POST.get("ratings_confirmed"),
            active_seconds=ascii_int(request.POST.get("active_seconds", "")),
        )
    except RatingsAgainstRanking as asked:
        letter = letters(assignment.display_order)
        context = _labelling_context(
            request,
            assignment,
            initial=values,
            current=_current_of(assignment),
            against_ranking=[(letter[above], letter[below]) for above, below in asked.pairs],
        )
        return render(request, "labelling/label.html", context)
    except SubmissionInvalid as invalid:
        # Everything typed is shown again with the errors: nothing is lost. A form typed
        # over a version since replaced elsewhere says so here too.
        current = _current_of(assignment)
        stale = based_on is not None and based_on != (current.version if current else 0)
        context = _labelling_context(
            request,
            assignment,
            errors=invalid.errors,
            initial=values,
            current=current,
            changed_elsewhere=stale,
        )
        return render(request, "labelling/label.html", context, status=400)
    except ChangedElsewhere:
        # The other save stands until this one is confirmed: what was typed here is
        # shown again, over the version saved elsewhere, for a second "save" to replace.
        current = _current_of(assignment)
        context = _labelling_context(
            request, assignment, initial=values, current=current, changed_elsewhere=True
        )
        return render(request, "labelling/label.html", context, status=409)
    except DomainError as refused:
        if assignment_locked(assignment=assignment, current=_current_of(assignment)):
            return redirect("assignment", assignment_id=assignment.pk)  # read-only, says why
        messages.error(request, refused.message)
        return redirect("home")
    saved = _("Your changes are saved.") if result.annotation.version > 1 else _("Saved.")
    return _go_to_next(request, project, saved=saved)


@login_required
def assignment_response_page(
    request: AuthenticatedHttpRequest, assignment_id: int, letter: str
) -> HttpResponse:
    """One response of the annotator's own item, whole (a long one is folded on the
    labelling page): a page, or with `?fragment=1` the rendered text for the page's
    "show all" to put in place."""
    assignment = selectors.assignment_get_for_annotator(
        user=request.user, assignment_id=assignment_id
    )
    shown = {r["id"]: r for r in item_for_annotator(assignment=assignment)["responses"]}
    if letter not in shown:
        raise Http404
    return response_whole(
        request,
        text=shown[letter]["text"],
        title=_("Response %(letter)s") % {"letter": letter},
        back=reverse("assignment", args=[assignment.pk]),
    )


@login_required
def assignment_compare_page(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    """Two responses of the annotator's own item side by side, whole, each with what the
    other lacks marked (by the letters they see)."""
    assignment = selectors.assignment_get_for_annotator(
        user=request.user, assignment_id=assignment_id
    )
    shown = {r["id"]: r["text"] for r in item_for_annotator(assignment=assignment)["responses"]}
    order = list(shown)
    left = request.GET.get("a") if request.GET.get("a") in shown else order[0]
    right = request.GET.get("b") if request.GET.get("b") in shown else None
    if right is None or right == left:
        right = next(letter for letter in order if letter != left)
    left_html, right_html = diff_sides(shown[left], shown[right])
    return render(
        request,
        "labelling/compare.html",
        {
            "assignment": assignment,
            "project": assignment.project,
            "item": item_reference(assignment),
            "letters": order,
            "left": left,
            "right": right,
            "left_html": left_html,
            "right_html": right_html,
        },
    )


def response_whole(request: HttpRequest, *, text: str, title: str, back: str) -> HttpResponse:
    html = render_markdown(text)
    if request.GET.get("fragment") == "1":
        return HttpResponse(html)
    return render(
        request, "labelling/response_whole.html", {"title": title, "html": html, "back": back}
    )


@login_required
@require_POST
def assignment_skip_page(request: AuthenticatedHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = selectors.assignment_get_for_annotator(
        user=request.user, assignment_id=assignment_id
    )
    try:
        assignment_skip(
            assignment=assignment, reason=request.POST.get("reason", ""), now=timezone.now()
        )
    except DomainError as refused:
        messages.error(request, refused.message)
        return redirect("assignment", assignment_id=assignment.pk)
    messages.info(request, _("Skipped. Here is the next one."))
    return _go_to_next(request, assignment.project)


# --- guidelines ---------------------------------------------------------------------------


@login_required
def guidelines_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(user=request.user, project_id=project_id)
    role = selectors.role_for(user=request.user, project=project)
    return render(
        request,
        "labelling/guidelines.html",
        {
            "project": project,
            "timeline": guideline_timeline(project=project),
            "is_admin": role == Membership.Role.ADMIN,
            "pending": (
                guideline_pending(project=project, user=request.user)
                if role == Membership.Role.ANNOTATOR
                else None
            ),
        },
    )


@login_required
def guideline_new(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    current = project.guidelines.order_by("-version").first()
    drafts = list(
        QualificationSet.objects.filter(
            project=project, required_from__isnull=True, withdrawn_at__isnull=True
        ).values_list("id", "name")
    )
    form = GuidelineForm(
        request.POST or None, initial={"body": current.body if current else ""}, sets=drafts
    )
    if request.method == "POST" and form.is_valid():
        try:
            version = guideline_publish(
                project=project, actor=request.user, now=timezone.now(), **form.cleaned_data
            )
        except DomainError as refused:
            form.add_error(refused.field or None, refused.message)
        else:
            messages.success(
                request,
                _("Version %(v)d is published. Annotators will read it before their next item.")
                % {"v": version.version},
            )
            return redirect("guidelines", project_id=project.pk)
    return render(
        request,
        "labelling/guideline_new.html",
        {"project": project, "form": form, "current": current},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def guideline_preview(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """The markdown as the annotators will see it, through the one sanitising renderer."""
    selectors.project_get_for_member(user=request.user, project_id=project_id, roles=ADMINS)
    return HttpResponse(render_markdown(request.POST.get("body", "")[:MAX_BODY]))


@login_required
def guideline_acknowledge_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = _annotator_project(request, project_id)
    current = project.guidelines.get(version=project.guideline_version)
    if request.method == "POST":
        guideline_acknowledge(
            project=project, user=request.user, version=current.version, now=timezone.now()
        )
        return _go_to_next(request, project)
    last = guideline_last_acknowledged(project=project, user=request.user)
    since = project.guidelines.filter(version__gt=last or 0).order_by("version")
    previous = project.guidelines.filter(version=last).first() if last else None
    return render(
        request,
        "labelling/guideline_acknowledge.html",
        {
            "project": project,
            "current": current,
            "last": last,
            "changes": since,
            "diff": word_diff(previous.body, current.body) if previous else None,
            "sections": sections_changed(previous.body, current.body) if previous else None,
            "pending": guideline_pending(project=project, user=request.user),
        },
    )


def _relabel_filters(data: dict[str, Any]) -> RelabelFilters:
    metadata = {data["metadata_key"]: data["metadata_value"]} if data["metadata_key"] else None
    return RelabelFilters(
        versions=data["versions"] or None,
        metadata=metadata,
        max_agreement=data["max_agreement"],
    )


@login_required
def relabel_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """Re-labelling requests: the past ones (GET); what a new one would do, to confirm
    (POST); and making it (POST with `confirm`)."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    if request.method != "POST":
        return render(request, "labelling/relabel.html", _relabel_context(project))
    form = RelabelForm(request.POST, versions=_older_versions(project))
    if not form.is_valid():
        context = _project_context(request, project, relabel_form=form)
        return render(request, "labelling/project.html", context, status=400)
    data = form.cleaned_data
    if not request.POST.get("confirm"):
        preview = relabel_preview(
            project=project,
            filters=_relabel_filters(data),
            annotations_wanted=data["annotations_wanted"],
        )
        context = {**_relabel_context(project), "preview": preview, "form": form}
        return render(request, "labelling/relabel.html", context)
    result = relabel_request(
        project=project,
        actor=request.user,
        now=timezone.now(),
        annotations_wanted=data["annotations_wanted"],
        filters=_relabel_filters(data),
        repeat_allowed=data["repeat_allowed"],
    )
    messages.success(
        request,
        ngettext(
            "%(n)d prompt will get %(k)d fresh annotations under version %(v)d.",
            "%(n)d prompts will get %(k)d fresh annotations each under version %(v)d.",
            result.prompts_raised,
        )
        % {
            "n": result.prompts_raised,
            "k": result.annotations_wanted,
            "v": result.guideline_version,
        },
    )
    return redirect("relabel", project_id=project.pk)


def _relabel_context(project: Project) -> dict[str, Any]:
    requests = list(project.relabels.select_related("requested_by", "cancelled_by")[:50])
    return {
        "project": project,
        "requests": [{"request": r, "outstanding": relabel_outstanding(r)} for r in requests],
    }


@login_required
@require_POST
def relabel_cancel_page(
    request: AuthenticatedHttpRequest, project_id: int, relabel_id: int
) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    wanted = get_object_or_404(RelabelRequest, project=project, pk=relabel_id)
    try:
        lowered = relabel_cancel(request=wanted, actor=request.user, now=timezone.now())
    except DomainError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request,
            ngettext(
                "Cancelled: %(n)d prompt no longer waits for its fresh annotations.",
                "Cancelled: %(n)d prompts no longer wait for their fresh annotations.",
                lowered,
            )
            % {"n": lowered},
        )
    return redirect("relabel", project_id=project.pk)


def _older_versions(project: Project) -> list[int]:
    return list(range(1, project.guideline_version))


# --- review -----------------------------------------------------------------------------------


def _review_project(request: AuthenticatedHttpRequest, project_id: int) -> Project:
    return selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=REVIEWERS
    )


@login_required
def review_queue_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = _review_project(request, project_id)
    page = Paginator(review_queue(project=project), 50).get_page(request.GET.get("page"))
    page.object_list = with_annotation_counts(cast(QuerySet[Prompt], page.object_list))
    return render(request, "labelling/review_queue.html", {"project": project, "page": page})


@login_required
def review_prompt_page(
    request: AuthenticatedHttpRequest, project_id: int, prompt_id: int
) -> HttpResponse:
    project = _review_project(request, project_id)
    prompt = prompt_get_for_review(project=project, prompt_id=prompt_id)
    review = prompt_review(prompt=prompt)
    # The reviewer sees responses in the file's order, lettered, with their models, and
    # every annotation beside the letters its annotator saw (labelling.annotation_table).
    responses = sorted(review.responses, key=lambda r: r.position)
    letters = response_letters(responses)
    names = annotator_names(
        project=project,
        viewer=request.user,
        role=selectors.role_for(user=request.user, project=project),
        user_ids=[a.annotator_id for a in review.annotations],
    )
    columns = annotation_columns(
        project=project, annotations=review.annotations, letters=letters, names=names
    )
    standing = review.adjudication.ranking if review.adjudication else review.consensus
    rank_of = {rid: g + 1 for g, group in enumerate(standing) for rid in group}
    upcoming = review_queue(project=project).exclude(pk=prompt.pk).first()
    return render(
        request,
        "labelling/review_prompt.html",
        {
            "project": project,
            "prompt": prompt,
            "responses": [
                {
                    "response": r,
                    "letter": letters[r.pk],
                    "rank": rank_of.get(r.pk),
                    "score": review.scores.get(r.pk),
                    "html_left_out": render_folded(r.text),
                }
                for r in responses
            ],
            "positions": list(range(1, len(responses) + 1)),
            "columns": columns,
            "consensus": ranking_text(review.consensus, letters),
            "votes": [
                {**v, "a_letter": letters[v["a"]], "b_letter": letters[v["b"]]}
                for v in sorted(review.votes, key=lambda v: (letters[v["a"]], letters[v["b"]]))
            ],
            "adjudication": review.adjudication,
            "adjudicated": (
                ranking_text(review.adjudication.ranking, letters) if review.adjudication else ""
            ),
            "upcoming": upcoming,
        },
    )


@login_required
def review_response_page(
    request: AuthenticatedHttpRequest, project_id: int, prompt_id: int, response_id: int
) -> HttpResponse:
    """One response of a prompt under review, whole."""
    project = _review_project(request, project_id)
    prompt = prompt_get_for_review(project=project, prompt_id=prompt_id)
    response = get_object_or_404(Response, prompt=prompt, pk=response_id)
    return response_whole(
        request,
        text=response.text,
        title=f"{prompt.external_id} · {response.external_id}",
        back=reverse("review-prompt", args=[project.pk, prompt.pk]),
    )


def _back_to_review(
    request: AuthenticatedHttpRequest, project: Project, prompt: Prompt, *, move_on: bool = False
) -> HttpResponseRedirect:
    if move_on:
        upcoming = review_queue(project=project).exclude(pk=prompt.pk).first()
        if upcoming is not None:
            return redirect("review-prompt", project_id=project.pk, prompt_id=upcoming.pk)
        return redirect("review-queue", project_id=project.pk)
    return redirect("review-prompt", project_id=project.pk, prompt_id=prompt.pk)


@login_required
@require_POST
def review_reject(
    request: AuthenticatedHttpRequest, project_id: int, prompt_id: int, annotation_id: int
) -> HttpResponse:
    project = _review_project(request, project_id)
    prompt = prompt_get_for_review(project=project, prompt_id=prompt_id)
    annotation = get_object_or_404(Annotation, prompt=prompt, pk=annotation_id, is_current=True)
    try:
        annotation_reject(
            annotation=annotation,
            reviewer=request.user,
            reason=request.POST.get("reason", ""),
            now=timezone.now(),
        )
    except DomainError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request,
            _("The annotation by %(name)s is rejected; the prompt will be labelled again.")
            % {"name": annotation.annotator.username},
        )
    return _back_to_review(request, project, prompt)


@login_required
@require_POST
def review_adjudicate(
    request: AuthenticatedHttpRequest, project_id: int, prompt_id: int
) -> HttpResponse:
    project = _review_project(request, project_id)
    prompt = prompt_get_for_review(project=project, prompt_id=prompt_id)
    ids = list(prompt.responses.values_list("pk", flat=True))
    values = form_values(request.POST, response_ids=ids, criteria=[])
    ranking = labels_from_values(values, response_ids=ids)["ranking"]
    try:
        prompt_adjudicate(
            prompt=prompt,
            reviewer=request.user,
            ranking=ranking,
            note=request.POST.get("note", ""),
            now=timezone.now(),
        )
    except DomainError as refused:
        messages.error(request, refused.message)
        return _back_to_review(request, project, prompt)
    messages.success(request, _("Your ranking is recorded and the review closed."))
    return _back_to_review(request, project, prompt, move_on=True)


@login_required
@require_POST
def review_close(
    request: AuthenticatedHttpRequest, project_id: int, prompt_id: int
) -> HttpResponse:
    project = _review_project(request, project_id)
    prompt = prompt_get_for_review(project=project, prompt_id=prompt_id)
    try:
        prompt_review_close(
            prompt=prompt,
            reviewer=request.user,
            note=request.POST.get("note", ""),
            now=timezone.now(),
        )
    except DomainError as refused:
        messages.error(request, refused.message)
        return _back_to_review(request, project, prompt)
    messages.success(request, _("Review closed."))
    return _back_to_review(request, project, prompt, move_on=True)


# --- reward model ------------------------------------------------------------------------------


@login_required
@require_POST
def project_reward_model(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    # A model that is no longer registered is shown as a disabled option, which a
    # browser does not send: no field means "as it is", never "none".
    name = request.POST.get("reward_model", project.reward_model).strip()[:300]
    order = request.POST.get("queue_order", project.queue_order)
    if order not in Project.QueueOrder.values:
        messages.error(request, _("Unknown queue order."))
        return redirect("project", project_id=project.pk)
    try:
        project_update(
            project=project,
            actor=request.user,
            now=timezone.now(),
            reward_model=name,
            queue_order=order,
        )
    except DomainError as refused:
        messages.error(request, refused.message)
        return redirect(f"{reverse('project', args=[project.pk])}#reward-model")
    messages.success(request, _("Reward-model settings saved."))
    return redirect(f"{reverse('project', args=[project.pk])}#reward-model")


@login_required
@require_POST
def project_score(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    try:
        scoring_request(project=project, user=request.user, now=timezone.now())
    except DomainError as refused:
        messages.error(request, refused.message)
    else:
        messages.info(request, _("Scoring started; this page shows its progress."))
    return redirect(f"{reverse('project', args=[project.pk])}#reward-model")


# --- the account: API tokens and password -----------------------------------------------------


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_lazy("What it is for"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _lazy("e.g. training pipeline")}),
    )
    days = forms.TypedChoiceField(
        label=_lazy("Expires after"),
        coerce=int,
        choices=[(30, _lazy("30 days")), (90, _lazy("90 days")), (365, _lazy("a year"))],
        initial=90,
    )


@login_required
def tokens_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's API tokens: made here (shown once), listed with when they expire and
    were last used, revoked one by one."""
    created_key = None
    form = TokenForm()
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                _token, created_key = token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"],
                    now=timezone.now(),
                )
            except DomainError as refused:
                form.add_error(None, refused.message)
            else:
                form = TokenForm()
    return render(
        request,
        "account/tokens.html",
        {
            "form": form,
            "created_key": created_key,
            "tokens": tokens_of(user=request.user),
            "now": timezone.now(),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def token_revoke_page(request: AuthenticatedHttpRequest, token_key: str) -> HttpResponse:
    if token_revoke(user=request.user, token_key=token_key, now=timezone.now()):
        messages.success(request, _("The token is revoked: it opens nothing any more."))
    else:
        messages.error(request, _("No token of yours has that key."))
    return redirect("tokens")


class PasswordChangePage(auth_views.PasswordChangeView):
    """Django's password change; saving the new password revokes every API token of the
    user (labelling.tokens.TokenRevocation), which the page says."""

    # The view's dispatch is behind login_required (Django's PasswordChangeView).
    request: AuthenticatedHttpRequest
    template_name = "account/password.html"
    success_url = reverse_lazy("tokens")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        had = tokens_of(user=self.request.user).count()
        response = super().form_valid(form)
        messages.success(
            self.request,
            ngettext(
                "Your password is changed, and your %(n)d API token is revoked.",
                "Your password is changed, and your %(n)d API tokens are revoked.",
                had,
            )
            % {"n": had},
        )
        return response


@login_required
@require_POST
def pause_resume_page(
    request: AuthenticatedHttpRequest, project_id: int, pause_id: int
) -> HttpResponse:
    """Resume a paused rater from the dashboard, with a note."""
    project = _review_project(request, project_id)
    pause = get_object_or_404(RaterPause, project=project, pk=pause_id)
    try:
        pause_resume(
            pause=pause, actor=request.user, note=request.POST.get("note", ""), now=timezone.now()
        )
    except DomainError as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _("The rater is resumed; their next items are checked afresh."))
    return redirect(reverse("dashboard", args=[project.pk]) + "#paused")
