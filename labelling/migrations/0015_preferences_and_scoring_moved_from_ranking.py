"""Pairwise preferences, response scores, scoring jobs and registered reward models, moved
here from ranking; their tables (ranking_*) keep their names."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ranking', '0006_move_preferences_and_scoring_to_labelling'),
        ('labelling', '0014_move_audit_events_to_core'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay as they are: only Django's idea of which app owns them moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='RegisteredRewardModel',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text='What project admins choose.', max_length=300, unique=True, verbose_name='name')),
                        ('source', models.CharField(help_text='An absolute local folder, or a Hugging Face model id.', max_length=500, verbose_name='source')),
                        ('downloads_allowed', models.BooleanField(default=False, help_text='For a model id: fetch it from the Hub. Needs REWARD_MODEL_DOWNLOADS=true on the server too; otherwise only files already on this machine are used.', verbose_name='may be downloaded')),
                        ('notes', models.TextField(blank=True, verbose_name='notes')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='registered at')),
                    ],
                    options={
                        'verbose_name': 'registered reward model',
                        'verbose_name_plural': 'registered reward models',
                        'db_table': 'ranking_registeredrewardmodel',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='PairwisePreference',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('margin', models.PositiveSmallIntegerField(help_text='How many rank groups apart the two responses were; 0 for a tie.', verbose_name='margin')),
                        ('is_tie', models.BooleanField(verbose_name='tie')),
                        ('guideline_version', models.PositiveIntegerField(verbose_name='guideline version')),
                        ('created_at', models.DateTimeField(verbose_name='created at')),
                        ('annotation_rejected', models.BooleanField(db_default=False, default=False, verbose_name='annotation rejected')),
                        ('flagged', models.BooleanField(db_default=False, default=False, verbose_name='flagged')),
                        ('annotation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='preferences', to='labelling.annotation', verbose_name='annotation')),
                        ('annotator', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('chosen', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='labelling.response')),
                        ('project', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='labelling.project')),
                        ('prompt', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='preferences', to='labelling.prompt')),
                        ('rejected', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='labelling.response')),
                    ],
                    options={
                        'verbose_name': 'pairwise preference',
                        'verbose_name_plural': 'pairwise preferences',
                        'db_table': 'ranking_pairwisepreference',
                        'indexes': [models.Index(fields=['project', 'guideline_version'], name='ranking_pref_project_version')],
                        'constraints': [models.UniqueConstraint(fields=('annotation', 'chosen', 'rejected'), name='ranking_preference_one_per_pair'), models.CheckConstraint(condition=models.Q(('chosen', models.F('rejected')), _negated=True), name='ranking_preference_two_responses'), models.CheckConstraint(condition=models.Q(models.Q(('is_tie', True), ('margin', 0)), models.Q(('is_tie', False), ('margin__gte', 1)), _connector='OR'), name='ranking_preference_margin_matches_tie')],
                    },
                ),
                migrations.CreateModel(
                    name='ResponseScore',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('reward_model', models.CharField(max_length=300, verbose_name='reward model')),
                        ('score', models.FloatField(verbose_name='score')),
                        ('created_at', models.DateTimeField(verbose_name='scored at')),
                        ('response', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='scores', to='labelling.response')),
                    ],
                    options={
                        'verbose_name': 'response score',
                        'verbose_name_plural': 'response scores',
                        'db_table': 'ranking_responsescore',
                        'constraints': [models.UniqueConstraint(fields=('response', 'reward_model'), name='ranking_score_one_per_model')],
                    },
                ),
                migrations.CreateModel(
                    name='ScoringJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('reward_model', models.CharField(max_length=300, verbose_name='reward model')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], max_length=8, verbose_name='status')),
                        ('progress_done', models.PositiveIntegerField(default=0, verbose_name='responses scored')),
                        ('progress_total', models.PositiveIntegerField(default=0, verbose_name='responses to score')),
                        ('error', models.TextField(blank=True, verbose_name='error')),
                        ('error_detail', models.TextField(blank=True, verbose_name='error, for staff')),
                        ('created_at', models.DateTimeField(verbose_name='created at')),
                        ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started at')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished at')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='scoring_jobs', to='labelling.project')),
                    ],
                    options={
                        'verbose_name': 'scoring job',
                        'verbose_name_plural': 'scoring jobs',
                        'db_table': 'ranking_scoringjob',
                        'ordering': ['-created_at', '-id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'running', 'done', 'failed'])), name='ranking_scoring_status_known')],
                    },
                ),
            ],
        ),
    ]
