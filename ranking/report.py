"""The rater report (issue 18, point 9): per rater of a project, over a period of days,
what managing and paying raters needs: items labelled, active hours (the labelling page's
own count of time visible and in use, static/js/active.js) beside the hours items were
held (the server's lease-to-submit time), items per active hour, gold accuracy and
agreement with the others' consensus.

A period is whole UTC days, `since` and `until` both included. Items are first
submissions made in the period; active time counts every version made in it (an edit's
time on the page too), held time only first submissions (an edit's lease-to-submit time
runs from the version before it, which may be days). Gold accuracy and agreement come
from the quality checks (ranking.quality) over the current annotations made in the
period: a rater's agreement there is with the others' labels of that period.
"""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db.models import Count, Q, Sum

from labelling.models import Annotation, Project
from labelling.selectors import role_for
from labelling.visibility import annotator_names
from ranking.agreement import labels_load
from ranking.quality import rater_checks

COLUMNS = (
    "rater",
    "items",
    "active_hours",
    "held_hours",
    "items_per_active_hour",
    "items_timed",
    "gold_items",
    "gold_accuracy",
    "agreement_with_consensus",
    "flags",
)


@dataclass(frozen=True)
class Period:
    since: date | None = None
    until: date | None = None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) in UTC."""
        start = datetime.combine(self.since, time(), tzinfo=UTC) if self.since else None
        end = (
            datetime.combine(self.until + timedelta(days=1), time(), tzinfo=UTC)
            if self.until
            else None
        )
        return start, end

    def as_dict(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def period_parse(params: Any) -> tuple[Period, list[tuple[str, str]]]:
    """`since` and `until` as dates (2026-12-01), either left out; errors name the field."""
    errors: list[tuple[str, str]] = []
    found: dict[str, date | None] = {}
    for key in ("since", "until"):
        raw = (params.get(key) or "").strip()
        found[key] = None
        if raw:
            try:
                found[key] = date.fromisoformat(raw)
            except ValueError:
                errors.append((key, "A date such as 2026-12-01."))
            else:
                if found[key] == date.max:  # its end of day is past what dates hold
                    errors.append((key, "A date before 9999-12-31."))
    since, until = found["since"], found["until"]
    if since and until and until < since:
        errors.append(("until", "Must be on or after the first day."))
    return Period(since=since, until=until), errors


def rater_report(*, project: Project, period: Period) -> list[dict[str, Any]]:
    """One row per rater who submitted in the period, by user id (`annotator_id`); who
    sees which name is decided where the rows are shown."""
    start, end = period.bounds()
    made = Q(project=project)
    if start:
        made &= Q(created_at__gte=start)
    if end:
        made &= Q(created_at__lt=end)
    work = {
        row["annotator_id"]: row
        for row in Annotation.objects.filter(made, rejected_by__isnull=True)
        .values("annotator_id")
        .annotate(
            items=Count("id", filter=Q(version=1)),
            active=Sum("active_seconds"),
            # An edit's seconds_spent runs from the version before, possibly days ago:
            # the time an item was held is its first submission's.
            held=Sum("seconds_spent", filter=Q(version=1)),
            timed=Count("id", filter=Q(active_seconds__isnull=False)),
        )
        .order_by()
    }
    labels = labels_load(project=project)
    low = period.since.toordinal() if period.since else -np.inf
    high = period.until.toordinal() if period.until else np.inf
    in_period = (labels.day >= low) & (labels.day <= high)
    checks = rater_checks(labels.subset(in_period), project=project) if in_period.any() else {}
    rows = []
    for user_id, row in sorted(work.items()):
        check = checks.get(user_id)
        active = row["active"] or 0
        rows.append(
            {
                "annotator_id": user_id,
                "items": row["items"],
                "active_hours": round(active / 3600, 2),
                "held_hours": round((row["held"] or 0) / 3600, 2),
                "items_per_active_hour": round(row["items"] / (active / 3600), 1)
                if active
                else None,
                "items_timed": row["timed"],
                "gold_items": check.n_gold if check else 0,
                "gold_accuracy": _round(check.gold_accuracy) if check else None,
                "agreement_with_consensus": _round(check.consensus) if check else None,
                "flags": check.flags if check else [],
            }
        )
    return rows


def rater_report_shown(*, project: Project, period: Period, viewer: User) -> list[dict[str, Any]]:
    """The report as `viewer` sees it: each row named by username or pseudonym
    (labelling.visibility), in name order, without the user id."""
    rows = rater_report(project=project, period=period)
    names = annotator_names(
        project=project,
        viewer=viewer,
        role=role_for(user=viewer, project=project),
        user_ids=[row["annotator_id"] for row in rows],
    )
    shown = [
        {
            "rater": names[row["annotator_id"]],
            **{k: v for k, v in row.items() if k != "annotator_id"},
        }
        for row in rows
    ]
    return sorted(shown, key=lambda row: row["rater"])


def report_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header, one line per rater (named in `rater`); flags are
    joined by spaces. Text cells that a spreadsheet would run as a formula are quoted
    with a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        cells = [
            row["rater"],
            *(row[c] for c in COLUMNS[1:-1]),
            " ".join(row["flags"]),
        ]
        writer.writerow(["" if cell is None else _safe(cell) for cell in cells])
    return out.getvalue()


def _safe(cell: Any) -> Any:
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
