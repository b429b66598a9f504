"""Business hours as a pure function: weekly windows in the inbox's time zone, holidays closed.

Config (Inbox.business_hours, edited as a timetable in the admin: chat/hours_form.py):
  {"timezone": "Asia/Shanghai",
   "weekly": {"mon": [["09:00", "18:00"]], "sat": [["22:00", "02:00"]], ...},
   "holidays": ["2026-10-01", ...],      # the merchant's own closed days
   "workdays": ["2026-10-10", ...],      # the merchant's own extra working days
   "cn_official": true}                  # mainland China's statutory holidays closed, 调休 days worked
Empty config: always open. A window whose end is not after its start crosses midnight (it closes
the next day, even if that day is a holiday). A working day that falls on a day the weekly table
leaves closed (a make-up workday, usually a weekend) keeps the hours of a regular workday: the first
of Monday–Friday that has windows. The merchant's own days win over the official calendar; years the
installed calendar (chinesecalendar) does not cover yet follow the weekly table."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chinese_calendar import constants as cn_calendar

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAY_TEMPLATE_DAYS = DAYS[:5]


def official_holidays(start, end):
    """[(date, English name)] of mainland China's statutory holidays between two dates (inclusive)."""
    return sorted((day, name) for day, name in cn_calendar.holidays.items() if start <= day <= end)


def official_calendar_covers(year):
    return any(day.year == year for day in cn_calendar.holidays)


def _windows_on(config, day):
    """The [start, end] windows that open on `day` (a local date)."""
    iso = day.isoformat()
    official = bool(config.get("cn_official"))
    if iso in (config.get("holidays") or ()):
        return []
    weekly = config["weekly"]
    if iso in (config.get("workdays") or ()) or (official and day in cn_calendar.workdays):
        own = weekly.get(DAYS[day.weekday()], [])
        if own:
            return own
        return next((weekly[d] for d in WORKDAY_TEMPLATE_DAYS if weekly.get(d)), [])
    if official and day in cn_calendar.holidays:
        return []
    return weekly.get(DAYS[day.weekday()], [])


def zone(name, default="UTC"):
    """The named time zone; `default` for an empty or unknown name (a stored config is never an error here)."""
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def _parse(hhmm):
    hours, minutes = str(hhmm).split(":")
    return time(int(hours), int(minutes))


def is_open(config, now):
    """Whether the inbox is within business hours at the aware datetime `now`."""
    if not config or not config.get("weekly"):
        return True
    local = now.astimezone(zone(config.get("timezone")))
    for day_offset in (0, -1):  # today's windows, and yesterday's that run past midnight
        day = (local + timedelta(days=day_offset)).date()
        for start_text, end_text in _windows_on(config, day):
            start, end = _parse(start_text), _parse(end_text)
            if day_offset == -1 and end > start:
                continue
            opens = datetime.combine(day, start, local.tzinfo)
            closes = datetime.combine(day + timedelta(days=1) if end <= start else day, end, local.tzinfo)
            if opens <= local < closes:
                return True
    return False


def validate(config):
    """Raise ValueError with a readable reason if the config cannot be used."""
    if not config:
        return
    if not isinstance(config, dict):
        raise ValueError("business hours must be an object")
    ZoneInfo(config.get("timezone") or "UTC")
    for day, windows in (config.get("weekly") or {}).items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}")
        for window in windows:
            start, end = window
            _parse(start), _parse(end)
    for key in ("holidays", "workdays"):
        for day in config.get(key) or ():
            date.fromisoformat(day)
