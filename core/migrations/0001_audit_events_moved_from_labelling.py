"""The audit trail, moved here from labelling; its table, labelling_auditevent, stays."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('labelling', '0014_move_audit_events_to_core'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The table stays as it is: only Django's idea of which app owns it moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('verb', models.CharField(choices=[('project.created', 'project created'), ('project.updated', 'project updated'), ('member.added', 'member added'), ('member.role_changed', 'member role changed'), ('guideline.published', 'guideline published'), ('prompts.imported', 'prompts imported'), ('user.created', 'user created'), ('annotation.edited', 'annotation edited'), ('annotation.rejected', 'annotation rejected'), ('prompt.adjudicated', 'ranking adjudicated'), ('prompt.reviewed', 'prompt reviewed'), ('relabel.requested', 're-labelling requested'), ('export.made', 'export made'), ('token.created', 'API token created'), ('token.revoked', 'API token revoked')], max_length=40, verbose_name='what')),
                        ('object_type', models.CharField(max_length=40, verbose_name='object type')),
                        ('object_id', models.CharField(max_length=200, verbose_name='object id')),
                        ('data', models.JSONField(blank=True, default=dict, verbose_name='details')),
                        ('created_at', models.DateTimeField(verbose_name='when')),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='actor')),
                        ('project', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='audit_events', to='labelling.project', verbose_name='project')),
                    ],
                    options={
                        'verbose_name': 'audit event',
                        'verbose_name_plural': 'audit events',
                        'db_table': 'labelling_auditevent',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['project', '-created_at'], name='labelling_audit_project_time')],
                    },
                ),
            ],
        ),
    ]
