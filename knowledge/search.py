"""Search index hooks the knowledge actions call after commit. The search engine
(Haystack + Whoosh with a Chinese analyzer) replaces these bodies."""


def index_article(article_id):
    """(Re)index every published version of the article; remove unpublished ones."""


def remove_article(article_id):
    """Remove every version of the article from the index."""
