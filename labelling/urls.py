from django.urls import path

from labelling import (
    people_views,
    prompt_views,
    qualification_views,
    rater_views,
    setup_views,
    views,
)

urlpatterns = [
    path("", views.home, name="home"),
    path("annotations/", rater_views.my_annotations_page, name="my-annotations"),
    path("people/", people_views.people_page, name="people"),
    path("people/<id:user_id>/invite/", people_views.person_invite_page, name="person-invite"),
    path("people/<id:user_id>/active/", people_views.person_active_page, name="person-active"),
    path("invite/<str:token>/", people_views.invite_page, name="invite"),
    path("account/tokens/", views.tokens_page, name="tokens"),
    path(
        "account/tokens/<token_key:token_key>/revoke/",
        views.token_revoke_page,
        name="token-revoke",
    ),
    path("account/password/", views.PasswordChangePage.as_view(), name="password-change"),
    path("projects/new/", setup_views.project_new, name="project-new"),
    path("projects/<id:project_id>/", views.project_detail, name="project"),
    path(
        "projects/<id:project_id>/settings/", setup_views.project_settings, name="project-settings"
    ),
    path("projects/<id:project_id>/prompts/", prompt_views.prompts_page, name="prompts"),
    path(
        "projects/<id:project_id>/prompts/retire/",
        prompt_views.prompts_retire_page,
        name="prompts-retire",
    ),
    path(
        "projects/<id:project_id>/prompts/near-duplicates/",
        prompt_views.near_duplicates_page,
        name="near-duplicates",
    ),
    path(
        "projects/<id:project_id>/prompts/<id:prompt_id>/",
        prompt_views.prompt_page,
        name="prompt",
    ),
    path(
        "projects/<id:project_id>/prompts/<id:prompt_id>/responses/<id:response_id>/",
        prompt_views.prompt_response_page,
        name="prompt-response",
    ),
    path("projects/<id:project_id>/import/", views.project_import, name="project-import"),
    path("projects/<id:project_id>/members/", views.project_member_add, name="project-member-add"),
    path(
        "projects/<id:project_id>/members/<id:user_id>/",
        people_views.member_change_page,
        name="member-change",
    ),
    path("projects/<id:project_id>/next/", views.label_next, name="label-next"),
    path("projects/<id:project_id>/qualify/", qualification_views.qualify_page, name="qualify"),
    path(
        "projects/<id:project_id>/qualify/answers/<id:answer_id>/",
        qualification_views.qualify_answer_page,
        name="qualify-answer",
    ),
    path(
        "projects/<id:project_id>/qualification/",
        qualification_views.qualification_page,
        name="qualification",
    ),
    path(
        "projects/<id:project_id>/qualification/<id:set_id>/",
        qualification_views.qualification_set_action,
        name="qualification-set",
    ),
    path(
        "projects/<id:project_id>/qualification/<id:set_id>/grant/<id:user_id>/",
        qualification_views.qualification_grant_page,
        name="qualification-grant",
    ),
    path("assignments/<id:assignment_id>/", views.assignment_page, name="assignment"),
    path(
        "assignments/<id:assignment_id>/skip/", views.assignment_skip_page, name="assignment-skip"
    ),
    path(
        "assignments/<id:assignment_id>/compare/",
        views.assignment_compare_page,
        name="assignment-compare",
    ),
    path(
        "assignments/<id:assignment_id>/draft/",
        views.assignment_draft_page,
        name="assignment-draft",
    ),
    path(
        "assignments/<id:assignment_id>/responses/<letter:letter>/",
        views.assignment_response_page,
        name="assignment-response",
    ),
    path("projects/<id:project_id>/guidelines/", views.guidelines_page, name="guidelines"),
    path("projects/<id:project_id>/guidelines/new/", views.guideline_new, name="guideline-new"),
    path(
        "projects/<id:project_id>/guidelines/preview/",
        views.guideline_preview,
        name="guideline-preview",
    ),
    path(
        "projects/<id:project_id>/guidelines/acknowledge/",
        views.guideline_acknowledge_page,
        name="guideline-acknowledge",
    ),
    path("projects/<id:project_id>/relabel/", views.relabel_page, name="relabel"),
    path(
        "projects/<id:project_id>/relabel/<id:relabel_id>/cancel/",
        views.relabel_cancel_page,
        name="relabel-cancel",
    ),
    path(
        "projects/<id:project_id>/reward-model/",
        views.project_reward_model,
        name="project-reward-model",
    ),
    path("projects/<id:project_id>/score/", views.project_score, name="project-score"),
    path("projects/<id:project_id>/review/", views.review_queue_page, name="review-queue"),
    path(
        "projects/<id:project_id>/review/<id:prompt_id>/",
        views.review_prompt_page,
        name="review-prompt",
    ),
    path(
        "projects/<id:project_id>/review/<id:prompt_id>/responses/<id:response_id>/",
        views.review_response_page,
        name="review-response",
    ),
    path(
        "projects/<id:project_id>/review/<id:prompt_id>/reject/<id:annotation_id>/",
        views.review_reject,
        name="review-reject",
    ),
    path(
        "projects/<id:project_id>/review/<id:prompt_id>/adjudicate/",
        views.review_adjudicate,
        name="review-adjudicate",
    ),
    path(
        "projects/<id:project_id>/pauses/<id:pause_id>/resume/",
        views.pause_resume_page,
        name="pause-resume",
    ),
    path(
        "projects/<id:project_id>/review/<id:prompt_id>/close/",
        views.review_close,
        name="review-close",
    ),
]
