from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabellingConfig(AppConfig):
    name = "labelling"
    verbose_name = _("Labelling")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from labelling.drafts import said_logged_out

        user_logged_out.connect(said_logged_out, dispatch_uid="labelling.logged_out")
