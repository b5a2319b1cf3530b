import hashlib

from django.db import migrations, models


def _key(words):
    """Prompt.words_key_of as it is now (a migration keeps its own copy)."""
    return hashlib.sha256(" ".join(words.casefold().split()).encode()).hexdigest()[:32]


def fill_words_key(apps, schema_editor):
    """The digest of every prompt imported before the column, 2,000 at a time, each batch
    committed on its own (the migration is not atomic)."""
    Prompt = apps.get_model("labelling", "Prompt")
    last = 0
    while True:
        batch = list(
            Prompt.objects.filter(pk__gt=last).order_by("pk").only("pk", "search_text")[:2000]
        )
        if not batch:
            return
        for prompt in batch:
            prompt.words_key = _key(prompt.search_text)
        Prompt.objects.bulk_update(batch, ["words_key"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    # As 0020: the column comes with a constant default, the backfill commits by batch.
    atomic = False

    dependencies = [
        ("labelling", "0024_rater_pauses"),
    ]

    operations = [
        migrations.AddField(
            model_name="prompt",
            name="words_key",
            field=models.CharField(
                blank=True, db_default="", default="", max_length=32, verbose_name="words digest"
            ),
        ),
        migrations.RunPython(fill_words_key, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="prompt",
            index=models.Index(models.F("project"), models.F("words_key"), name="labelling_prompt_words"),
        ),
    ]
