"""Plain BM25 baselines for the honest evaluation (issue 17): the same articles and questions
as the product, ranked by textbook Okapi BM25 (k1=1.5, b=0.75) over one document per article
(every version's title, similar questions and body concatenated, no field weights):

    jieba:  jieba.cut_for_search tokens of the OpenCC t2s-folded, lower-cased text
    bigram: character bigrams of each run of Chinese characters (a lone character is kept),
            lower-cased ASCII words and numbers as they are

No stop words, no stemming, no thresholds: what anyone gets in an afternoon."""

import math
import re
from collections import Counter

from helpdesk.text import fold

K1, B = 1.5, 0.75
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z0-9]+")


def jieba_tokens(text):
    import jieba

    return [t for t in (w.strip() for w in jieba.cut_for_search(fold(text))) if t and re.search(r"\w", t)]


def bigram_tokens(text):
    out = []
    for run in _CJK_RUN.findall(fold(text)):
        if run.isascii() or len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
    return out


class BM25:
    def __init__(self, documents, tokenize):
        """documents: [(key, text)]."""
        self.tokenize = tokenize
        self.keys = [key for key, _ in documents]
        self.tf = [Counter(tokenize(text)) for _, text in documents]
        self.length = [sum(tf.values()) for tf in self.tf]
        self.avg = sum(self.length) / max(1, len(self.length))
        df = Counter(term for tf in self.tf for term in tf)
        n = len(self.tf)
        self.idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}

    def scores(self, query):
        terms = [t for t in self.tokenize(query) if t in self.idf]
        result = []
        for key, tf, length in zip(self.keys, self.tf, self.length):
            score = 0.0
            for term in terms:
                f = tf.get(term)
                if f:
                    score += self.idf[term] * f * (K1 + 1) / (f + K1 * (1 - B + B * length / self.avg))
            if score > 0:
                result.append((score, key))
        return result

    def search(self, query, limit=10):
        """Keys of the best `limit` documents with a positive score, best first."""
        return [key for _, key in sorted(self.scores(query), key=lambda s: (-s[0], s[1]))[:limit]]


def article_documents(article_set):
    """[(slug, text)]: one document per article, all its versions together."""
    docs = []
    for a in article_set["articles"]:
        parts = []
        for v in a["versions"].values():
            parts += [v.get("title", ""), *v.get("similar_questions", []), v.get("body", "")]
        docs.append((a["slug"], "\n".join(parts)))
    return docs
