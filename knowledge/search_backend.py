"""Knowledge-base search engine: django-haystack's Whoosh backend with a Chinese + English
analyzer, serialised index writes and a ranked OR query.

Analyzer (the same at index and query time):
  text → NFKC + OpenCC t2s (traditional folded to simplified) + lowercase
       → jieba segmentation in search mode (words plus their dictionary sub-words)
       → drop punctuation and stop words of both languages
       → Porter stemming (whoosh StemFilter) of latin tokens only.
So 「退貨」 and 「退货」 index and query as the same term, and "refunds" finds "refund".

Writes: every index change (publish, unpublish, delete, rebuild, haystack's own
update/remove/clear) runs inside an exclusive fcntl.flock on `<PATH>.lock`, a file next to
the index directory, and commits one Whoosh writer while holding it. Haystack's stock
backend uses AsyncWriter / a lock-free `delete_by_query`, which drops writes when several
processes write at once; here writers queue instead. Readers take no lock: each backend
(haystack keeps one per thread) reuses one searcher and refreshes it when the index's
generation changed.
"""

import fcntl
import heapq
import logging
import os
import threading
from contextlib import contextmanager
from operator import itemgetter

from django.core.exceptions import ImproperlyConfigured
from haystack.backends.whoosh_backend import WhooshEngine, WhooshSearchBackend
from haystack.constants import DJANGO_CT, DJANGO_ID, ID
from haystack.exceptions import SkipDocument
from whoosh import index as whoosh_index
from whoosh import writing
from whoosh.analysis import Filter, StemFilter, Token, Tokenizer
from whoosh.analysis.filters import STOP_WORDS as WHOOSH_STOP_WORDS
from whoosh.fields import ID as WHOOSH_ID
from whoosh.fields import TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.qparser import QueryParser
from whoosh.query import And, Every, Or, Term

from helpdesk.text import fold

log = logging.getLogger(__name__)

# --- analysis ---------------------------------------------------------------------------------

# Shop vocabulary jieba's general dictionary splits badly (「七天无理由」 → 七天/无/理由,
# 「退货运费」 → 退/货运/费): added so documents and questions segment the same way.
SHOP_WORDS = [
    "七天无理由", "无理由退货", "退货", "换货", "退换货", "退款", "仅退款", "退货退款", "运费险", "退货地址",
    "售后", "售后服务", "发票", "电子发票", "纸质发票", "增值税专用发票", "专票", "普票", "开票", "补开发票", "抬头",
    "税号", "快递", "物流", "包裹", "快递单号", "运单号", "签收", "拒收", "代收", "驿站", "快递柜", "发货", "催发货",
    "未发货", "缺货", "预售", "定金", "尾款", "优惠券", "满减", "积分", "会员", "会员等级", "价保", "保价", "差价",
    "破损", "漏发", "错发", "少发", "以旧换新", "花呗", "分期", "白条", "货到付款", "自提", "收货地址", "修改地址",
    "取消订单", "订单", "下单", "支付", "付款", "扣款", "重复扣款", "到账", "原路退回", "顺丰", "京东物流", "中通",
    "圆通", "申通", "韵达", "邮政", "微信", "微信支付", "支付宝", "云闪付", "银联", "海外直邮", "跨境", "关税", "清关", "保修", "维修", "质量问题", "正品", "防伪码",
    "礼品卡", "储值卡", "余额", "提现", "账号", "登录", "注册", "密码", "手机号", "换绑", "注销", "实名认证",
    "验证码", "客服", "人工客服", "投诉", "尺码", "尺码表", "试穿", "洗涤", "色差", "过敏", "保质期", "生产日期",
    "配送", "配送范围", "偏远地区", "包邮", "运费", "加急", "次日达", "当日达", "改约", "延迟发货", "丢件",
    "包装", "礼盒", "贺卡", "刻字", "定制", "批发", "企业采购", "对公转账", "小程序", "公众号", "直播间",
]

STOP_WORDS_ZH = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 嗯 哈 么 嘛 啦 喔 哇 是 在 和 与 或 及 就 都 也 还 又 把 被 给 让 从 对 向 到 这 那
    这个 那个 这样 那样 这些 那些 一个 一下 个 我 我的 我们 你 你的 你们 您 您的 他 她 它 他们 她们 自己 有 能 会 要 想
    可以 能否 是否 怎么 怎么样 怎样 怎么办 如何 什么 为什么 为何 啥 咋 哪 哪里 哪儿 哪个 多少 几 请问 请 谢谢 麻烦
    一直 已经 现在 还是 但是 因为 所以 如果 然后 而且 之后 以后 时候 的话 之前""".split()
)
STOP_WORDS_EN = frozenset(WHOOSH_STOP_WORDS) | frozenset(
    """i me my mine myself how do does did doing done what where which who whom why there their they them its it's
    am was were been being please want need get got has had having can't cannot could would should i'm im
    about any some than then so""".split()
)
STOP_WORDS = STOP_WORDS_ZH | STOP_WORDS_EN

_init_lock = threading.Lock()


def _jieba():
    """One jieba tokenizer per process (≈0.6 s to load its dictionary), with the shop words."""
    tok = _JIEBA.get("tok")
    if tok is None:
        with _init_lock:
            tok = _JIEBA.get("tok")
            if tok is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                for word in SHOP_WORDS:
                    tok.add_word(word, freq=max(tok.FREQ.get(word, 0), 20000))
                _JIEBA["tok"] = tok
    return tok


_JIEBA = {}


def _has_word_char(word):
    return any(ch.isalnum() for ch in word)


class ShopTokenizer(Tokenizer):
    """Folds the text (see fold) and segments it with jieba's search mode; skips
    whitespace and punctuation. Offsets refer to the original text."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = t.text = fold(value)
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        pos = start_pos
        for word, start, end in _jieba().tokenize(fold(value), mode="search", HMM=False):
            if not _has_word_char(word):
                continue
            t.text = word
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = value[start:end]
            if positions:
                t.pos = pos
                pos += 1
            if chars:
                t.startchar, t.endchar = start_char + start, start_char + end
            yield t


class BilingualStopFilter(Filter):
    """Chinese and English stop words; single latin letters."""

    def __eq__(self, other):
        return other and self.__class__ is other.__class__

    def __call__(self, tokens):
        for t in tokens:
            text = t.text
            if text in STOP_WORDS or (len(text) == 1 and text.isascii() and text.isalpha()):
                if t.removestops:
                    continue
                t.stopped = True
            yield t


class LatinStemFilter(StemFilter):
    """whoosh's StemFilter (Porter, cached) applied to latin words only."""

    def __call__(self, tokens):
        stemfn = self._stem
        for t in tokens:
            text = t.text
            if not t.stopped and text.isascii() and text.isalpha():
                t.text = stemfn(text)
            yield t


def shop_analyzer():
    return ShopTokenizer() | BilingualStopFilter() | LatinStemFilter()


_ANALYZER = None


def analyze(text):
    """The analyzed terms of text, in order, without duplicates."""
    global _ANALYZER
    if _ANALYZER is None:
        _ANALYZER = shop_analyzer()
    seen = {}
    for token in _ANALYZER(text):
        seen.setdefault(token.text, None)
    return list(seen)


def term_spans(text, terms):
    """(start, end) character spans of the tokens of text whose analyzed form is one of
    `terms`, merged where they overlap (jieba's search mode yields overlapping sub-words)."""
    global _ANALYZER
    if _ANALYZER is None:
        _ANALYZER = shop_analyzer()
    spans = sorted((t.startchar, t.endchar) for t in _ANALYZER(text, chars=True) if t.text in terms)
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# --- serialised writes ------------------------------------------------------------------------


@contextmanager
def exclusive_lock(path):
    """Blocks until this process holds the exclusive flock on `path` (released on exit, or by
    the kernel if the process dies). Threads of one process also exclude each other: each
    acquisition opens its own file description."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# --- haystack backend -------------------------------------------------------------------------


COORDINATION = 0.3  # share of the score that depends on how many of the query's terms a document matches
CANDIDATES = 200  # documents re-scored (coordination, common terms) after the walk of the posting lists
COMMON_SHARE, COMMON_MIN = 0.05, 5000  # a posting list longer than 5% of the index (and 5,000) is "common"


class TermAtATimeScorer:
    """The ranked OR query of KnowledgeWhooshBackend.ranked_query, evaluated term at a time
    over the raw posting blocks of one searcher: for each (field, term), every posting adds
    boost × BM25F(idf, tf, field length) to its document (the same formula and parameters as
    whoosh's BM25F), then a coordination factor (1 - c) + c × matched terms / query terms
    favours documents matching more of the terms, like whoosh's OrGroup factor.

    Why not whoosh's matchers: its matcher tree costs ~20 µs per matching document (and its
    block-max skipping rarely applies to an OR of common words with boosted short fields),
    so an OR of two frequent Chinese words over 100k documents took 150-500 ms; here a
    posting costs well under a microsecond. Uses whoosh-reloaded 2.7.5 internals (posting
    blocks, the field-length column): pinned in requirements.txt, covered by the tests."""

    K1, B = 1.2, 0.75  # whoosh.scoring.BM25F defaults

    def __init__(self, searcher):
        self.searcher = searcher
        # An empty index has an EmptyReader, without segments to score.
        self.leaves = [(leaf, offset) for leaf, offset in searcher.reader().leaf_readers() if hasattr(leaf, "_perdoc")]
        self.doc_count_all = searcher.doc_count_all()
        self._lengths = {}
        self._norms = {}

    def _field_lengths(self, index, leaf, field):
        key = (index, field)
        lengths = self._lengths.get(key)
        if lengths is None:
            from whoosh.codec.whoosh3 import LENGTHS_COLUMN

            count = leaf.doc_count_all()
            column = leaf._perdoc._cached_reader("_%s_len" % field, LENGTHS_COLUMN)
            raw = column._dbfile.get(column._basepos, column._count) if column is not None else b""
            lengths = self._lengths[key] = raw + bytes(max(0, count - len(raw)))
        return lengths

    def _norm(self, field):
        norm = self._norms.get(field)
        if norm is None:
            from whoosh.util.numeric import byte_to_length

            average = self.searcher.avg_field_length(field) or 1.0
            k1, b = self.K1, self.B
            norm = self._norms[field] = [k1 * ((1 - b) + b * byte_to_length(n) / average) for n in range(256)]
        return norm

    def _postings(self, leaf, field, term):
        from whoosh.matching.wrappers import FilterMatcher
        from whoosh.reading import TermNotFound

        try:
            matcher = leaf.postings(field, term)
        except TermNotFound:
            return None
        # Deleted documents are not filtered here: `allowed` (or the final check) drops them.
        return matcher.child if isinstance(matcher, FilterMatcher) else matcher

    def top(self, terms, fields, allowed, limit):
        """[(docnum, score)] of the best `limit` documents (among `allowed`, a set, if given).

        Common-terms cutoff (for large indexes only): a (field, term) posting list longer
        than COMMON_SHARE of the index (and COMMON_MIN documents) is not walked when the
        query has rarer terms; it only adds its score to the best candidates found by the
        rarer ones (looked up with skip_to), as Elasticsearch's cutoff_frequency does. A
        document matching nothing but very common words of a query that also has rare ones
        is then not a candidate."""
        searcher = self.searcher
        k1 = self.K1
        # Check the filter per posting only when it excludes much; else once on the best.
        check = allowed is not None and len(allowed) < self.doc_count_all // 2
        cutoff = max(COMMON_MIN, int(self.doc_count_all * COMMON_SHARE))
        lists = [(field, boost, position, term, searcher.doc_frequency(field, term))
                 for field, boost in fields for position, term in enumerate(terms)]
        lists = [entry for entry in lists if entry[4]]
        common = [entry for entry in lists if entry[4] > cutoff]
        if len(common) == len(lists):
            common = []
        scores, matched = {}, {}
        get_score, get_matched = scores.get, matched.get
        for index, (leaf, offset) in enumerate(self.leaves):
            for field, boost, position, term, _df in lists:
                if common and _df > cutoff:
                    continue
                matcher = self._postings(leaf, field, term)
                if matcher is None:
                    continue
                lengths, norm = self._field_lengths(index, leaf, field), self._norm(field)
                factor = boost * searcher.idf(field, term) * (k1 + 1)
                bit = 1 << position
                while matcher.is_active():
                    if matcher._ids is None:
                        matcher._read_ids()
                    if matcher._weights is None:
                        matcher._read_weights()
                    for docnum, tf in zip(matcher._ids, matcher._weights):
                        doc = docnum + offset
                        if check and doc not in allowed:
                            continue
                        scores[doc] = get_score(doc, 0.0) + factor * tf / (tf + norm[lengths[docnum]])
                        matched[doc] = get_matched(doc, 0) | bit
                    matcher._next_block()
        if allowed is not None and not check:
            best = heapq.nlargest(CANDIDATES + limit * 4, scores.items(), key=itemgetter(1))
            candidates = dict(item for item in best if item[0] in allowed)
            if len(candidates) < len(best) and len(best) < len(scores):  # many deleted/foreign: filter all
                candidates = dict(heapq.nlargest(CANDIDATES + limit * 4,
                                                 ((d, sc) for d, sc in scores.items() if d in allowed), key=itemgetter(1)))
        else:
            candidates = dict(heapq.nlargest(CANDIDATES + limit * 4, scores.items(), key=itemgetter(1)))
        for index, (leaf, offset) in enumerate(self.leaves):
            if not common:
                break
            local = sorted(doc - offset for doc in candidates if offset <= doc < offset + leaf.doc_count_all())
            for field, boost, position, term, _df in common:
                matcher = self._postings(leaf, field, term)
                if matcher is None or not local:
                    continue
                lengths, norm = self._field_lengths(index, leaf, field), self._norm(field)
                factor = boost * searcher.idf(field, term) * (k1 + 1)
                bit = 1 << position
                for docnum in local:
                    if not matcher.is_active():
                        break
                    if matcher.id() < docnum:
                        matcher.skip_to(docnum)
                        if not matcher.is_active():
                            break
                    if matcher.id() == docnum:
                        tf = matcher.weight()
                        doc = docnum + offset
                        candidates[doc] += factor * tf / (tf + norm[lengths[docnum]])
                        matched[doc] |= bit
        if len(terms) > 1:
            n, keep = len(terms), 1 - COORDINATION
            candidates = {doc: score * (keep + COORDINATION * bin(matched[doc]).count("1") / n) for doc, score in candidates.items()}
        return heapq.nlargest(limit, candidates.items(), key=itemgetter(1))


class KnowledgeWhooshBackend(WhooshSearchBackend):
    """Whoosh backend with the shop analyzer, locked writers and a ranked OR query.

    Options (HAYSTACK_CONNECTIONS): PATH (index directory), LOCK_PATH (default PATH + ".lock"),
    WRITER_LIMIT_MB (memory a writer buffers before spilling runs to disk, default 256)."""

    # Set on the index documents only: `text` (haystack's document field) is the union of
    # title, similar and body, which are indexed on their own; indexing it again would double
    # the postings for nothing the ranked query uses.
    SKIP_FIELDS = frozenset({"text"})

    def __init__(self, connection_alias, **connection_options):
        if connection_options.get("STORAGE", "file") != "file":
            raise ImproperlyConfigured("The knowledge search backend needs a file index (STORAGE='file').")
        super().__init__(connection_alias, **connection_options)
        self.path = os.path.abspath(self.path)
        self.lock_path = connection_options.get("LOCK_PATH") or self.path.rstrip(os.sep) + ".lock"
        self.writer_limit_mb = int(connection_options.get("WRITER_LIMIT_MB", 256))
        self._searcher = None
        self._filter_cache = {}
        self._scorers = {}

    # Schema ------------------------------------------------------------------------------

    def build_schema(self, fields):
        schema_fields = {
            ID: WHOOSH_ID(stored=True, unique=True),
            DJANGO_CT: WHOOSH_ID(stored=True),
            DJANGO_ID: WHOOSH_ID(stored=True),
        }
        content_field_name = ""
        for field in fields.values():
            name = field.index_fieldname
            if field.document:
                content_field_name = name
            if name in self.SKIP_FIELDS or not field.indexed and not field.stored:
                continue
            if field.field_type == "keyword":
                schema_fields[name] = WHOOSH_ID(stored=field.stored)
            elif field.field_type in ("string", "text"):
                # No positions (no phrase queries here): a smaller, faster index. Boosts are
                # applied at query time (field_boost would only raise BM25's saturated tf).
                schema_fields[name] = TEXT(analyzer=shop_analyzer(), phrase=False, stored=field.stored)
            else:
                raise ImproperlyConfigured(f"Field type {field.field_type!r} ({name}) is not supported by the knowledge backend.")
        return content_field_name, Schema(**schema_fields)

    def setup(self):
        from haystack import connections

        os.makedirs(self.path, exist_ok=True)
        self.storage = FileStorage(self.path)
        self.content_field_name, self.schema = self.build_schema(
            connections[self.connection_alias].get_unified_index().all_searchfields()
        )
        self.parser = QueryParser(self.content_field_name or "title", schema=self.schema)
        # Under the lock: two processes starting on an empty directory must not both create
        # (create_index wipes whatever the other one already committed).
        with exclusive_lock(self.lock_path):
            if whoosh_index.exists_in(self.path):
                self.index = self.storage.open_index(schema=self.schema)
            else:
                self.index = self.storage.create_index(self.schema)
        self.setup_complete = True

    # Writes ------------------------------------------------------------------------------

    def prepare_document(self, index, obj):
        doc = index.full_prepare(obj)
        return {key: self._from_python(value) for key, value in doc.items()
                if key in self.schema.names() and key != "boost"}

    @contextmanager
    def locked_writer(self, clear=False):
        """One Whoosh writer committed under the exclusive file lock. clear=True replaces the
        whole index with what the writer added (atomically for readers)."""
        if not self.setup_complete:
            self.setup()
        with exclusive_lock(self.lock_path):
            if not whoosh_index.exists_in(self.path):  # deleted under us (clear of another process)
                self.index = self.storage.create_index(self.schema)
            writer = self.index.writer(timeout=30.0, limitmb=self.writer_limit_mb)
            try:
                yield writer
            except BaseException:
                writer.cancel()
                raise
            writer.commit(mergetype=writing.CLEAR) if clear else writer.commit()

    def replace(self, index, delete_terms=(), objects=(), clear=False):
        """In one locked commit: delete every document matching one of `delete_terms`
        ((field, value) pairs), then add `objects`. `objects` may be a lazy queryset: it is
        evaluated inside the lock, so it reads the database state after any earlier writer."""
        added = 0
        with self.locked_writer(clear=clear) as writer:
            for field, value in delete_terms:
                writer.delete_by_term(field, str(value))
            for obj in objects:
                try:
                    doc = self.prepare_document(index, obj)
                except SkipDocument:
                    continue
                writer.add_document(**doc)
                added += 1
        return added

    def update(self, index, iterable, commit=True):
        with self.locked_writer() as writer:
            for obj in iterable:
                try:
                    writer.update_document(**self.prepare_document(index, obj))
                except SkipDocument:
                    continue

    def remove(self, obj_or_string, commit=True):
        from haystack.utils import get_identifier

        with self.locked_writer() as writer:
            writer.delete_by_term(ID, get_identifier(obj_or_string))

    def clear(self, models=None, commit=True):
        from haystack.utils import get_model_ct

        with self.locked_writer(clear=models is None) as writer:
            for model in models or ():
                writer.delete_by_term(DJANGO_CT, get_model_ct(model))

    def delete_index(self):
        self.clear()

    # Reads -------------------------------------------------------------------------------

    def searcher(self):
        """This backend's searcher (haystack keeps a backend per thread), refreshed when a
        writer (any process) committed a newer generation."""
        if not self.setup_complete:
            self.setup()
        searcher = self._searcher
        if searcher is not None and not searcher.up_to_date():
            # Not Searcher.refresh(): in whoosh-reloaded 2.7.5 it reuses segment readers with
            # their old deletion sets and keeps merged-away segments (deleted documents come
            # back). A new searcher opens the current segments; it is only needed after a write.
            searcher.close()
            searcher = None
        if searcher is None:
            searcher = self._searcher = self.index.searcher()
        return searcher

    def filter_docs(self, searcher, filters):
        """The document numbers matching every (field, value) filter, computed once per
        searcher (i.e. until the next write). Restricts without scoring. (A Require/And
        query would too, but whoosh-reloaded 2.7.5 asserts inside IntersectionMatcher when
        the top-N optimisation skips blocks under a Require.)"""
        cache = self._filter_cache
        if cache.get("searcher") is not searcher:
            cache.clear()
            cache["searcher"] = searcher
        key = tuple(filters)
        docs = cache.get(key)
        if docs is None:
            if len(cache) > 64:
                cache.clear()
                cache["searcher"] = searcher
            query = And([Term(field, str(value)) for field, value in filters]) if len(filters) > 1 else Term(filters[0][0], str(filters[0][1]))
            docs = cache[key] = set(searcher.docs_for_query(query))
        return docs

    def reset_searcher(self):
        if self._searcher is not None:
            self._searcher.close()
        self._searcher = None

    def field_boosts(self):
        from haystack import connections

        fields = connections[self.connection_alias].get_unified_index().all_searchfields()
        return [(name, fields[name].boost) for name in ("title", "similar", "body") if name in fields]

    def ranked_query(self, terms):
        """OR of the terms (each a title^b / similar^b / body OR); the coordination factor
        of whoosh's OrGroup (scale 0.9) favours documents matching more of them."""
        fields = self.field_boosts()
        per_term = [Or([Term(name, term, boost=boost) for name, boost in fields]) for term in terms]
        return Or(per_term, scale=0.9) if len(per_term) > 1 else per_term[0]

    def search_documents(self, terms, filters, limit):
        """[(version_id, article_id, locale, score)] best first."""
        if not terms:
            return []
        for attempt in (1, 2):
            try:
                searcher = self.searcher()
                allowed = self.filter_docs(searcher, filters) if filters else None
                scorer = self._scorers.get(searcher)
                if scorer is None:
                    self._scorers = {searcher: (scorer := TermAtATimeScorer(searcher))}
                ranked = scorer.top(terms, self.field_boosts(), allowed, limit)
                results = []
                for docnum, score in ranked:
                    fields = searcher.stored_fields(docnum)
                    results.append((int(fields[DJANGO_ID]), int(fields["article_id"]), fields["locale"], score))
                return results
            except OSError:
                # A segment file merged away between reading the TOC and opening it: reopen.
                if attempt == 2:
                    raise
                self.reset_searcher()
        return []

    def documents(self, field_filters=()):
        """Every stored document (tests and checks): [{field: value}]."""
        query = And([Term(field, str(value)) for field, value in field_filters]) if field_filters else Every()
        return [hit.fields() for hit in self.searcher().search(query, limit=None, scored=False)]


class KnowledgeWhooshEngine(WhooshEngine):
    backend = KnowledgeWhooshBackend

