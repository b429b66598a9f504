#!/usr/bin/env python
"""Knowledge search benchmark (issues 7 and 17) on both backends: SQLite + Whoosh (the
embedded default) and PostgreSQL (the index in the database, knowledge/search_pg.py).

--backend whoosh: a fresh SQLite database and Whoosh directory (temporary unless --dir);
--backend postgres: a scratch database kb_pg_bench_<pid> on --pg (created, dropped after
unless --keep); --reuse kb_pg_bench_<pid>: search again in a database a --keep run left
(migrated, not seeded nor rebuilt unless --rebuild: saves the ~4 minutes of a 100,000-article
build while tuning the queries); --backend both (default): one run of each, in that order. Each run creates
--articles (100,000) published articles in one workspace, generated from a vocabulary of
Chinese and English shop terms with varied lengths (every article in zh-Hans, 25% also in
English, 10% also in zh-Hant), then:
  1. build: `knowledge.search.rebuild()`: one writer under the index lock, one commit;
     prints the time, documents/s and the index size on disk;
  2. search: --queries (400) queries mixing simplified, traditional, colloquial Chinese and
     English (1-4 terms, some with stop words), after the server's start-up warm-up
     (knowledge.search.warm) and 20 warm-up queries, each through
     the public `knowledge.search.search(workspace, q, locale=..., limit=10)` (engine + the
     database read of the hits + snippets) and through the engine alone; p50/p95/p99/max;
  3. quality at that size: the evaluation articles (knowledge/quality, eval_harness.article_set())
     are loaded into the same workspace before the build; top-1/top-3 of the dev and test
     question halves through search(), and the bot's answers (bot.decide) on them, including
     false answers on the `none` questions (--no-quality skips it);
  4. writes: --writes (20) index_article calls interleaved with searches: the time of a
     write, and of the first search after it (which opens a new searcher on Whoosh); the
     titles are put back and reindexed afterwards, so a kept database stays as built.

Usage: python scripts/bench_search.py [--backend both|whoosh|postgres] [--articles 100000]
       [--queries 400] [--writes 20] [--limit 10] [--dir DIR] [--keep] [--seed 7]
       [--pg postgres://postgres@127.0.0.1:5432] [--no-quality] [--reuse kb_pg_bench_<pid> [--rebuild]]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

ZH_NOUNS = """退货 退款 换货 发票 电子发票 专票 快递 物流 包裹 订单 运费 运费险 优惠券 积分 会员 余额 礼品卡 账号 密码 手机号
验证码 地址 收货地址 尺码 颜色 商品 赠品 包装 礼盒 贺卡 保修 维修 质量 正品 防伪码 预售 定金 尾款 库存 补货 价格 差价
价保 分期 花呗 信用卡 银行卡 支付宝 微信支付 货到付款 关税 海外 顺丰 中通 圆通 驿站 快递柜 客服 人工客服 投诉 评价 晒单
退货地址 快递单号 售后 仓库 门店 自提 配送 包邮 满减 秒杀 直播间 新品 会员日 生日礼券 免运费券 衣服 鞋子 裤子 外套 手机
耳机 充电器 电池 屏幕 化妆品 面霜 口红 零食 茶叶 咖啡 玩具 母婴 奶粉 纸尿裤 家电 冰箱 洗衣机 空调 电视 床垫 沙发""".split()
ZH_VERBS = """申请 查询 修改 取消 支付 退回 补发 寄回 签收 拒收 领取 使用 抵扣 兑换 绑定 解绑 注销 登录 注册 开具 补开 邮寄
发货 催发货 延迟 丢失 破损 漏发 错发 更换 升级 过期 冻结 到账 核实 审核 处理 联系 咨询 评价 选择 对照 验证 上传""".split()
ZH_FILLER = """请 在 您 可以 我们 会 后 内 前 的 时 如果 需要 一般 通常 工作日 小时 天 元 页面 点击 订单详情 我的 选择 完成
提交 成功 失败 原因 规则 说明 条件 范围 方式 时间 流程 步骤 注意 提示 以下 情况 不支持 支持 部分 全部 自动 手动""".split()
ZH_QUESTIONS = ["怎么{v}{n}", "{n}怎么{v}", "我的{n}到哪了", "{n}什么时候{v}", "为什么{n}不能{v}", "{n}和{n2}可以一起用吗",
                "{n}{v}失败了", "能不能{v}{n}", "{n}多久{v}", "{n}", "{n} {n2}", "{v}{n}要{n2}吗"]
EN_NOUNS = """return refund exchange invoice receipt parcel package order delivery shipping courier tracking coupon voucher points
membership balance gift card account password phone code address size colour color item gift wrapping warranty repair quality
authentic deposit balance stock restock price difference instalment installment credit card bank transfer payment customs duty
abroad express locker pickup support agent complaint review photo warehouse store discount sale flash live stream birthday
shoes jacket trousers phone headphones charger battery screen cream lipstick snacks tea coffee toy baby formula fridge washer
television mattress sofa""".split()
EN_VERBS = """return refund exchange cancel change update track ship deliver collect redeem apply use bind unbind delete register
login reset verify pay charge declined delayed lost damaged missing replaced upgraded expired frozen received checked
processed contact""".split()
EN_FILLER = """please you can we will after within before the when if need usually business days hours page tap open choose
complete submit success failed reason rules terms scope method time process steps note following case not all some
automatically manually your our this that""".split()
EN_QUESTIONS = ["how do I {v} my {n}", "where is my {n}", "{n} {v}", "why was my {n} {v}", "can I {v} a {n}", "{n} not working",
                "{n} and {n2}", "when will my {n} be {v}", "{n}", "{v} {n} {n2}"]


class Zipf:
    """Background vocabulary with real word frequencies: the 30,000 most frequent two- to
    four-character words of jieba's dictionary (Chinese), and the English words above with
    rank-based (1/rank) weights. Articles are topical: about a third of their words are
    their 1-3 topic words from the shop vocabulary, the rest background."""

    def __init__(self, rng):
        import itertools

        import jieba

        rows = []
        with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
            for line in f:
                word, freq, *tag = line.split()
                if 2 <= len(word) <= 4 and "\u4e00" <= word[0] <= "\u9fff":
                    rows.append((int(freq), word))
        rows.sort(reverse=True)
        rows = rows[:30000]
        self.zh_words = [w for _, w in rows]
        self.zh_cum = list(itertools.accumulate(f for f, _ in rows))
        en = list(dict.fromkeys(EN_FILLER + EN_VERBS + EN_NOUNS))
        self.en_words = en
        self.en_cum = list(itertools.accumulate(1 / (r + 1) for r in range(len(en))))
        self.rng = rng

    def zh(self, words, topics):
        rng = self.rng
        background = rng.choices(self.zh_words, cum_weights=self.zh_cum, k=words)
        parts = []
        for word in background:
            parts.append(rng.choice(topics) if rng.random() < 0.3 else word)
            if rng.random() < 0.12:
                parts.append(rng.choice("，。；！？"))
        return "".join(parts) + "。"

    def en(self, words, topics):
        rng = self.rng
        background = rng.choices(self.en_words, cum_weights=self.en_cum, k=words)
        return " ".join(rng.choice(topics) if rng.random() < 0.3 else w for w in background).capitalize() + "."


def zh_text(rng, words):
    parts = []
    for _ in range(words):
        r = rng.random()
        parts.append(rng.choice(ZH_NOUNS) if r < 0.35 else rng.choice(ZH_VERBS) if r < 0.55 else rng.choice(ZH_FILLER))
        if rng.random() < 0.12:
            parts.append(rng.choice("，。；！？"))
    return "".join(parts) + "。"


def en_text(rng, words):
    parts = []
    for _ in range(words):
        r = rng.random()
        parts.append(rng.choice(EN_NOUNS) if r < 0.35 else rng.choice(EN_VERBS) if r < 0.55 else rng.choice(EN_FILLER))
    return " ".join(parts).capitalize() + "."


def body_words(rng):
    # Most help articles are short, a few are long: 15 to ~400 words.
    return int(min(400, max(15, rng.lognormvariate(4.0, 0.7))))


def zh_question(rng):
    return rng.choice(ZH_QUESTIONS).format(n=rng.choice(ZH_NOUNS), n2=rng.choice(ZH_NOUNS), v=rng.choice(ZH_VERBS))


def en_question(rng):
    return rng.choice(EN_QUESTIONS).format(n=rng.choice(EN_NOUNS), n2=rng.choice(EN_NOUNS), v=rng.choice(EN_VERBS))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(name, values):
    return (f"  {name}: p50 {pct(values, 50):.1f} ms  p95 {pct(values, 95):.1f} ms  p99 {pct(values, 99):.1f} ms  "
            f"max {max(values):.1f} ms  mean {statistics.mean(values):.1f} ms")


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def scratch_database(server, create):
    """Create (or drop) this run's PostgreSQL database; returns its URL."""
    import psycopg

    name = f"kb_pg_bench_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
        else:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return f"{server}/{name}"


def quality(ws, out):
    """Top-1/top-3 of both question halves and the bot's answers, in the benchmark workspace."""
    sys.path.insert(0, str(BASE / "scripts"))
    import eval_search

    from chat.models import Conversation, Customer, Inbox
    from knowledge.quality import eval_harness as ev

    inbox = Inbox.objects.create(workspace=ws, name="Bench", bot_first=True)
    customer = Customer.objects.create(workspace=ws, first_inbox=inbox)
    conversation = Conversation.objects.create(workspace=ws, inbox=inbox, customer=customer, state=Conversation.State.BOT)
    for name, path in (("dev", ev.DEV), ("test", ev.TEST)):
        questions = ev.load_questions(path)
        ranked, answers, _kinds = eval_search.run_product(ws, conversation, questions)
        m, b = ev.search_metrics(ranked)["all"], ev.bot_metrics(answers)
        out(f"  quality, {name} half ({len(questions)} questions): top-1 {100 * m['top1']:.1f}%  top-3 {100 * m['top3']:.1f}%  "
            f"MRR {m['mrr']:.3f}; bot coverage {100 * b['coverage']:.1f}% ({b['correct']}/{b['answerable']}), "
            f"precision {100 * (b['precision'] or 0):.1f}%, false answers on none {b['none_answered']}/{b['none']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["both", "whoosh", "postgres"], default="both")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server of --backend postgres")
    parser.add_argument("--no-quality", action="store_true", help="skip the evaluation questions at this size")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--dir", help="keep the database and index here (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="don't delete the temporary directory (nor the PostgreSQL database)")
    parser.add_argument("--reuse", metavar="DATABASE", help="--backend postgres: the database a --keep run left; kept again")
    parser.add_argument("--rebuild", action="store_true", help="with --reuse: rebuild the index (the articles stay)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corpus", choices=["zipf", "dense"], default="zipf",
                        help="zipf: topical articles over a background of real word frequencies (default); "
                             "dense: every word from the ~300-word shop vocabulary (worst case: each term in 10-40%% of articles)")
    args = parser.parse_args()
    if args.reuse and args.backend != "postgres":
        parser.error("--reuse needs --backend postgres")
    if args.backend == "both":
        rest = [a for a in sys.argv[1:] if a not in ("--backend", "both") and not a.startswith("--backend=")]
        status = 0
        for backend in ("whoosh", "postgres"):
            status |= subprocess.run([sys.executable, __file__, "--backend", backend, *rest]).returncode
        sys.exit(status)

    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    for leftover in ("db.sqlite3", "whoosh", "whoosh.lock"):
        target = work / leftover
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    if args.backend == "postgres":
        database = f"{args.pg}/{args.reuse}" if args.reuse else scratch_database(args.pg, create=True)
        label = "PostgreSQL (index in the database)"
    else:
        database, label = f"sqlite:///{work / 'db.sqlite3'}", "SQLite + Whoosh"
    os.environ.update(DATABASE_URL=database, REDIS_URL="", SEARCH_URL="", WHOOSH_PATH=str(work / "whoosh"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, check=True)
        run(args, work, label)
    finally:
        if args.backend == "postgres" and not (args.keep or args.reuse):
            from django.db import connections

            connections.close_all()
            scratch_database(args.pg, create=False)
    if not args.dir and not args.keep:
        shutil.rmtree(work)
    else:
        print(f"  kept in {work}")
    if args.backend == "postgres" and (args.keep or args.reuse):
        print(f"  kept {database}: measure again with --backend postgres --reuse {database.rsplit('/', 1)[1]}")


def run(args, work, label):
    import django

    django.setup()
    import opencc

    from accounts.models import Workspace
    from knowledge import search
    from knowledge.models import Article, ArticleVersion

    s2t = opencc.OpenCC("s2t")
    if args.reuse:
        ws = Workspace.objects.get(slug="bench-search")
        print(f"knowledge search on {label}, reused {args.reuse}: {Article.objects.filter(workspace=ws).count():,} articles, "
              f"{ArticleVersion.objects.filter(article__workspace=ws).count():,} versions (documents)")
        if args.rebuild:
            build_index(args, work, search)
    else:
        ws = seed(args, work, label, s2t)
        build_index(args, work, search)
    measure(args, ws, s2t, search)


def seed(args, work, label, s2t):
    from django.db import transaction

    from accounts.models import Workspace
    from knowledge.models import Article, ArticleVersion

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    zipf = Zipf(rng) if args.corpus == "zipf" else None
    ws = Workspace.objects.create(name="Bench", slug="bench-search")
    batch = 5000
    versions_total = 0
    for start in range(0, args.articles, batch):
        with transaction.atomic():
            articles = Article.objects.bulk_create([
                Article(workspace=ws, slug=f"a{i}", status=Article.Status.PUBLISHED) for i in range(start, min(args.articles, start + batch))
            ])
            versions = []
            for article in articles:
                title = "".join(rng.choice(ZH_VERBS if k % 2 else ZH_NOUNS) for k in range(rng.randint(2, 4)))
                if zipf:
                    topics = [title] + rng.sample(ZH_NOUNS, rng.randint(1, 3)) + [rng.choice(ZH_VERBS)]
                    body = zipf.zh(body_words(rng), topics)
                else:
                    body = zh_text(rng, body_words(rng))
                similar = [zh_question(rng) for _ in range(rng.randint(0, 5))]
                versions.append(ArticleVersion(article=article, locale="zh-hans", title=title, body=body, similar_questions=similar))
                if rng.random() < 0.10:
                    versions.append(ArticleVersion(article=article, locale="zh-hant", title=s2t.convert(title), body=s2t.convert(body),
                                                   similar_questions=[s2t.convert(q) for q in similar]))
                if rng.random() < 0.25:
                    versions.append(ArticleVersion(article=article, locale="en", title=" ".join(rng.choice(EN_NOUNS) for _ in range(rng.randint(2, 5))).capitalize(),
                                                   body=zipf.en(body_words(rng), rng.sample(EN_NOUNS, 3)) if zipf else en_text(rng, body_words(rng)),
                                                   similar_questions=[en_question(rng) for _ in range(rng.randint(0, 3))]))
            ArticleVersion.objects.bulk_create(versions)
            versions_total += len(versions)
    seed_seconds = time.perf_counter() - t0
    if not args.no_quality:
        from knowledge import quality as kb_quality
        from knowledge.quality import eval_harness as ev

        fixture = work / "eval-articles.json"
        fixture.write_text(json.dumps(ev.article_set(), ensure_ascii=False), encoding="utf-8")
        kb_quality.load_articles(ws, fixture)
        versions_total = ArticleVersion.objects.filter(article__workspace=ws).count()
    print(f"knowledge search on {label}: {Article.objects.filter(workspace=ws).count():,} articles, {versions_total:,} versions (documents), "
          f"{args.corpus} corpus, seeded in {seed_seconds:.1f} s")
    return ws


def build_index(args, work, search):
    if args.backend == "postgres":
        from django.db import connection

        with connection.cursor() as cursor:  # planner statistics, as autovacuum would have them
            cursor.execute("ANALYZE")
    t0 = time.perf_counter()
    documents = search.rebuild()
    build = time.perf_counter() - t0
    if args.backend == "postgres":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('knowledge_searchdocument') + pg_total_relation_size('knowledge_searchkey') + pg_total_relation_size('knowledge_searchterm')")
            size = cursor.fetchone()[0]
        how, where = "one transaction (COPY)", "in PostgreSQL (documents, their keys + GIN, term statistics)"
    else:
        size, how, where = dir_size(work / "whoosh"), "one writer, one commit", "on disk"
    print(f"  build: {documents:,} documents in {build:.1f} s ({documents / build:,.0f} documents/s), {how}; "
          f"index {size / 2**20:.1f} MiB {where} ({size / documents:,.0f} bytes/document)")


def measure(args, ws, s2t, search):
    from knowledge.models import Article, ArticleVersion

    qrng = random.Random(args.seed + 1)
    queries = []
    for i in range(args.queries + 20):
        kind = qrng.random()
        if kind < 0.45:
            queries.append((zh_question(qrng), "zh-hans"))
        elif kind < 0.65:
            queries.append((s2t.convert(zh_question(qrng)), "zh-hant"))
        else:
            queries.append((en_question(qrng), "en"))
    engine = search.backend()
    t0 = time.perf_counter()
    search.warm()  # what a server does at start-up (helpdesk.asgi): on Whoosh, decodes the lists questions meet most
    print(f"  warm-up: knowledge.search.warm() as at server start, {time.perf_counter() - t0:.1f} s; then 20 queries")
    for q, locale in queries[:20]:  # warm-up: the searcher, the workspace filter
        search.search(ws.pk, q, locale=locale, limit=args.limit)
    api, raw, counts = [], [], []
    by_kind = {"zh-hans": [], "zh-hant": [], "en": []}
    load = os.getloadavg()[0]  # the machine is shared: the figures mean little without it
    for q, locale in queries[20:]:
        t0 = time.perf_counter()
        hits = search.search(ws.pk, q, locale=locale, limit=args.limit)
        elapsed = (time.perf_counter() - t0) * 1000
        api.append(elapsed)
        by_kind[locale].append(elapsed)
        counts.append(len(hits))
        terms = search.query_terms(" ".join(q.split())[:search.MAX_QUERY_CHARS])
        t0 = time.perf_counter()
        engine.search_documents(terms, [("workspace_id", ws.pk)], args.limit * 3 + 5)
        raw.append((time.perf_counter() - t0) * 1000)
    print(f"  search: {len(api)} queries ({', '.join(f'{len(v)} {k}' for k, v in by_kind.items())}), limit {args.limit}, "
          f"{statistics.mean(counts):.1f} hits on average, {sum(1 for c in counts if c == 0)} without any; "
          f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(summary("search() (engine + database + snippets)", api))
    print(summary("engine only (" + ("SQL: GIN candidates + BM25F" if args.backend == "postgres" else "term-at-a-time scorer") + ", top 35)", raw))
    for kind, values in by_kind.items():
        print(summary(f"search() {kind}", values))

    if not args.no_quality:
        quality(ws, print)

    if args.writes:
        write_ms, first_ms = [], []
        ids = list(Article.objects.filter(workspace=ws).values_list("pk", flat=True)[: args.writes])
        titles = dict(ArticleVersion.objects.filter(article_id__in=ids, locale="zh-hans").values_list("pk", "title"))
        for article_id in ids:
            ArticleVersion.objects.filter(article_id=article_id, locale="zh-hans").update(title="退货运费说明")
            t0 = time.perf_counter()
            search.index_article(article_id)
            write_ms.append((time.perf_counter() - t0) * 1000)
            q, locale = queries[article_id % len(queries)]
            t0 = time.perf_counter()
            search.search(ws.pk, q, locale=locale, limit=args.limit)
            first_ms.append((time.perf_counter() - t0) * 1000)
        print(summary(f"index_article ({len(write_ms)} writes, lock + delete + add + commit)", write_ms))
        print(summary("first search after a write" + ("" if args.backend == "postgres" else " (new searcher + workspace filter)"), first_ms))
        for version_id, title in titles.items():
            ArticleVersion.objects.filter(pk=version_id).update(title=title)
        for article_id in ids:
            search.index_article(article_id)


if __name__ == "__main__":
    main()
