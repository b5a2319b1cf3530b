"""django-q2 entry points of the exports app: take an id, call a service."""

from exports.services import export_build


def export_build_task(export_id: int) -> None:
    export_build(export_id=export_id)
