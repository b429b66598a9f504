"""Business hours with a controllable clock: time zones, weekdays, windows across midnight, holidays."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chat.hours import is_open, validate

SH = ZoneInfo("Asia/Shanghai")
CONFIG = {
    "timezone": "Asia/Shanghai",
    "weekly": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "fri": [["20:00", "02:00"]]},
    "holidays": ["2026-10-05"],
}


@pytest.mark.parametrize(
    "local,expected",
    [
        (datetime(2026, 11, 23, 8, 59, tzinfo=SH), False),  # Monday before opening
        (datetime(2026, 11, 23, 9, 0, tzinfo=SH), True),
        (datetime(2026, 11, 23, 12, 30, tzinfo=SH), False),  # lunch break
        (datetime(2026, 11, 23, 17, 59, tzinfo=SH), True),
        (datetime(2026, 11, 23, 18, 0, tzinfo=SH), False),  # the end is exclusive
        (datetime(2026, 11, 24, 10, 0, tzinfo=SH), False),  # Tuesday: no windows
        (datetime(2026, 11, 27, 23, 0, tzinfo=SH), True),  # Friday night window...
        (datetime(2026, 11, 28, 1, 59, tzinfo=SH), True),  # ...runs past midnight into Saturday
        (datetime(2026, 11, 28, 2, 0, tzinfo=SH), False),
        (datetime(2026, 10, 5, 10, 0, tzinfo=SH), False),  # a Monday holiday
    ],
)
def test_windows(local, expected):
    assert is_open(CONFIG, local) is expected


def test_time_zone_is_the_inboxes_not_the_servers():
    utc_monday_0100 = datetime(2026, 11, 23, 1, 0, tzinfo=ZoneInfo("UTC"))  # 09:00 in Shanghai
    assert is_open(CONFIG, utc_monday_0100) is True
    assert is_open({**CONFIG, "timezone": "Europe/London"}, utc_monday_0100) is False


def test_no_config_means_always_open_and_bad_configs_are_refused():
    assert is_open({}, datetime(2026, 1, 1, 3, 0, tzinfo=SH)) is True
    for bad in ({"weekly": {"someday": []}}, {"timezone": "Mars/Base"}, {"weekly": {"mon": [["9", "18:00"]]}}, {"holidays": ["10/01"]}):
        with pytest.raises(Exception):
            validate(bad)
    validate(CONFIG)
