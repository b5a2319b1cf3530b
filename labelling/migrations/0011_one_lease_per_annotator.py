from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def expire_extra_leases(apps, schema_editor):
    """Before the constraint: where an annotator holds several leases in a project (the
    race the constraint now prevents), keep the newest and expire the others, giving
    their slots back."""
    Assignment = apps.get_model("labelling", "Assignment")
    Prompt = apps.get_model("labelling", "Prompt")
    seen = set()
    for pk, project_id, annotator_id, prompt_id in (
        Assignment.objects.filter(status="leased")
        .order_by("project_id", "annotator_id", "-leased_at", "-id")
        .values_list("pk", "project_id", "annotator_id", "prompt_id")
    ):
        if (project_id, annotator_id) not in seen:
            seen.add((project_id, annotator_id))
            continue
        if Assignment.objects.filter(pk=pk, status="leased").update(status="expired"):
            Prompt.objects.filter(pk=prompt_id).update(live_count=F("live_count") - 1)


class Migration(migrations.Migration):
    dependencies = [
        ("labelling", "0010_add_reward_model_settings"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(expire_extra_leases, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="assignment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "leased")),
                fields=("project", "annotator"),
                name="labelling_assignment_one_lease_per_annotator",
            ),
        ),
    ]
