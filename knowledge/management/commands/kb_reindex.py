"""Rebuild the knowledge-base search index from the database (all workspaces, or one)."""

import time

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from knowledge import search


class Command(BaseCommand):
    help = "Rebuild the knowledge-base search index from the published articles."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", type=int, default=None, help="only this workspace id")

    def handle(self, *args, workspace=None, **options):
        started = time.perf_counter()
        count = search.rebuild(workspace_id=workspace)
        self.stdout.write(_("Indexed %(count)s article versions in %(seconds).1f s.") % {
            "count": count, "seconds": time.perf_counter() - started})
