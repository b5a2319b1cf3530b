from django.urls import path

from ranking import api

urlpatterns = [
    path("projects/<id:project_id>/score/", api.ScoreView.as_view(), name="api-score"),
]
