# Pairwise preferences, agreement and leaderboards arrive with the annotator's workflow.
