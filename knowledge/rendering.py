"""Markdown to safe HTML for knowledge-base articles, and plain text for meta
descriptions and search snippets.

Two layers, so neither alone has to be perfect:
1. markdown-it-py (CommonMark + tables) with raw HTML switched off: any HTML an
   author types is shown as text, never passed through.
2. nh3 (ammonia) on the result with an explicit allow-list of tags, attributes and
   URL schemes: whatever the renderer emits that is not on the list is dropped.

Headings are clamped to h2-h4: the page's h1 is the article title."""

from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset({
    "p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td", "hr", "br",
})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})  # relative URLs are kept as they are
LINK_REL = "noopener noreferrer nofollow"
# Elements whose content is dropped with them (never shown as text).
DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math"})

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def _clamp_headings(tokens):
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(max(int(token.tag[1]), 2), 4)
            token.tag = f"h{level}"
    return tokens


def sanitize(html):
    """The allow-listed subset of an HTML fragment (see the module docstring)."""
    return nh3.clean(
        html or "",
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text):
    """Sanitised HTML for an article body written in Markdown (safe to mark safe)."""
    if not text:
        return ""
    tokens = _clamp_headings(_md.parse(str(text)))
    return sanitize(_md.renderer.render(tokens, _md.options, {})).strip()


_BLOCK_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "blockquote", "table", "thead",
                         "tbody", "tr", "th", "td", "hr", "br", "div"})


class _TextCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data):
        self.parts.append(data)


def _looks_like_html(text):
    """Our own rendered output (ArticleVersion.body_html) starts with one of its block tags."""
    head = text.lstrip()[:12].lower()
    return head.startswith(("<p>", "<h2>", "<h3>", "<h4>", "<ul>", "<ol>", "<pre>", "<blockquote>", "<table>", "<hr>"))


def plain_text(html_or_md, limit=None):
    """The words of a Markdown body or of rendered HTML, on one line (for meta descriptions
    and snippets). Plain text, not HTML: templates escape it as usual. With `limit`, cut at
    a word boundary where there is one and end with an ellipsis."""
    text = str(html_or_md or "")
    html = sanitize(text) if _looks_like_html(text) else render_markdown(text)
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    words = " ".join("".join(collector.parts).split())
    if limit is None or len(words) <= limit:
        return words
    cut = words[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:，。；：") + "…"
