"""The project dashboard (issue 5): cached figures, charts, the annotator table, the
low-agreement list and the leaderboard."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from core.http import AuthenticatedHttpRequest
from core.jobs import BUSY
from labelling.models import Project
from labelling.review import review_queue
from labelling.roles import REVIEWERS, WATCHERS
from labelling.selectors import project_get_for_member, project_progress, role_for
from labelling.visibility import annotator_names
from ranking import charts
from ranking.agreement import agreement_shown
from ranking.figures import figures_data, figures_request, figures_stale, newest_annotation

QUALITY_FLAGS = {
    "low_gold": _lazy("gold accuracy below the project's threshold"),
    "too_fast": _lazy("implausibly fast"),
    "low_consensus": _lazy("agrees with the others too rarely"),
    "position_bias": _lazy("favours the response shown first"),
    "straight_lining": _lazy("gives every response the same rating"),
    "contradicts_ranking": _lazy("ratings contradict the ranking"),
}


def _watched_project(request: AuthenticatedHttpRequest, project_id: int) -> Project:
    return project_get_for_member(user=request.user, project_id=project_id, roles=WATCHERS)


@login_required
def dashboard(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = _watched_project(request, project_id)
    # Figures out of date ask for a recomputation; the page shows the last ones meanwhile.
    newest = newest_annotation(project=project)
    figures = figures_request(project=project, now=timezone.now(), newest=newest)
    data = figures_data(figures) or {}
    role = role_for(user=request.user, project=project)
    agreement = data.get("agreement", {})
    names = annotator_names(
        project=project,
        viewer=request.user,
        role=role,
        user_ids=[row["annotator_id"] for row in agreement.get("annotators", [])],
    )
    agreement = agreement_shown(agreement, names=names) if agreement else {}
    annotators = [
        {**row, "flag_labels": [QUALITY_FLAGS.get(f, f) for f in row.get("flags", [])]}
        for row in agreement.get("annotators", [])
    ]
    return render(
        request,
        "ranking/dashboard.html",
        {
            "project": project,
            "figures": figures,
            # Nothing to show yet because the first figures are on their way: the empty
            # sections say so instead of "no annotations".
            "computing": not data and figures.status in BUSY,
            "stale": figures_stale(figures, newest=newest),
            # Progress is a few counts: live, not cached.
            "progress": project_progress(project_ids=[project.pk])[project.pk],
            "overall": agreement.get("overall"),
            "by_version": agreement.get("by_guideline_version", []),
            "annotators": annotators,
            "flagged": [row for row in annotators if row.get("flags")],
            "leaderboard": data.get("leaderboard", []),
            "reward_model": agreement.get("reward_model", {}),
            "time_chart": charts.time_chart(data.get("over_time", []), data.get("versions", [])),
            "version_chart": charts.version_chart(agreement.get("by_guideline_version", [])),
            "leaderboard_chart": charts.leaderboard_chart(data.get("leaderboard", [])),
            "low_agreement": review_queue(project=project)[:10],
            "can_review": role in REVIEWERS,
        },
    )


@login_required
def dashboard_status(request: AuthenticatedHttpRequest, project_id: int) -> JsonResponse:
    """What the page polls while figures are being computed."""
    project = _watched_project(request, project_id)
    figures = figures_request(project=project, now=timezone.now())
    return JsonResponse(
        {
            "status": figures.status,
            "computed_at": figures.computed_at.isoformat() if figures.computed_at else None,
            "error": figures.error,
        }
    )


@login_required
@require_POST
def dashboard_refresh(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponseRedirect:
    project = _watched_project(request, project_id)
    figures_request(project=project, now=timezone.now(), force=True)
    messages.info(request, _("The figures are being recomputed."))
    return redirect("dashboard", project_id=project.pk)
