"""The routing decision, exhaustively: rules, priorities, strategies, ties, capacity, VIP, queue."""

from datetime import datetime, timedelta
from itertools import permutations

import pytest

from routing.selection import (
    AgentState,
    AgentStatus,
    CustomerContext,
    Decision,
    GroupSpec,
    QueueEntry,
    Rule,
    RuleField,
    Strategy,
    decide,
    matching_groups,
    pick_agent,
    plan_drain,
    queue_order,
    queue_positions,
    rule_matches,
)

T0 = datetime(2026, 11, 26, 9, 0)
ONLINE, BUSY, AWAY, OFFLINE = AgentStatus.ONLINE, AgentStatus.BUSY, AgentStatus.AWAY, AgentStatus.OFFLINE


def agent(i, status=ONLINE, open_chats=0, capacity=5, idle_minutes=None):
    last = None if idle_minutes is None else T0 - timedelta(minutes=idle_minutes)
    return AgentState(i, status, open_chats, capacity, last)


def agents_by_id(*states):
    return {a.id: a for a in states}


# --- rules ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "rule,ctx,expected",
    [
        (Rule(RuleField.ENTRY_PAGE, ("*/pre-sale/*",)), CustomerContext(entry_page="https://shop.example/pre-sale/tea"), True),
        (Rule(RuleField.ENTRY_PAGE, ("*/pre-sale/*",)), CustomerContext(entry_page="https://shop.example/after-sale/1"), False),
        (Rule(RuleField.ENTRY_PAGE, ("*",)), CustomerContext(entry_page=""), False),
        (Rule(RuleField.REGION, ("浙江/杭州", "浙江/温州")), CustomerContext(region="浙江/杭州"), True),
        (Rule(RuleField.REGION, ("浙江",)), CustomerContext(region="浙江/宁波"), True),
        (Rule(RuleField.REGION, ("浙江/杭",)), CustomerContext(region="浙江/杭州"), False),  # no partial names
        (Rule(RuleField.REGION, ("浙江/杭州",)), CustomerContext(region=""), False),
        (Rule(RuleField.STORE, ("s-12",)), CustomerContext(store="s-12"), True),
        (Rule(RuleField.STORE, ("s-12",)), CustomerContext(store="s-13"), False),
        (Rule(RuleField.INBOX, (7, 9)), CustomerContext(inbox_id=9), True),
        (Rule(RuleField.INBOX, (7,)), CustomerContext(inbox_id=None), False),
        (Rule(RuleField.TAG, ("refund", "vip")), CustomerContext(tags=frozenset({"new", "refund"})), True),
        (Rule(RuleField.TAG, ("refund",)), CustomerContext(tags=frozenset()), False),
        (Rule(RuleField.LEVEL, ("gold", "platinum")), CustomerContext(level="gold"), True),
        (Rule(RuleField.LEVEL, ("gold",)), CustomerContext(level=""), False),
        (Rule(RuleField.ATTRIBUTE, ("wholesale",), key="channel"), CustomerContext(attributes={"channel": "wholesale"}), True),
        (Rule(RuleField.ATTRIBUTE, ("wholesale",), key="channel"), CustomerContext(attributes={"other": "wholesale"}), False),
        (Rule(RuleField.ATTRIBUTE, ("3",), key="orders"), CustomerContext(attributes={"orders": 3}), True),
        (Rule(RuleField.CHANNEL, ("wechat_mp", "app")), CustomerContext(channel="wechat_mp"), True),
        (Rule(RuleField.CHANNEL, ("wechat_mp",)), CustomerContext(channel="web"), False),
        (Rule(RuleField.CHANNEL, ("wechat_mp",)), CustomerContext(), False),
        (Rule(RuleField.LANGUAGE, ("zh",)), CustomerContext(language="zh-Hant"), True),
        (Rule(RuleField.LANGUAGE, ("en",)), CustomerContext(language="en"), True),
        (Rule(RuleField.LANGUAGE, ("zh-hans",)), CustomerContext(language="zh-hant"), False),
        (Rule(RuleField.LANGUAGE, ("z",)), CustomerContext(language="zh-hans"), False),  # no partial codes
        (Rule(RuleField.LANGUAGE, ("zh",)), CustomerContext(language=""), False),
        (Rule(RuleField.TIME_OF_DAY, ("09:00-18:00",)), CustomerContext(local_minutes=9 * 60), True),
        (Rule(RuleField.TIME_OF_DAY, ("09:00-18:00",)), CustomerContext(local_minutes=18 * 60), False),  # the end is outside
        (Rule(RuleField.TIME_OF_DAY, ("21:00-08:00",)), CustomerContext(local_minutes=23 * 60), True),  # across midnight
        (Rule(RuleField.TIME_OF_DAY, ("21:00-08:00",)), CustomerContext(local_minutes=7 * 60 + 59), True),
        (Rule(RuleField.TIME_OF_DAY, ("21:00-08:00",)), CustomerContext(local_minutes=12 * 60), False),
        (Rule(RuleField.TIME_OF_DAY, ("12:00-13:00", "21:00-24:00")), CustomerContext(local_minutes=23 * 60 + 59), True),
        (Rule(RuleField.TIME_OF_DAY, ("09:00-18:00",)), CustomerContext(local_minutes=None), False),  # no clock given
        (Rule(RuleField.TIME_OF_DAY, ("9-18", "25:00-08:00", "08:00-08:00")), CustomerContext(local_minutes=10 * 60), False),  # unreadable
    ],
)
def test_rule_matching(rule, ctx, expected):
    assert rule_matches(rule, ctx) is expected


HANGZHOU_WENZHOU = GroupSpec(1, priority=1, rules=(Rule(RuleField.REGION, ("浙江/杭州", "浙江/温州")),), member_ids=frozenset({11}))
HANGZHOU_NINGBO = GroupSpec(2, priority=2, rules=(Rule(RuleField.REGION, ("浙江/杭州", "浙江/宁波")),), member_ids=frozenset({12}))
DEFAULT = GroupSpec(9, is_default=True, member_ids=frozenset({11, 12, 13}))


@pytest.mark.parametrize("order", list(permutations([HANGZHOU_WENZHOU, HANGZHOU_NINGBO, DEFAULT])))
def test_overlapping_rules_go_to_the_higher_priority_group_whatever_the_order(order):
    everyone = agents_by_id(agent(11), agent(12), agent(13))
    assert decide(order, everyone, CustomerContext(region="浙江/杭州")) == Decision("assign", 1, 11, "least_loaded")
    assert decide(order, everyone, CustomerContext(region="浙江/宁波")).group_id == 2
    assert decide(order, everyone, CustomerContext(region="浙江/温州")).group_id == 1
    assert decide(order, everyone, CustomerContext(region="上海")).group_id == 9  # fallback to default


def test_all_rules_of_a_group_must_match_and_disabled_groups_are_ignored():
    presale_gold = GroupSpec(3, priority=1, rules=(Rule(RuleField.ENTRY_PAGE, ("*/pre-sale/*",)), Rule(RuleField.LEVEL, ("gold",))))
    disabled = GroupSpec(4, priority=0, rules=(Rule(RuleField.LEVEL, ("gold",)),), enabled=False)
    ctx = CustomerContext(entry_page="https://x/pre-sale/1", level="silver")
    assert [g.id for g in matching_groups([presale_gold, disabled, DEFAULT], ctx)] == [9]
    ctx = CustomerContext(entry_page="https://x/pre-sale/1", level="gold")
    assert [g.id for g in matching_groups([presale_gold, disabled, DEFAULT], ctx)] == [3, 9]


def test_equal_priorities_break_ties_by_group_id():
    a = GroupSpec(5, priority=1, rules=(Rule(RuleField.TAG, ("x",)),))
    b = GroupSpec(4, priority=1, rules=(Rule(RuleField.TAG, ("x",)),))
    assert [g.id for g in matching_groups([a, b], CustomerContext(tags=frozenset({"x"})))] == [4, 5]


def test_no_group_and_no_default_is_nobody():
    assert decide([HANGZHOU_WENZHOU], {}, CustomerContext(region="上海")).kind == "nobody"


# --- availability and strategies -------------------------------------------------------

@pytest.mark.parametrize("status", [BUSY, AWAY, OFFLINE])
def test_only_online_agents_below_capacity_get_new_chats(status):
    assert pick_agent(Strategy.LEAST_LOADED, [agent(1, status=status)]) is None
    assert pick_agent(Strategy.LEAST_LOADED, [agent(1, open_chats=5, capacity=5)]) is None
    assert pick_agent(Strategy.LEAST_LOADED, [agent(1, capacity=0)]) is None
    assert pick_agent(Strategy.LEAST_LOADED, [agent(1, status=status), agent(2, open_chats=4)]).id == 2


def test_least_loaded_uses_saturation_not_raw_counts():
    # 3/10 = 0.3 is less saturated than 1/2 = 0.5
    assert pick_agent(Strategy.LEAST_LOADED, [agent(1, open_chats=1, capacity=2), agent(2, open_chats=3, capacity=10)]).id == 2


def test_least_loaded_ties_go_to_the_longest_idle_then_lowest_id():
    tied = [agent(1, open_chats=1, idle_minutes=5), agent(2, open_chats=1, idle_minutes=30), agent(3, open_chats=1, idle_minutes=30)]
    assert pick_agent(Strategy.LEAST_LOADED, tied).id == 2
    never = [agent(4, open_chats=1, idle_minutes=60), agent(5, open_chats=1)]  # never assigned counts as idle longest
    assert pick_agent(Strategy.LEAST_LOADED, never).id == 5


def test_round_robin_takes_the_least_recently_assigned_regardless_of_load():
    agents = [agent(1, open_chats=0, idle_minutes=1), agent(2, open_chats=4, idle_minutes=10), agent(3, open_chats=2, idle_minutes=5)]
    assert pick_agent(Strategy.ROUND_ROBIN, agents).id == 2


def test_round_robin_rotates_through_a_group():
    group = GroupSpec(1, is_default=True, strategy=Strategy.ROUND_ROBIN, member_ids=frozenset({1, 2, 3}))
    state = agents_by_id(agent(1, idle_minutes=3), agent(2, idle_minutes=2), agent(3, idle_minutes=1))
    entries = [QueueEntry(100 + n, 1, T0 + timedelta(seconds=n)) for n in range(6)]
    plan = plan_drain(entries, [group], state, now=T0 + timedelta(minutes=1))
    assert [agent_id for _, agent_id in plan][:3] == [1, 2, 3]
    assert len(plan) == 6


def test_familiar_first_prefers_the_last_agent_when_available():
    group = [agent(1, open_chats=0), agent(2, open_chats=3)]
    assert pick_agent(Strategy.FAMILIAR_FIRST, group, CustomerContext(last_agent_id=2)).id == 2
    assert pick_agent(Strategy.FAMILIAR_FIRST, group, CustomerContext()).id == 1  # no history: least loaded


@pytest.mark.parametrize("last_agent", [agent(2, status=OFFLINE), agent(2, status=BUSY), agent(2, open_chats=5, capacity=5)])
def test_familiar_first_falls_back_when_the_last_agent_cannot_take_it(last_agent):
    assert pick_agent(Strategy.FAMILIAR_FIRST, [agent(1, open_chats=2), last_agent], CustomerContext(last_agent_id=2)).id == 1


def test_familiar_agent_outside_the_group_is_not_used():
    assert pick_agent(Strategy.FAMILIAR_FIRST, [agent(1)], CustomerContext(last_agent_id=99)).id == 1


def test_claim_mode_puts_the_conversation_in_the_pool_even_with_agents_free():
    pool = GroupSpec(1, is_default=True, strategy=Strategy.CLAIM, member_ids=frozenset({1}))
    assert decide([pool], agents_by_id(agent(1)), CustomerContext()) == Decision("pool", 1, None, "claim mode")


# --- full groups, overflow and queueing ------------------------------------------------

def test_a_full_matched_group_overflows_to_the_next_match_then_default():
    full = agents_by_id(agent(11, open_chats=5), agent(12), agent(13))
    assert decide([HANGZHOU_WENZHOU, HANGZHOU_NINGBO, DEFAULT], full, CustomerContext(region="浙江/杭州")) == Decision("assign", 2, 12, "least_loaded")
    both_full = agents_by_id(agent(11, open_chats=5), agent(12, status=AWAY), agent(13, open_chats=1))
    assert decide([HANGZHOU_WENZHOU, HANGZHOU_NINGBO, DEFAULT], both_full, CustomerContext(region="浙江/杭州")) == Decision(
        "assign", 9, 13, "least_loaded"
    )


def test_nobody_available_queues_in_the_best_matching_group():
    nobody = agents_by_id(agent(11, status=OFFLINE), agent(12, status=BUSY), agent(13, open_chats=5, capacity=5))
    assert decide([HANGZHOU_WENZHOU, HANGZHOU_NINGBO, DEFAULT], nobody, CustomerContext(region="浙江/杭州")) == Decision(
        "queue", 1, None, "nobody available"
    )
    assert decide([HANGZHOU_WENZHOU, DEFAULT], nobody, CustomerContext(region="北京")).group_id == 9


def test_members_unknown_to_the_snapshot_are_ignored():
    group = GroupSpec(1, is_default=True, member_ids=frozenset({1, 2}))
    assert decide([group], agents_by_id(agent(2)), CustomerContext()).agent_id == 2


def test_vip_jumps_the_queue_then_fifo():
    entries = [
        QueueEntry(1, 1, T0),
        QueueEntry(2, 1, T0 + timedelta(seconds=1), vip_level=2),
        QueueEntry(3, 1, T0 + timedelta(seconds=2)),
        QueueEntry(4, 1, T0 + timedelta(seconds=3), vip_level=1),
        QueueEntry(5, 1, T0 + timedelta(seconds=4), vip_level=2),
        QueueEntry(6, 2, T0 - timedelta(seconds=5)),
    ]
    assert [e.conversation_id for e in queue_order(entries)] == [2, 5, 4, 6, 1, 3]
    assert queue_positions(entries) == {2: 1, 5: 2, 4: 3, 1: 4, 3: 5, 6: 1}  # positions count within each group


def test_drain_serves_in_queue_order_and_respects_capacity():
    group = GroupSpec(1, is_default=True, member_ids=frozenset({1, 2}))
    state = agents_by_id(agent(1, open_chats=4, capacity=5), agent(2, open_chats=3, capacity=5))
    entries = [QueueEntry(10 + n, 1, T0 + timedelta(seconds=n), vip_level=1 if n == 3 else 0) for n in range(5)]
    plan = plan_drain(entries, [group], state, now=T0)
    assert [c for c, _ in plan] == [13, 10, 11]  # VIP first, then FIFO, until both agents are full
    per_agent = {a: sum(1 for _, x in plan if x == a) for a in (1, 2)}
    assert per_agent == {1: 1, 2: 2}


def test_drain_is_fifo_per_group_and_skips_claim_groups():
    sales = GroupSpec(1, member_ids=frozenset({1}), rules=(Rule(RuleField.TAG, ("s",)),))
    service = GroupSpec(2, member_ids=frozenset({2}), rules=(Rule(RuleField.TAG, ("t",)),))
    pool = GroupSpec(3, strategy=Strategy.CLAIM, member_ids=frozenset({2}), rules=(Rule(RuleField.TAG, ("p",)),))
    state = agents_by_id(agent(1, status=OFFLINE), agent(2, capacity=1))
    entries = [QueueEntry(1, 1, T0), QueueEntry(2, 3, T0), QueueEntry(3, 2, T0 + timedelta(seconds=1)), QueueEntry(4, 2, T0 + timedelta(seconds=2))]
    assert plan_drain(entries, [sales, service, pool], state, now=T0) == [(3, 2)]


def test_idle_ties_work_with_time_zone_aware_times():
    from datetime import timezone

    aware = AgentState(1, ONLINE, 1, 5, datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc))
    never = AgentState(2, ONLINE, 1, 5, None)
    assert pick_agent(Strategy.LEAST_LOADED, [aware, never]).id == 2
    assert pick_agent(Strategy.ROUND_ROBIN, [aware, never]).id == 2
