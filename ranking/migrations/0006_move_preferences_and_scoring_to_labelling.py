"""Pairwise preferences, response scores, scoring jobs and registered reward models move to
labelling, which writes them (no app imports ranking but the ones above it); their tables
keep their names."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ranking', '0005_add_registered_reward_models'),
    ]

    operations = [
        # The tables stay as they are: only Django's idea of which app owns them moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='pairwisepreference',
                    name='annotation',
                ),
                migrations.RemoveField(
                    model_name='pairwisepreference',
                    name='annotator',
                ),
                migrations.RemoveField(
                    model_name='pairwisepreference',
                    name='chosen',
                ),
                migrations.RemoveField(
                    model_name='pairwisepreference',
                    name='project',
                ),
                migrations.RemoveField(
                    model_name='pairwisepreference',
                    name='prompt',
                ),
                migrations.RemoveField(
                    model_name='pairwisepreference',
                    name='rejected',
                ),
                migrations.DeleteModel(
                    name='RegisteredRewardModel',
                ),
                migrations.RemoveField(
                    model_name='responsescore',
                    name='response',
                ),
                migrations.RemoveField(
                    model_name='scoringjob',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='scoringjob',
                    name='project',
                ),
                migrations.DeleteModel(
                    name='PairwisePreference',
                ),
                migrations.DeleteModel(
                    name='ResponseScore',
                ),
                migrations.DeleteModel(
                    name='ScoringJob',
                ),
            ],
        ),
    ]
