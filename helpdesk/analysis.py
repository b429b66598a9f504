"""One analyser for what customers and merchants type, shared by the knowledge index (both
backends), search, the bot's confidence and synonym matching.

    index_terms(text)  -> [term, ...]             what a document is indexed under (repeats = tf)
    query_terms(text, synonyms=()) -> [QueryTerm]  what a question searches for, weighted
    words(text)        -> [(word, start, end)]     the word tokens with offsets into `text`

Text is folded (helpdesk.text.fold: traditional → simplified, full-width → half-width, case),
then segmented by jieba (search mode, HMM off) with a commerce dictionary; stop words of both
languages go; latin words are Porter-stemmed. Two kinds of terms come out:
  words   「退货」, "refund"                       (weight 1 in a query)
  grams   「_退货」 character bigrams and 「_退」 single characters of every Chinese run, a
          second signal that still matches when jieba splits a question differently from the
          article, or leaves an unknown word as single characters (「退不」 → 退/不).
Regional wording: OpenCC's Taiwan phrase conversion (tw2sp) adds the mainland words of a
Taiwan/HK text (軟體 → 软件); the commerce glossary (knowledge of the trade, not of any test set)
maps regional, colloquial and English words to each other at query time (保固 → 保修,
warranty → 保修), as do a workspace's own synonyms. Pinyin typed for a commerce word
("tuihuo") and homophone typos (「发漂」) find the word.
"""

import functools
import logging
import re
import threading
from dataclasses import dataclass

from pypinyin import lazy_pinyin
from whoosh.lang.porter import stem

from helpdesk.text import converter, fold

GRAM_PREFIX = "_"
WORD_WEIGHT, EXPANSION_WEIGHT, PINYIN_WEIGHT = 1.0, 0.8, 0.8
BIGRAM_WEIGHT, CHAR_WEIGHT = 0.3, 0.15
MAX_QUERY_TERMS = 48

# Shop vocabulary jieba's general dictionary splits badly (「七天无理由」 → 七天/无/理由,
# 「退货运费」 → 退/货运/费): added so documents and questions segment the same way.
SHOP_WORDS = """
七天无理由 无理由退货 退货 换货 退换货 退款 仅退款 退货退款 运费险 退货地址 售后 售后服务 发票 电子发票 纸质发票
增值税专用发票 专票 普票 开票 补开发票 抬头 税号 快递 物流 包裹 快递单号 运单号 签收 拒收 代收 驿站 快递柜 发货 催发货
未发货 缺货 预售 定金 尾款 优惠券 满减 积分 会员 会员等级 价保 保价 差价 破损 漏发 错发 少发 以旧换新 花呗 分期 白条
货到付款 自提 收货地址 修改地址 取消订单 订单 下单 支付 付款 扣款 重复扣款 到账 原路退回 顺丰 京东物流 中通 圆通 申通
韵达 邮政 微信 微信支付 支付宝 云闪付 银联 海外直邮 跨境 关税 清关 保修 维修 质量问题 正品 防伪码 礼品卡 储值卡 余额
提现 账号 登录 注册 密码 手机号 换绑 注销 实名认证 验证码 客服 人工客服 投诉 尺码 尺码表 试穿 洗涤 色差 过敏 保质期
生产日期 配送 配送范围 偏远地区 包邮 运费 加急 次日达 当日达 改约 延迟发货 丢件 包装 礼盒 贺卡 刻字 定制 批发 企业采购
对公转账 小程序 公众号 直播间 拼团 秒杀 差评 好评 评价 追评 晒单 便利店 门店 安装 上门 预约 退订 短信 绑定 解绑 换码
""".split()

# Equivalent words of the trade: regional (Taiwan/HK), colloquial and English. A query word
# of a group also searches the others (EXPANSION_WEIGHT). English entries are stemmed.
GLOSSARY = [
    "保修 保固 质保 warranty guarantee", "维修 送修 修理 返修 repair", "门店 门市 实体店 店面 分店 store shop",
    "优惠券 折价券 折扣券 代金券 券 coupon voucher 优惠码 折扣码", "礼品卡 礼物卡 礼券 购物卡 giftcard", "积分 点数 红利 points",
    "尺码 尺寸 码数 码子 号码 size", "税号 统编 统一编号", "发票 收据 invoice receipt fapiao", "快递 宅配 包裹 parcel package courier",
    "便利店 超商 convenience", "质量 品质 quality", "退货 退回 寄回 退 return", "退款 退钱 refund", "换货 换 exchange swap",
    "运费 邮费 快递费 shipping postage", "发货 出货 寄出 ship dispatch", "物流 配送 delivery logistics",
    "取消 cancel", "地址 address", "订单 order", "付款 支付 付钱 买单 pay payment", "扣款 扣钱 扣费 charged", "密码 password",
    "登录 登入 登陆 login", "账号 帐号 账户 帐户 account", "手机号 电话 手机 phone", "客服 人工 真人 agent human",
    "会员 vip member membership", "正品 真假 真货 验真 authentic genuine fake", "分期 installment instalment", "花呗 白条 paylater",
    "货到付款 cod 到付", "破损 坏 损坏 碎 damaged broken", "少发 漏发 缺件 missing", "错发 发错 wrong", "丢件 丢失 丢了 lost",
    "预售 预购 preorder", "缺货 没货 断货 stock", "包装 礼盒 wrapping", "评价 差评 好评 review", "安装 install",
    "短信 sms", "小程序 miniprogram", "公众号", "提现 withdraw", "余额 balance", "拼团 团购 groupbuy",
    "秒杀 抢购 flash", "批发 企业采购 bulk wholesale", "价保 保价 降价", "签收 收货 received", "拒收 refuse reject",
    "海外 国际 international overseas abroad", "关税 customs duty", "注销 删除账号 delete", "换绑 更换", "visa 信用卡 银行卡 card",
]

STOP_WORDS_ZH = frozenset("""
的 了 吗 呢 吧 啊 呀 哦 嗯 哈 么 嘛 啦 喔 哇 是 在 和 与 或 及 就 都 也 还 又 把 被 给 让 从 对 向 到 这 那 这个 那个 这样
那样 这些 那些 一个 一下 个 我 我的 我们 你 你的 你们 您 您的 他 她 它 他们 她们 自己 有 能 会 要 想 可以 能否 是否 怎么
怎么样 怎样 怎么办 如何 什么 为什么 为何 啥 咋 哪 哪里 哪儿 哪个 多少 几 请问 请 谢谢 麻烦 一直 已经 现在 还是 但是 因为
所以 如果 然后 而且 之后 以后 时候 的话 之前 不 没 没有 吧 哎 诶 呃 额 喂 亲 你好 您好 在吗 好的 一般
怎么弄 怎么搞 怎么整 咋弄 咋办 咋整 咋搞 怎么回事 咋回事 为啥 干嘛 能不能 可不可以 有没有 是不是 行不行 好不好 要不要
""".split())
STOP_WORDS_EN = frozenset("""
a an and are as at be by for from has have he i if in into is it its it's me my mine myself of on or our so than that the
their them then there these they this to us was we were what when where which who whom why will with would you your yours
how do does did doing done am been being please want need get got had having can can't cannot could should i'm im about any
some not no
""".split())
STOP_WORDS = STOP_WORDS_ZH | STOP_WORDS_EN
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_LATIN_RUN = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class QueryTerm:
    term: str
    weight: float
    group: int  # the query word it stands for: coordination counts groups, not terms (-1: a gram, not counted)
    source: str = ""  # the question's word it was expanded from (itself for a word of the question)


# --- segmentation -------------------------------------------------------------------------------

_init_lock = threading.Lock()
_JIEBA = {}


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
                for word in SHOP_WORDS + [w for w in _glossary_words() if _CJK.match(w) and len(w) > 1]:
                    tok.add_word(word, freq=max(tok.FREQ.get(word, 0), 20000))
                _JIEBA["tok"] = tok
    return tok


def _has_word_char(word):
    return any(ch.isalnum() for ch in word)


@functools.lru_cache(maxsize=20000)
def normalise_word(word):
    """A folded jieba token as a term: latin words stemmed; None for a stop word, a single latin
    letter or punctuation."""
    if not _has_word_char(word) or word in STOP_WORDS:
        return None
    if word.isascii() and word.isalpha():
        if len(word) == 1:
            return None
        return stem(word)
    return word


def words(text):
    """[(term, start, end)]: the word tokens of text, stop words out (offsets into `text`,
    which has the same length as its fold)."""
    return list(_segment(text or "")[0])


@functools.lru_cache(maxsize=1024)
def _segment(text):
    """(words, grams) of a text, from one jieba pass."""
    folded = fold(text)
    out, content = [], bytearray(len(folded))
    for word, start, end in _jieba().tokenize(folded, mode="search", HMM=False):
        term = normalise_word(word)
        if term is not None:
            out.append((term, start, end))
            content[start:end] = b"\x01" * (end - start)
    grams, run = [], []
    for index, ch in enumerate(folded + " "):
        if content[index:index + 1] == b"\x01" and _CJK.match(ch):
            run.append(ch)
            continue
        if run:
            grams.extend(GRAM_PREFIX + c for c in run)
            grams.extend(GRAM_PREFIX + run[i] + run[i + 1] for i in range(len(run) - 1))
            run = []
    return tuple(out), tuple(grams)


def mainland_phrasing(text):
    """The text with Taiwan/HK phrases in mainland wording (OpenCC tw2sp: 軟體 → 软件)."""
    return converter("tw2sp").convert(text or "")


def regional_words(text):
    """Words of the mainland phrasing of a Taiwan/HK text (OpenCC tw2sp) that the plain fold
    does not already give; [] when the conversion changes nothing."""
    converted = mainland_phrasing(text)
    if converted == text:
        return []
    have = {w for w, _s, _e in words(text)}
    return [w for w, _s, _e in words(converted) if w not in have]


def grams(text):
    """Single characters and character bigrams of each run of Chinese characters that belong to
    a word of the text (stop words and question frames — 什么时候, 我的 — make no grams: they
    match half the similar questions and say nothing)."""
    return list(_segment(text or "")[1])


def index_terms(text, with_grams=True):
    """Every term a document field is indexed under, with repeats (term frequency)."""
    out = [w for w, _s, _e in words(text)] + regional_words(text)
    return out + grams(text) if with_grams else out


# --- expansion: glossary, synonyms, pinyin -------------------------------------------------------


def _glossary_words():
    return [w for line in GLOSSARY for w in line.split()]


@functools.cache
def _glossary():
    """query term → [the other entries of its groups] (entries are analysed like a query)."""
    mapping = {}
    for line in GLOSSARY:
        entries = line.split()
        for entry in entries:
            # The entry as one word is the key (折价券, not its part 折价); 「快递费」 (快递 + 费) is
            # only a target.
            for term in [w for w, start, end in words(entry) if start == 0 and end == len(entry)][:1]:
                mapping.setdefault(term, [])
                mapping[term] += [other for other in entries if other != entry and other not in mapping[term]]
    return mapping


@functools.cache
def _pinyin_index():
    """'tuihuo' → {'退货'} for the commerce words (two characters or more)."""
    index = {}
    for word in set(SHOP_WORDS) | {w for w in _glossary_words() if _CJK.match(w)}:
        if len(word) > 1 and all(_CJK.match(c) for c in word):
            index.setdefault("".join(lazy_pinyin(word)), set()).add(word)
    return index


def pinyin_words(text):
    """Commerce words spelled in pinyin in the text ("zenme tuihuo" → 退货): runs of one to three
    adjacent latin words whose letters spell a known word, and homophone typos of a Chinese run
    (「发漂」 → 发票) of words it does not contain."""
    index, found = _pinyin_index(), []
    latin = _LATIN_RUN.findall(fold(text or ""))
    for size in (3, 2, 1):
        for i in range(len(latin) - size + 1):
            found += sorted(index.get("".join(latin[i:i + size]), ()))
    for run in _CJK_RUN.findall(fold(text or "")):
        sounds = lazy_pinyin(run)
        for size in (4, 3, 2):
            for i in range(len(run) - size + 1):
                for word in sorted(index.get("".join(sounds[i:i + size]), ())):
                    if word != run[i:i + size]:
                        found.append(word)
    return list(dict.fromkeys(found))


def _is_pinyin(term):
    """A latin term made only of pinyin syllables (its stem: 'zenm' of "zenme")."""
    if not (term.isascii() and term.isalpha()):
        return False
    return _splits(term, _syllable_set())


@functools.cache
def _syllable_set():
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    out = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            out.add(to_normal(reading))
    return frozenset(out)


@functools.lru_cache(maxsize=4096)
def _splits(term, syllables):
    if not term:
        return True
    return any(term[:n] in syllables and _splits(term[n:], syllables) for n in range(6, 0, -1) if n <= len(term))


def query_terms(text, synonyms=()):
    """The weighted terms of a question. `synonyms`: a workspace's own groups of equivalent
    phrases ([["退货", "退掉"], ...]), applied like the glossary."""
    terms, seen = [], {}

    def add(term, weight, group, source=""):
        if term in seen:
            index = seen[term]
            if weight > terms[index].weight:
                terms[index] = QueryTerm(term, weight, terms[index].group, terms[index].source)
            return
        seen[term] = len(terms)
        terms.append(QueryTerm(term, weight, group, source or term))

    spelled = pinyin_words(text)
    groups = _glossary()
    own = _synonym_map(tuple(tuple(g) for g in synonyms))
    # Overlapping words of jieba's search mode (第五天, 第五, 五天) stand for one query word.
    group, end = -1, -1
    question_words = []
    for word, start, stop in sorted(words(text), key=lambda w: (w[1], -w[2])):
        if spelled and _is_pinyin(word):
            continue
        if start >= end:
            group, end = group + 1, stop
        add(word, WORD_WEIGHT, group)
        question_words.append(word)
    for word in regional_words(text):
        group += 1
        add(word, WORD_WEIGHT, group)
        question_words.append(word)
    for word in question_words:
        for other in groups.get(word, []) + own.get(word, []):
            for term in _analysed(other):
                add(term, EXPANSION_WEIGHT, terms[seen[word]].group, word)
    for word in spelled:
        group += 1
        add(word, PINYIN_WEIGHT, group)
        for other in groups.get(word, []) + own.get(word, []):
            for term in _analysed(other):
                add(term, EXPANSION_WEIGHT * PINYIN_WEIGHT, group, word)
    for gram in grams(text):
        add(gram, BIGRAM_WEIGHT if len(gram) > 2 else CHAR_WEIGHT, -1)
    return terms[:MAX_QUERY_TERMS]


@functools.lru_cache(maxsize=4096)
def _analysed(phrase):
    return tuple(w for w, _s, _e in words(phrase))


@functools.lru_cache(maxsize=256)
def _synonym_map(groups):
    """word → the analysed words of the other phrases of its group(s)."""
    mapping = {}
    for group in groups:
        phrases = [p for p in group if p and p.strip()]
        for phrase in phrases:
            for word in _analysed(phrase):
                mapping.setdefault(word, [])
                mapping[word] += [other for other in phrases if other != phrase]
    return mapping
