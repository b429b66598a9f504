"""Top-3 hit rate of the knowledge search over the quality fixture (knowledge/quality)."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from knowledge import quality, search


class Command(BaseCommand):
    help = "Load the search-quality fixture into a throwaway workspace, index it and report the top-3 hit rate."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", type=int, default=None,
                            help="use this existing workspace (articles already there, e.g. the fixture loaded earlier)")
        parser.add_argument("--questions", default=str(quality.QUESTIONS))
        parser.add_argument("--min-rate", type=float, default=0.9, help="exit 1 below this top-3 hit rate (default 0.9)")
        parser.add_argument("--verbose", action="store_true", help="list the questions whose article was not in the top 3")

    def handle(self, *args, workspace=None, questions=None, min_rate=0.9, verbose=False, **options):
        questions = quality.load_json(questions)
        throwaway = None
        if workspace is None:
            with transaction.atomic():
                throwaway = quality.create_workspace()
                count = quality.load_articles(throwaway)
            workspace = throwaway.pk
            self.stdout.write(_("Loaded %(count)s articles into a throwaway workspace.") % {"count": count})
        try:
            started = time.perf_counter()
            documents = search.rebuild(workspace_id=workspace)
            indexed = time.perf_counter() - started
            started = time.perf_counter()
            report = quality.evaluate(workspace, questions)
            elapsed = time.perf_counter() - started
        finally:
            if throwaway is not None:
                throwaway.delete()
                search.rebuild(workspace_id=workspace)  # its documents leave the index
        self.stdout.write(_("Indexed %(count)s article versions in %(seconds).1f s.") % {"count": documents, "seconds": indexed})
        self.stdout.write(_("Top-3 hit rate: %(rate).1f%% (%(hits)s of %(total)s questions, %(ms).1f ms per search)") % {
            "rate": 100 * report.rate, "hits": report.hits, "total": report.total, "ms": 1000 * elapsed / max(1, report.total)})
        self.stdout.write(_("Ranked first: %(rate).1f%%") % {"rate": 100 * report.first / max(1, report.total)})
        for lang in sorted(report.by_lang):
            hits, total = report.by_lang[lang]
            self.stdout.write(f"  {lang}: {100 * report.lang_rate(lang):.1f}% ({hits}/{total})")
        if verbose and report.misses:
            self.stdout.write(_("Misses:"))
            for item, slugs in report.misses:
                self.stdout.write("  " + _("[%(lang)s] %(question)s → %(expected)s; got %(slugs)s") % {
                    "lang": item["lang"], "question": item["q"], "expected": item["expect"], "slugs": ", ".join(slugs) or "-"})
        if report.rate < min_rate:
            raise CommandError(_("Top-3 hit rate %(rate).1f%% is below %(min).0f%%.") % {"rate": 100 * report.rate, "min": 100 * min_rate})
