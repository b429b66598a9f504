"""Business hours as a timetable form (issue 20 item 1): official Chinese holidays and make-up
workdays, the merchant's own days, field errors for bad input, stored JSON read back losslessly."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chat import hours
from chat.admin import InboxForm
from chat.hours_form import DateListField, MAX_LISTED_DAYS

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS_9_TO_18 = {"timezone": "Asia/Shanghai", "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}


def at(*args):
    return datetime(*args, tzinfo=SHANGHAI)


# --- the pure rule -----------------------------------------------------------------------------------

def test_official_calendar_closes_national_day_and_opens_the_make_up_saturday():
    official = {**WEEKDAYS_9_TO_18, "cn_official": True}
    assert hours.is_open(WEEKDAYS_9_TO_18, at(2026, 10, 5, 10))  # a Monday in 国庆, without the calendar
    assert not hours.is_open(official, at(2026, 10, 5, 10))
    assert not hours.is_open(official, at(2026, 10, 1, 10))  # a Thursday
    assert hours.is_open(official, at(2026, 10, 9, 10))  # back to work
    # 2026-10-10 is a Saturday worked in lieu (调休): a regular workday's hours
    assert not hours.is_open(WEEKDAYS_9_TO_18, at(2026, 10, 10, 10))
    assert hours.is_open(official, at(2026, 10, 10, 10)) and not hours.is_open(official, at(2026, 10, 10, 19))


def test_own_days_win_over_the_official_calendar():
    config = {**WEEKDAYS_9_TO_18, "cn_official": True, "holidays": ["2026-10-10"], "workdays": ["2026-10-02", "2026-10-11"]}
    assert not hours.is_open(config, at(2026, 10, 10, 10))  # the shop rests on the official make-up day
    assert hours.is_open(config, at(2026, 10, 2, 10))  # and works on a holiday it chose
    assert hours.is_open(config, at(2026, 10, 11, 17, 59)) and not hours.is_open(config, at(2026, 10, 11, 18))  # a Sunday sale


def test_a_night_window_runs_into_a_holiday_but_not_out_of_one():
    config = {"timezone": "Asia/Shanghai", "weekly": {d: [["22:00", "02:00"]] for d in hours.DAYS}, "cn_official": True}
    assert hours.is_open(config, at(2026, 10, 1, 1))  # Sep 30's night shift ends on the holiday's morning
    assert not hours.is_open(config, at(2026, 10, 1, 23))
    assert not hours.is_open(config, at(2026, 10, 2, 1))  # the holiday's own night shift did not start


def test_years_the_calendar_does_not_cover_follow_the_weekly_table():
    assert not hours.official_calendar_covers(2031)
    official = {**WEEKDAYS_9_TO_18, "cn_official": True}
    assert hours.is_open(official, at(2031, 10, 1, 10))  # a Wednesday
    assert hours.official_holidays(datetime(2026, 10, 1).date(), datetime(2026, 10, 7).date())[0][1] == "National Day"


# --- the form ------------------------------------------------------------------------------------------

def form_data(**overrides):
    data = {"name": "Site A", "kind": "web", "csat_enabled": "on", "widget_color": "#0b5cad", "widget_position": "right",
            "hours_enabled": "on", "hours_timezone": "Asia/Shanghai",
            "hours_mon_0": "09:00", "hours_mon_1": "12:00", "hours_mon_2": "13:30", "hours_mon_3": "18:00",
            "hours_sat_0": "22:00", "hours_sat_1": "02:00", "hours_cn_official": "on",
            "hours_closed_days": "2026-12-24\n2027-1-30 ~ 2027-02-02", "hours_extra_workdays": "2026-12-27"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def bound(personas, **overrides):
    return InboxForm(data={"workspace": personas.workspace.pk, **form_data(**overrides)}, instance=personas.inbox_a)


def test_the_timetable_saves_the_config_the_rule_reads(personas):
    form = bound(personas)
    assert form.is_valid(), form.errors
    inbox = form.save()
    assert inbox.business_hours == {
        "timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "12:00"], ["13:30", "18:00"]], "sat": [["22:00", "02:00"]]},
        "holidays": ["2026-12-24", "2027-01-30", "2027-01-31", "2027-02-01", "2027-02-02"], "workdays": ["2026-12-27"],
        "cn_official": True}
    assert hours.validate(inbox.business_hours) is None


def test_stored_config_reads_back_into_the_form_losslessly(personas):
    config = {"timezone": "Asia/Taipei", "weekly": {"tue": [["08:00", "11:00"], ["12:00", "17:00"], ["19:00", "01:00"]]},
              "holidays": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-11-11"], "workdays": ["2026-10-10"], "cn_official": True}
    personas.inbox_a.business_hours = config
    personas.inbox_a.save()
    shown = InboxForm(instance=personas.inbox_a)
    html = str(shown["hours_closed_days"])
    assert "2026-10-01 ~ 2026-10-03" in html and "2026-11-11" in html
    assert 'value="19:00"' in str(shown["hours_tue"])
    # what the page shows, posted back unchanged, stores the same config
    data = {name: shown[name].value() for name in shown.fields if name not in ("prechat_fields",)}
    post = {"workspace": personas.workspace.pk}
    for name, value in data.items():
        if name.startswith("hours_") and name[6:] in hours.DAYS:
            post.update({f"{name}_{i}": part or "" for i, part in enumerate(shown.fields[name].widget.decompress(value))})
        elif isinstance(value, bool):
            if value:
                post[name] = "on"
        elif value is not None:
            post[name] = shown.fields[name].prepare_value(value) if name.startswith("hours_") else value
    again = InboxForm(data=post, instance=personas.inbox_a)
    assert again.is_valid(), again.errors
    assert again.save().business_hours == config


def test_switching_hours_off_stores_always_open(personas):
    form = bound(personas, hours_enabled=None)
    assert form.is_valid(), form.errors
    assert form.save().business_hours == {}


@pytest.mark.parametrize("overrides, field, words", [
    ({"hours_mon_2": "11:00"}, "hours_mon", "overlap"),
    ({"hours_mon_1": None}, "hours_mon", "both"),
    ({"hours_mon_0": "09:00", "hours_mon_1": "09:00"}, "hours_mon", "same time"),
    ({"hours_mon_0": "08:00", "hours_mon_1": "02:00"}, "hours_mon", "last period"),
    ({"hours_mon_0": "25:00"}, "hours_mon", "valid time"),
    ({"hours_closed_days": "国庆"}, "hours_closed_days", "2026-10-01"),
    ({"hours_closed_days": "2026-10-07 ~ 2026-10-01"}, "hours_closed_days", "ends before"),
    ({"hours_closed_days": "2026-02-30"}, "hours_closed_days", "2026-10-01"),
    ({"hours_closed_days": "\n".join(f"{2000 + n // 365}-01-01" for n in range(10_000))}, "hours_closed_days", "at most"),
    ({"hours_closed_days": "2026-01-01 ~ 2028-01-01"}, "hours_closed_days", "at most"),
    ({"hours_extra_workdays": "2026-12-24"}, "hours_extra_workdays", "closed day"),
    ({"hours_mon_0": None, "hours_mon_1": None, "hours_mon_2": None, "hours_mon_3": None, "hours_sat_0": None, "hours_sat_1": None},
     "hours_mon", "at least one day"),
    ({"hours_timezone": "Mars/Olympus"}, "hours_timezone", "valid choice"),
])
def test_bad_input_is_a_field_error_and_nothing_is_saved(personas, overrides, field, words):
    personas.inbox_a.business_hours = before = {"timezone": "UTC", "weekly": {"fri": [["10:00", "11:00"]]}}
    personas.inbox_a.save()
    with_english = bound(personas, **overrides)
    from django.utils import translation

    with translation.override("en"):
        assert not with_english.is_valid()
        assert field in with_english.errors and words in " ".join(with_english.errors[field]), with_english.errors
    personas.inbox_a.refresh_from_db()
    assert personas.inbox_a.business_hours == before


def test_date_list_errors_are_in_the_owners_language():
    from django.core.exceptions import ValidationError
    from django.utils import translation

    with translation.override("zh-hans"), pytest.raises(ValidationError) as exc:
        DateListField().clean("2026-10-01 ~ 2027-12-31")
    assert f"最多列出 {MAX_LISTED_DAYS} 天" in exc.value.messages[0]


def test_the_holiday_checkbox_says_what_is_coming_and_which_year_is_missing():
    from datetime import date

    from django.utils import translation

    from chat.hours_form import official_calendar_help

    with translation.override("en"):
        september = official_calendar_help("Rule.", today=date(2026, 9, 1))
        december = official_calendar_help("Rule.", today=date(2026, 12, 5))
    assert "Coming: 2026-09-25 ~ 2026-09-27; 2026-10-01 ~ 2026-10-07." in september and "2027" in september
    assert "Coming" not in december and "for 2027 is not in this version" in december
