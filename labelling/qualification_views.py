"""The pages of qualification (labelling.qualification): the rater's test and the feedback
after each item; the admin's sets, results and extra attempts."""

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.http import AuthenticatedHttpRequest
from labelling import selectors
from labelling.forms import form_values
from labelling.inputs import ascii_int
from labelling.models import (
    Assignment,
    Project,
    Prompt,
    QualificationAnswer,
    QualificationSet,
)
from labelling.qualification import (
    MAX_ITEMS,
    AnsweredAlready,
    Current,
    Due,
    ItemSpec,
    answer_feedback,
    answer_submit,
    attempt_current,
    attempt_start,
    attempts_used_message,
    item_shown,
    mine_shown,
    qualification_due,
    qualification_grant,
    qualification_require,
    qualification_set_create,
    qualification_withdraw,
    required_set,
    results_shown,
    sets_shown,
)
from labelling.roles import ADMINS, ANNOTATORS, REVIEWERS
from labelling.visibility import letters


@login_required
def qualify_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """The rater's qualification: why they are asked, then one item at a time."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ANNOTATORS
    )
    now = timezone.now()
    due = qualification_due(project=project, annotator=request.user)
    context: dict = {"project": project, "due": due}
    if request.method == "POST":
        if due is None:
            return redirect("qualify", project_id=project.pk)
        if "start" in request.POST:
            try:
                attempt_start(project=project, annotator=request.user, now=now)
            except DomainError as refused:
                messages.error(request, refused.message)
            return redirect("qualify", project_id=project.pk)
        return _answer(request, project, due, context, now)
    if due is not None and due.open is not None:
        current = attempt_current(due.open)
        if current is not None:
            context.update(_item_context(current, {}))
    elif due is not None and due.exhausted:
        context["exhausted"] = attempts_used_message(due)
    context["history"] = mine_shown(project=project, annotator=request.user)
    context["required"] = required_set(project=project) if due is None else due.set
    return render(request, "labelling/qualify.html", context)


def _answer(
    request: AuthenticatedHttpRequest, project: Project, due: Due, context: dict, now: datetime
) -> HttpResponse:
    """The rater's answer to the item the form showed: the feedback, or the form again
    with what was wrong."""
    if due.open is None or (current := attempt_current(due.open)) is None:
        return redirect("qualify", project_id=project.pk)
    number = ascii_int(request.POST.get("item", "")) or 0
    shown = list(letters(current.order).values())
    ranks = form_values(request.POST, response_ids=shown, criteria=[])["rank"]
    missing = [letter for letter in shown if letter not in ranks]
    groups: dict[int, list[str]] = {}
    for letter, rank in ranks.items():
        groups.setdefault(rank, []).append(letter)
    try:
        if missing and number == current.number:
            raise DomainError(
                _("Give every response a rank; missing: %(letters)s.")
                % {"letters": ", ".join(missing)},
                field="ranking",
            )
        answer = answer_submit(
            attempt=due.open,
            number=number,
            ranking=[groups[r] for r in sorted(groups)],
            now=now,
        )
    except AnsweredAlready as refused:
        messages.warning(request, refused.message)
        return redirect("qualify", project_id=project.pk)
    except DomainError as refused:
        context.update(_item_context(current, ranks), error=refused.message)
        return render(request, "labelling/qualify.html", context, status=400)
    return redirect("qualify-answer", project_id=project.pk, answer_id=answer.pk)


def _item_context(current: Current, ranks: dict) -> dict:
    item = item_shown(current)
    for response in item["responses"]:
        response["rank"] = ranks.get(response["label"])
    return {"item": item, "positions": range(1, len(item["responses"]) + 1)}


@login_required
def qualify_answer_page(
    request: AuthenticatedHttpRequest, project_id: int, answer_id: int
) -> HttpResponse:
    """After an answer: the expert's ranking beside the rater's, and why."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ANNOTATORS
    )
    answer = get_object_or_404(
        QualificationAnswer.objects.select_related("attempt__set", "item__prompt"),
        pk=answer_id,
        attempt__annotator=request.user,
        attempt__set__project=project,
    )
    feedback = answer_feedback(answer)
    due = (
        qualification_due(project=project, annotator=request.user) if feedback["finished"] else None
    )
    return render(
        request,
        "labelling/qualify_answer.html",
        {"project": project, "feedback": feedback, "due": due, "set": answer.attempt.set},
    )


# --- admins and reviewers ------------------------------------------------------------------


@login_required
def qualification_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """The project's sets (admins make and require them) and every rater's results
    (admins and reviewers give extra attempts)."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=REVIEWERS
    )
    role = project.member_role
    is_admin = role in ADMINS or request.user.is_staff  # staff act as admins everywhere
    context: dict = {
        "project": project,
        "is_admin": is_admin,
        "sets": sets_shown(project=project),
        "results": results_shown(project=project, viewer=request.user, role=role),
        "max_items": MAX_ITEMS,
    }
    if is_admin:
        used = set(
            QualificationSet.objects.filter(project=project).values_list(
                "items__prompt_id", flat=True
            )
        )
        # Only the gold prompts a set may hold: never given to a rater as hidden gold
        # (labelling.qualification refuses the others, saying why).
        gold = Prompt.objects.filter(project=project, gold__isnull=False, retired=False)
        given = Exists(Assignment.objects.filter(prompt_id=OuterRef("pk")))
        eligible = gold.exclude(given)
        context["gold"] = [
            {"prompt": p, "in_set": p.pk in used}
            for p in eligible.order_by("external_id").only("id", "external_id", "content", "kind")[
                : MAX_ITEMS * 5
            ]
        ]
        context["gold_given"] = gold.filter(given).count()
        context["form"] = {"name": "", "threshold": "0.8", "attempts": "2", "chosen": {}}
    if request.method == "POST":
        if not is_admin:
            return redirect("qualification", project_id=project.pk)
        chosen = {
            ext: request.POST.get(f"explanation-{ext}", "")
            for ext in request.POST.getlist("prompt")
        }
        context["form"] = {
            "name": request.POST.get("name", ""),
            "threshold": request.POST.get("threshold", ""),
            "attempts": request.POST.get("attempts", ""),
            "chosen": chosen,
        }
        try:
            qset = qualification_set_create(
                project=project,
                name=request.POST.get("name", ""),
                threshold=_number(request.POST.get("threshold", ""), float, "threshold"),
                attempts=int(_number(request.POST.get("attempts", ""), int, "attempts")),
                items=[ItemSpec(prompt=ext, explanation=text) for ext, text in chosen.items()],
                actor=request.user,
                now=timezone.now(),
            )
        except DomainError as refused:
            context["error"] = {"field": refused.field, "message": refused.message}
            return render(request, "labelling/qualification.html", context, status=400)
        messages.success(
            request,
            _("Set %(name)s made as a draft: require it here, or when you publish a guideline.")
            % {"name": qset.name},
        )
        return redirect(reverse("qualification", args=[project.pk]) + f"#set-{qset.pk}")
    return render(request, "labelling/qualification.html", context)


def _number(text: str, kind: type, field: str) -> float:
    try:
        return kind(text.strip())
    except ValueError:
        raise DomainError(_("Enter a number."), field=field) from None


@login_required
@require_POST
def qualification_set_action(
    request: AuthenticatedHttpRequest, project_id: int, set_id: int
) -> HttpResponse:
    """Require a draft set from the current guideline version on, or withdraw one."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=ADMINS
    )
    qset = get_object_or_404(QualificationSet, project=project, pk=set_id)
    try:
        if request.POST.get("action") == "withdraw":
            qualification_withdraw(qset=qset, actor=request.user, now=timezone.now())
            messages.success(request, _("%(name)s is no longer required.") % {"name": qset.name})
        else:
            qualification_require(
                qset=qset,
                actor=request.user,
                now=timezone.now(),
                reason=request.POST.get("reason", ""),
            )
            messages.success(
                request,
                _("%(name)s is now required: raters take it before their next item.")
                % {"name": qset.name},
            )
    except DomainError as refused:
        messages.error(request, refused.message)
    return redirect(reverse("qualification", args=[project.pk]) + f"#set-{qset.pk}")


@login_required
@require_POST
def qualification_grant_page(
    request: AuthenticatedHttpRequest, project_id: int, set_id: int, user_id: int
) -> HttpResponse:
    """One more attempt for a rater who used theirs, with a note."""
    project = selectors.project_get_for_member(
        user=request.user, project_id=project_id, roles=REVIEWERS
    )
    qset = get_object_or_404(QualificationSet, project=project, pk=set_id)
    try:
        qualification_grant(
            qset=qset,
            annotator_id=user_id,
            actor=request.user,
            note=request.POST.get("note", ""),
            now=timezone.now(),
        )
        messages.success(request, _("One more attempt given."))
    except DomainError as refused:
        messages.error(request, refused.message)
    return redirect(reverse("qualification", args=[project.pk]) + "#results")
