"""Which search backend a deployment gets (helpdesk.settings.haystack_connections): Whoosh on the
embedded default, the PostgreSQL backend on a PostgreSQL database, Whoosh there too with SEARCH_URL=whoosh."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from helpdesk.settings import haystack_connections

PG_ENGINE = {"default": {"ENGINE": "knowledge.search_pg.PostgresSearchEngine"}}
WHOOSH = "knowledge.search_backend.KnowledgeWhooshEngine"


def test_postgres_databases_get_the_postgres_backend():
    assert haystack_connections("", "/x", "django.db.backends.postgresql") == PG_ENGINE
    assert haystack_connections("", "/x", "helpdesk.postgresql") == PG_ENGINE  # the pooled engine
    assert haystack_connections("", "/x", "django.db.backends.sqlite3") == {"default": {"ENGINE": WHOOSH, "PATH": "/x"}}
    assert haystack_connections("", "/x") == {"default": {"ENGINE": WHOOSH, "PATH": "/x"}}
    assert haystack_connections("whoosh", "/x", "django.db.backends.postgresql") == {"default": {"ENGINE": WHOOSH, "PATH": "/x"}}



def test_any_other_search_url_is_refused_at_start_up():
    """No untested backend behind a setting: OpenSearch was removed (docs/knowledge.md)."""
    with pytest.raises(ImproperlyConfigured, match="not supported"):
        haystack_connections("opensearch://h:9200/kb", "/x", "helpdesk.postgresql")
