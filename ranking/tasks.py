"""django-q2 entry points of the ranking app: take an id, call a service."""

from ranking.figures import figures_compute


def figures_compute_task(figures_id: int) -> None:
    figures_compute(figures_id=figures_id)
