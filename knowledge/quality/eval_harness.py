"""Honest evaluation of the knowledge search and the bot (issue 17): the question files, the
article set and the metrics. The runner is scripts/eval_search.py (`make eval-search`).
(Not `evaluate.py`: the package already exports a function `evaluate`, which a submodule of
that name would shadow.)

Question files (JSON lines, `#` lines are comments): questions_dev.jsonl (tune on it) and
questions_test.jsonl (FROZEN: never tune on it). Each question: id, q, script (zh-Hans,
zh-Hant, en, mixed, none), expect (acceptable article slugs; [] for the `none` questions that
nothing should answer), kind (colloquial, typo, short, long, hk-tw, pinyin, codeswitch, ...).

Articles: articles.json (the issue-7 fixture, unchanged) + articles_extra.json (issue 17)."""

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARTICLE_FILES = (HERE / "articles.json", HERE / "articles_extra.json")
DEV = HERE / "questions_dev.jsonl"
TEST = HERE / "questions_test.jsonl"
SCRIPTS = ("zh-Hans", "zh-Hant", "en", "mixed")
NONE = "none"


def load_questions(path):
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append(json.loads(line))
    return rows


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def article_set(files=ARTICLE_FILES):
    """The articles of all files as one fixture dict ({"categories", "articles"}), in the
    format knowledge.quality.load_articles reads."""
    categories, articles, seen = [], [], set()
    for path in files:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for c in data["categories"]:
            if c["slug"] not in seen:
                seen.add(c["slug"])
                categories.append(c)
        articles += data["articles"]
    return {"categories": categories, "articles": articles}


# --- metrics ---------------------------------------------------------------------------------


def rank(expected, ranked):
    """1-based rank of the first acceptable slug in `ranked`, or None."""
    for position, slug in enumerate(ranked, 1):
        if slug in expected:
            return position
    return None


def _ranking(rows):
    n = len(rows)
    ranks = [rank(item["expect"], ranked) for item, ranked in rows]
    return {
        "n": n,
        "top1": sum(r == 1 for r in ranks) / n if n else None,
        "top3": sum(r is not None and r <= 3 for r in ranks) / n if n else None,
        "mrr": sum(1 / r for r in ranks if r) / n if n else None,
    }


def search_metrics(results):
    """results: [(question, ranked slugs)]. Top-1, top-3 and MRR (over the ranked list given)
    of the answerable questions, overall and per script; for the `none` questions, the share
    that got any result at all."""
    answerable = [(q, r) for q, r in results if q["expect"]]
    out = {"all": _ranking(answerable)}
    for script in SCRIPTS:
        rows = [(q, r) for q, r in answerable if q["script"] == script]
        if rows:
            out[script] = _ranking(rows)
    none = [r for q, r in results if not q["expect"]]
    out["none_with_results"] = sum(bool(r) for r in none) / len(none) if none else None
    return out


def bot_metrics(results):
    """results: [(question, answered slug or None)] (None: the bot suggested or handed off).
    coverage = answered with an acceptable article / answerable questions; precision = answered
    correctly / answered (answerable questions); false_answer_rate = answered / `none` questions;
    overall_precision counts the `none` answers as wrong too."""
    answerable = [(q, s) for q, s in results if q["expect"]]
    none = [(q, s) for q, s in results if not q["expect"]]
    answered = [(q, s) for q, s in answerable if s is not None]
    correct = sum(s in q["expect"] for q, s in answered)
    none_answered = sum(s is not None for _, s in none)
    out = {
        "answerable": len(answerable),
        "answered": len(answered),
        "correct": correct,
        "coverage": correct / len(answerable) if answerable else None,
        "precision": correct / len(answered) if answered else None,
        "none": len(none),
        "none_answered": none_answered,
        "false_answer_rate": none_answered / len(none) if none else None,
        "overall_precision": correct / (len(answered) + none_answered) if answered or none_answered else None,
    }
    for script in SCRIPTS:
        rows = [(q, s) for q, s in answerable if q["script"] == script]
        if rows:
            out[f"coverage_{script}"] = sum(s is not None and s in q["expect"] for q, s in rows) / len(rows)
    return out
