from django.urls import path

from exports import views

urlpatterns = [
    path("projects/<id:project_id>/exports/", views.exports_page, name="exports"),
]
