from django.urls import path

from ranking import views

urlpatterns = [
    path("projects/<id:project_id>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<id:project_id>/raters/", views.rater_report_page, name="rater-report"),
    path(
        "projects/<id:project_id>/dashboard/status/",
        views.dashboard_status,
        name="dashboard-status",
    ),
    path(
        "projects/<id:project_id>/dashboard/refresh/",
        views.dashboard_refresh,
        name="dashboard-refresh",
    ),
]
