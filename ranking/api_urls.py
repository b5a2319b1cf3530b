from django.urls import path

from ranking import api

urlpatterns = [
    path(
        "projects/<id:project_id>/agreement/",
        api.AgreementView.as_view(),
        name="api-agreement",
    ),
    path(
        "projects/<id:project_id>/raters/",
        api.RaterReportView.as_view(),
        name="api-rater-report",
    ),
    path(
        "projects/<id:project_id>/leaderboard/",
        api.LeaderboardView.as_view(),
        name="api-leaderboard",
    ),
]
