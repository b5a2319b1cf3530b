from django.urls import path

from labelling import api
from labelling import qualification_api as q

urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("users/", api.UsersView.as_view(), name="api-users"),
    path("projects/", api.ProjectsView.as_view(), name="api-projects"),
    path("projects/<id:project_id>/", api.ProjectView.as_view(), name="api-project"),
    path("projects/<id:project_id>/members/", api.MembersView.as_view(), name="api-members"),
    path(
        "projects/<id:project_id>/guidelines/",
        api.GuidelinesView.as_view(),
        name="api-guidelines",
    ),
    path(
        "projects/<id:project_id>/prompts/import/",
        api.ImportView.as_view(),
        name="api-import",
    ),
    path(
        "projects/<id:project_id>/guidelines/<id:version>/acknowledge/",
        api.AcknowledgeView.as_view(),
        name="api-acknowledge",
    ),
    path("projects/<id:project_id>/relabel/", api.RelabelView.as_view(), name="api-relabel"),
    path("projects/<id:project_id>/pauses/", api.PausesView.as_view(), name="api-pauses"),
    path(
        "projects/<id:project_id>/near-duplicates/",
        api.NearDuplicatesView.as_view(),
        name="api-near-duplicates",
    ),
    path(
        "projects/<id:project_id>/qualification-sets/",
        q.QualificationSetsView.as_view(),
        name="api-qualification-sets",
    ),
    path(
        "projects/<id:project_id>/qualification-sets/<id:set_id>/require/",
        q.QualificationRequireView.as_view(),
        name="api-qualification-require",
    ),
    path(
        "projects/<id:project_id>/qualification-sets/<id:set_id>/withdraw/",
        q.QualificationWithdrawView.as_view(),
        name="api-qualification-withdraw",
    ),
    path(
        "projects/<id:project_id>/qualification-sets/<id:set_id>/grants/",
        q.QualificationGrantView.as_view(),
        name="api-qualification-grant",
    ),
    path(
        "projects/<id:project_id>/qualification-results/",
        q.QualificationResultsView.as_view(),
        name="api-qualification-results",
    ),
    path(
        "projects/<id:project_id>/qualification/",
        q.MyQualificationView.as_view(),
        name="api-qualification",
    ),
    path(
        "projects/<id:project_id>/qualification/attempts/",
        q.QualificationAttemptView.as_view(),
        name="api-qualification-attempts",
    ),
    path(
        "projects/<id:project_id>/qualification/answers/",
        q.QualificationAnswerView.as_view(),
        name="api-qualification-answers",
    ),
    path(
        "projects/<id:project_id>/pauses/<id:pause_id>/resume/",
        api.PauseResumeView.as_view(),
        name="api-pause-resume",
    ),
    path(
        "projects/<id:project_id>/annotations/",
        api.AnnotationsView.as_view(),
        name="api-annotations",
    ),
    path("projects/<id:project_id>/next/", api.NextView.as_view(), name="api-next"),
    path("assignments/<id:assignment_id>/submit/", api.SubmitView.as_view(), name="api-submit"),
    path("assignments/<id:assignment_id>/skip/", api.SkipView.as_view(), name="api-skip"),
    path("projects/<id:project_id>/score/", api.ScoreView.as_view(), name="api-score"),
]
