"""Build the demo project and its users. Safe to run again: data is only added once.

Passwords are random and set afresh on every run (they are printed, never stored in
clear), so whoever ran the command last knows them; nothing here ships a fixed password.
"""

import io
import json
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from labelling.demo import CRITERIA, GUIDELINE, demo_items, demo_labels, demo_qualification
from labelling.importing import ImportRejected, prompts_import
from labelling.models import Membership, Project
from labelling.services import membership_set, project_create

DEMO_PROJECT = "Demo: assistant responses"
DEMO_USERS = [
    ("admin", None),
    ("alice", Membership.Role.ANNOTATOR),
    ("bob", Membership.Role.ANNOTATOR),
    ("carol", Membership.Role.ANNOTATOR),
    ("rita", Membership.Role.REVIEWER),
    ("erin", Membership.Role.ENGINEER),
]


DEMO_URL = "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = "Create the demo project (212 prompts, 4 models) and users; print their passwords."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the demo project, with all labels made in it, and build it again",
        )
        parser.add_argument(
            "--url",
            default=DEMO_URL,
            help="where the site is served, for the line that says where to log in",
        )

    @transaction.atomic
    def handle(self, *args: Any, reset: bool = False, url: str = DEMO_URL, **options: Any) -> None:
        now = timezone.now()
        if reset:
            deleted = Project.objects.filter(name=DEMO_PROJECT).delete()[0]
            self.stdout.write(f"Deleted the demo project ({deleted} rows).")
        User = get_user_model()
        passwords = {}
        users = {}
        for username, _role in DEMO_USERS:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.org"}
            )
            if username == "admin":
                user.is_staff = user.is_superuser = True
            passwords[username] = secrets.token_urlsafe(9)
            user.set_password(passwords[username])
            user.save()
            users[username] = user

        project = Project.objects.filter(name=DEMO_PROJECT).first()
        if project is None:
            project = project_create(
                name=DEMO_PROJECT,
                description="Four assistants answer coding, maths, advice and explanation "
                "prompts, some as conversations. Rank them, rate them, say why.",
                created_by=users["admin"],
                now=now,
                guideline_body=GUIDELINE,
                responses_per_prompt=4,
                annotations_per_prompt=3,
                allow_ties=True,
                criteria=CRITERIA,
                required_critiques=Project.CritiqueRule.WORST,
                gold_rate=0.05,
            )
        for username, role in DEMO_USERS:
            if role is not None:
                membership_set(
                    project=project, user=users[username], role=role, actor=users["admin"], now=now
                )

        data = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in demo_items())
        try:
            with transaction.atomic():
                result = prompts_import(
                    project=project,
                    stream=io.BytesIO(data.encode()),
                    actor=users["admin"],
                    now=now,
                    source="seed_demo",
                )
        except ImportRejected as rejected:
            # An older demo: its labels are someone's work, so never overwrite it silently.
            self.stderr.write(
                self.style.WARNING(
                    f"The demo project holds an older version of the demo prompts "
                    f"({rejected.total} differ); it is left as it is. "
                    "Run `manage.py seed_demo --reset` to rebuild it (its labels are deleted)."
                )
            )
        else:
            self.stdout.write(
                f"Demo project {project.name!r} (id {project.pk}): "
                f"{result.created} prompts added, {result.unchanged} already there."
            )
        demo_qualification(project=project, actor=users["admin"], now=now)
        if not project.annotations.exists():
            made = demo_labels(project=project, now=now)
            self.stdout.write(
                f"{made} annotations by three seed raters, for the dashboard and the review queue."
            )
        self.stdout.write(f"Log in at {url} as (new passwords on every run):")
        for username, role in DEMO_USERS:
            label = "staff, project admin" if role is None else role
            self.stdout.write(f"  {username:<6} {passwords[username]:<14} ({label})")
