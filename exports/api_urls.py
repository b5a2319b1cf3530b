from django.urls import path

from exports import api

urlpatterns = [
    path(
        "projects/<id:project_id>/exports/",
        api.ProjectExportsView.as_view(),
        name="api-project-exports",
    ),
    path("exports/<id:export_id>/", api.ExportView.as_view(), name="api-export"),
    path(
        "exports/<id:export_id>/download/",
        api.ExportDownloadView.as_view(),
        name="api-export-download",
    ),
    path(
        "exports/<id:export_id>/manifest/",
        api.ExportManifestView.as_view(),
        name="api-export-manifest",
    ),
]
