"""The audit trail moves to the shared core (core.AuditEvent); its table keeps its name."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('labelling', '0013_longer_audit_object_ids'),
    ]

    operations = [
        # The table stays as it is: only Django's idea of which app owns it moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='AuditEvent',
                ),
            ],
        ),
    ]
