"""django-q2 entry points of the labelling app: take an id, call a service."""

from labelling.near_duplicates import near_duplicates_scan
from labelling.scoring import scoring_run


def scoring_run_task(job_id: int) -> None:
    scoring_run(job_id=job_id)


def near_duplicates_task(project_id: int) -> None:
    near_duplicates_scan(project_id=project_id)
