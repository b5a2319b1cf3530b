"""Scoping for exports: only admins and engineers of the project reach one."""

from django.contrib.auth.models import User
from django.http import Http404

from exports.models import Export
from labelling.inputs import ascii_int
from labelling.roles import EXPORTERS
from labelling.selectors import project_get_for_member


def export_get_for_member(*, user: User, export_id: object) -> Export:
    """The export if `user` is an admin or engineer of its project: 404 for anyone who
    is not a member (they learn nothing), 403 for a member with another role."""
    pk = ascii_int(export_id)
    if pk is None:
        raise Http404
    export = Export.objects.select_related("created_by").filter(pk=pk).first()
    if export is None:
        raise Http404
    export.project = project_get_for_member(
        user=user, project_id=export.project_id, roles=EXPORTERS
    )
    return export
