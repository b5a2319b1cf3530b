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
from labelling.pauses import pauses_shown
from labelling.qualification import results_shown
from labelling.review import review_queue
from labelling.roles import REVIEWERS, WATCHERS
from labelling.selectors import project_get_for_member, project_progress, role_for
from labelling.visibility import annotator_names
from ranking import charts
from ranking.agreement import agreement_shown
from ranking.figures import figures_data, figures_request, figures_stale, newest_annotation
from ranking.report import period_parse, rater_report_shown, report_csv

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
            "pauses": pauses_shown(project=project, viewer=request.user, role=role)[:20],
            "qualification": results_shown(project=project, viewer=request.user, role=role),
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


@login_required
def rater_report_page(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    """The rater report of a period, as a page or (`?format=csv`) a CSV download."""
    project = _watched_project(request, project_id)
    period, errors = period_parse(request.GET)
    rows = [] if errors else rater_report_shown(project=project, period=period, viewer=request.user)
    if request.GET.get("format") == "csv" and not errors:
        response = HttpResponse(report_csv(rows), content_type="text/csv; charset=utf-8")
        span = f"{period.since or 'start'}-to-{period.until or 'now'}"
        response["Content-Disposition"] = (
            f'attachment; filename="raters-project-{project.pk}-{span}.csv"'
        )
        return response
    totals = {
        "items": sum(row["items"] for row in rows),
        "active_hours": round(sum(row["active_hours"] for row in rows), 2),
        "held_hours": round(sum(row["held_hours"] for row in rows), 2),
    }
    return render(
        request,
        "ranking/rater_report.html",
        {
            "project": project,
            "rows": [
                {**row, "flag_labels": [QUALITY_FLAGS.get(f, f) for f in row["flags"]]}
                for row in rows
            ],
            "totals": totals,
            "errors": errors,
            "since": request.GET.get("since", ""),
            "until": request.GET.get("until", ""),
            "query": request.GET.urlencode(),
        },
        status=400 if errors else 200,
    )
