"""django-q2 entry points of the labelling app: take an id, call a service."""

from labelling.scoring import scoring_run


def scoring_run_task(job_id: int) -> None:
    scoring_run(job_id=job_id)
