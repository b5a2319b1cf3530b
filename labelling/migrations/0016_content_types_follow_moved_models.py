"""The moved models' content types follow them, so permissions granted on them (staff
who manage registered reward models, say) and the admin's history stay attached.

On a fresh database there are none yet (Django creates content types after migrating),
and this does nothing. Where the new app's content type exists already, the old one is
left as it is.
"""

from django.db import migrations

MOVED = [
    ("ranking", "labelling", "pairwisepreference"),
    ("ranking", "labelling", "responsescore"),
    ("ranking", "labelling", "scoringjob"),
    ("ranking", "labelling", "registeredrewardmodel"),
    ("labelling", "core", "auditevent"),
]


def _follow(apps, schema_editor, *, backwards: bool) -> None:
    content_types = apps.get_model("contenttypes", "ContentType")
    for old, new, model in MOVED:
        source, target = (new, old) if backwards else (old, new)
        if not content_types.objects.filter(app_label=target, model=model).exists():
            content_types.objects.filter(app_label=source, model=model).update(app_label=target)


def forwards(apps, schema_editor) -> None:
    _follow(apps, schema_editor, backwards=False)


def backwards(apps, schema_editor) -> None:
    _follow(apps, schema_editor, backwards=True)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0001_audit_events_moved_from_labelling"),
        ("labelling", "0015_preferences_and_scoring_moved_from_ranking"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
