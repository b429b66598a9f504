"""The ranked OR query of the Whoosh backend, evaluated over whole posting lists as numpy array
operations: for each (field, term), every posting adds weight × boost × BM25F(idf, tf, field
length) to its document (the formula and parameters of whoosh's BM25F: a test compares the
scores), then a coordination factor (1 - c) + c × matched words / question words favours
documents matching more of the question, like whoosh's OrGroup factor.

Why arrays: scoring a posting in Python costs ~0.5 µs; a question of the shared analyser
(words, their equivalents, grams, three fields) touches 10,000-40,000 postings at 100,000
articles. A posting list read from whoosh's blocks is kept decoded (document numbers and
term frequencies) per immutable segment, so a write (a new segment, or a merge) keeps the
others; the BM25 length normalisation is applied per query, since the average field length
moves with every write. Uses whoosh-reloaded 2.7.5 internals (posting blocks, the
field-length column): pinned in requirements.txt, covered by the tests."""

import threading
from collections import OrderedDict

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

from helpdesk.analysis import GRAM_PREFIX

COORDINATION = 0.3  # share of the score that depends on how many of the question's words a document matches
WARM_SHARE = 0.05  # warm() skips posting lists longer than this share of the index
CANDIDATES = 200  # documents kept (with the limit) for the coordination and the bot's known words
MAX_CACHED_POSTINGS = 6_000_000  # decoded postings kept per process (16 bytes each: ~100 MB at most)
BIGRAM_BIT = 1 << 62
TOPIC_FIELDS = frozenset({"title", "similar"})  # what an article is about (the bot's known words)
K1, B = 1.2, 0.75  # whoosh.scoring.BM25F defaults


def match_bit(group, term):
    """What a posting says about a document's match: the question word (group) it stands for;
    a bigram counts as a match but not as a word; a single character as neither (a document
    that shares only single characters with a question is noise, not a hit)."""
    if group >= 0:
        return 1 << group
    return BIGRAM_BIT if len(term) > len(GRAM_PREFIX) + 1 else 0


class _PostingCache:
    """Decoded posting lists, least recently used out, shared by the threads of a process."""

    def __init__(self, limit):
        self.limit, self.size = limit, 0
        self.lists = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, load):
        with self.lock:
            found = self.lists.get(key)
            if found is not None:
                self.lists.move_to_end(key)
                return found
        found = load()
        with self.lock:
            if key not in self.lists:
                self.lists[key] = found
                self.size += len(found[0])
                while self.size > self.limit and len(self.lists) > 1:
                    _key, (ids, _tf) = self.lists.popitem(last=False)
                    self.size -= len(ids)
        return found


POSTINGS = _PostingCache(MAX_CACHED_POSTINGS)
_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float64))


def _decode(leaf, field, term):
    """(document numbers, term frequencies) of one term in one segment, deletions included
    (the caller's filter drops deleted documents). Reads whoosh's blocks (zlib + pickle) and
    undoes their delta coding with one cumulative sum instead of whoosh's per-posting generator."""
    try:
        matcher = leaf.postings(field, term)
    except TermNotFound:
        return _EMPTY
    if isinstance(matcher, FilterMatcher):
        matcher = matcher.child
    deltas, weights, previous = [], [], 0
    while matcher.is_active():
        if matcher._data is None:
            matcher._read_data()
        block_ids, block_weights = matcher._data[0], matcher._data[1]
        start = len(deltas)
        deltas.extend(block_ids)
        deltas[start] -= previous  # each block's first id is absolute: make it relative to the last block's
        previous = matcher._maxid
        if block_weights is None or isinstance(block_weights, float):
            weights.extend([1.0 if block_weights is None else block_weights] * len(block_ids))
        else:
            weights.extend(block_weights)
        matcher._next_block()
    return np.cumsum(np.asarray(deltas, np.int64)), np.asarray(weights, np.float64)


class VectorScorer:
    """One per searcher (i.e. until the next write)."""

    def __init__(self, searcher):
        self.searcher = searcher
        # An empty index has an EmptyReader, without segments to score.
        self.leaves = [(leaf, offset) for leaf, offset in searcher.reader().leaf_readers() if hasattr(leaf, "_perdoc")]
        self.doc_count_all = searcher.doc_count_all()
        self._lengths, self._norms, self._masks, self._idfs = {}, {}, {}, {}

    def _field_lengths(self, leaf, field):
        """The encoded length byte of the field of every document of the segment."""
        key = (id(leaf), field)
        lengths = self._lengths.get(key)
        if lengths is None:
            count = leaf.doc_count_all()
            column = leaf._perdoc._cached_reader("_%s_len" % field, LENGTHS_COLUMN)
            raw = column._dbfile.get(column._basepos, column._count) if column is not None else b""
            lengths = self._lengths[key] = np.frombuffer(raw + bytes(max(0, count - len(raw))), np.uint8)
        return lengths

    def _norm(self, field):
        norm = self._norms.get(field)
        if norm is None:
            average = self.searcher.avg_field_length(field) or 1.0
            norm = self._norms[field] = np.array([K1 * ((1 - B) + B * byte_to_length(n) / average) for n in range(256)])
        return norm

    def _idf(self, field, term):
        """whoosh's idf of the term in the field, None when no document has it (kept per searcher:
        each lookup reads the term index)."""
        key = (field, term)
        if key not in self._idfs:
            if len(self._idfs) > 100_000:
                self._idfs.clear()
            searcher = self.searcher
            self._idfs[key] = searcher.idf(field, term) if searcher.doc_frequency(field, term) else None
        return self._idfs[key]

    def _mask(self, allowed):
        """The filter's document set as a boolean array (the set object lives as long as the
        searcher: the backend caches it per searcher)."""
        found = self._masks.get(id(allowed))
        if found is None or found[0] is not allowed:
            mask = np.zeros(self.doc_count_all, bool)
            if allowed:
                mask[np.fromiter(allowed, np.int64, len(allowed))] = True
            if len(self._masks) > 64:
                self._masks.clear()
            found = self._masks[id(allowed)] = (allowed, mask)
        return found[1]

    def postings(self, leaf, field, term):
        segment = leaf.segment()
        key = (segment.segment_id() if segment is not None else id(leaf), field, term)
        return POSTINGS.get(key, lambda: _decode(leaf, field, term))

    def warm(self, fields, budget=MAX_CACHED_POSTINGS * 2 // 3):
        """Decode posting lists ahead of the questions, up to `budget` postings: the fields in
        the order given (titles and similar questions first), each from its most frequent term
        down, skipping lists longer than WARM_SHARE of the index (few questions meet them, and
        they would fill the budget alone). Returns the number of postings decoded."""
        longest = max(1, int(self.doc_count_all * WARM_SHARE))
        decoded = 0
        for field in fields:
            lists = []
            for leaf, _offset in self.leaves:
                for term, info in leaf.iter_field(field):
                    if info.doc_frequency() <= longest:
                        lists.append((info.doc_frequency(), term, leaf))
            lists.sort(key=lambda entry: -entry[0])
            for frequency, term, leaf in lists:
                if decoded + frequency > budget:
                    return decoded
                decoded += len(self.postings(leaf, field, term)[0])
        return decoded

    def top(self, terms, fields, allowed, limit):
        """[(docnum, score)] of the best `limit` documents (among `allowed`, a set, if given)."""
        return self.top_and_known(terms, fields, allowed, limit)[0]

    def top_and_known(self, terms, fields, allowed, limit):
        """top() and the set of question groups (words) that some article of the filter is
        about: the word or an equivalent is in its title or a similar question. A word no
        article is about (淘宝 in a shop's help center, however often bodies mention it) is one
        the knowledge base does not cover (the bot's caution).
        terms: [QueryTerm]; fields: [(field name, boost)]."""
        scores = np.zeros(self.doc_count_all)
        matched = np.zeros(self.doc_count_all, np.int64)
        topics = np.zeros(self.doc_count_all, np.int64)  # words matched in titles and similar questions
        for field, boost in fields:
            norm = None
            for q in terms:
                idf = self._idf(field, q.term)
                if idf is None:
                    continue
                if norm is None:
                    norm = self._norm(field)
                factor = boost * q.weight * idf * (K1 + 1)
                bit = match_bit(q.group, q.term)
                for leaf, offset in self.leaves:
                    ids, tf = self.postings(leaf, field, q.term)
                    if not len(ids):
                        continue
                    lengths = self._field_lengths(leaf, field)
                    docs = ids + offset if offset else ids
                    scores[docs] += factor * tf / (tf + norm[lengths[ids]])
                    if bit:
                        matched[docs] |= bit
                        if field in TOPIC_FIELDS:
                            topics[docs] |= bit
        hit = matched != 0
        if allowed is not None:
            mask = self._mask(allowed)
            hit &= mask
            topics = np.where(mask, topics, 0)
        known = int(np.bitwise_or.reduce(topics)) if len(topics) else 0
        known_groups = {q.group for q in terms if q.group >= 0 and known >> q.group & 1}
        docs = np.flatnonzero(hit)
        if not len(docs):
            return [], known_groups
        keep = CANDIDATES + limit * 4
        if len(docs) > keep:
            docs = docs[np.argpartition(scores[docs], -keep)[-keep:]]
        final = scores[docs]
        words = len({q.group for q in terms if q.group >= 0})
        if words > 1:
            share = np.bitwise_count(matched[docs] & ~BIGRAM_BIT) / words
            final = final * ((1 - COORDINATION) + COORDINATION * share)
        order = np.argsort(-final, kind="stable")[:limit]
        return [(int(docs[i]), float(final[i])) for i in order], known_groups
