"""What the ranking endpoints answer, for the schema."""

from rest_framework import serializers


class LeaderboardRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    rating = serializers.FloatField(help_text="Bradley-Terry, on the Elo-like scale (mean 1000).")
    lower = serializers.FloatField(help_text="95% bootstrap interval over prompts.")
    upper = serializers.FloatField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    win_rate = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="Share of comparisons won against each other model (ties count half).",
    )


class LeaderboardSerializer(serializers.Serializer):
    models = LeaderboardRowSerializer(many=True)
