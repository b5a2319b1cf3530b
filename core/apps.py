from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """What every app imports and that imports no app: errors, the API's error envelope,
    the audit trail, the life of a background job, the statistics of rankings."""

    name = "core"
    verbose_name = _("Audit trail")
