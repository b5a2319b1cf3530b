"""The groups of project roles that the pages, the API and the visibility policy check,
named once. Staff act as admins of every project (labelling.selectors)."""

from labelling.models import Membership

Role = Membership.Role

ADMINS = frozenset({Role.ADMIN})
ANNOTATORS = frozenset({Role.ANNOTATOR})
# Review the items where raters disagree or flagged something, and see usernames.
REVIEWERS = frozenset({Role.ADMIN, Role.REVIEWER})
# Read annotations, agreement, the dashboard and the leaderboard.
WATCHERS = frozenset({Role.ADMIN, Role.REVIEWER, Role.ENGINEER})
# Make and download exports.
EXPORTERS = frozenset({Role.ADMIN, Role.ENGINEER})
