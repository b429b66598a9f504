"""Business hours as a pure function: weekly windows in the inbox's time zone, holidays closed.

Config (Inbox.business_hours): {"timezone": "Asia/Shanghai",
  "weekly": {"mon": [["09:00", "18:00"]], "sat": [["22:00", "02:00"]], ...},
  "holidays": ["2026-10-01", ...]}. Empty config: always open. A window whose end is not
after its start crosses midnight (it closes the next day, even if that day is a holiday)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse(hhmm):
    hours, minutes = str(hhmm).split(":")
    return time(int(hours), int(minutes))


def is_open(config, now):
    """Whether the inbox is within business hours at the aware datetime `now`."""
    if not config or not config.get("weekly"):
        return True
    try:
        zone = ZoneInfo(config.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    holidays = set(config.get("holidays") or ())
    weekly = config["weekly"]
    for day_offset in (0, -1):  # today's windows, and yesterday's that run past midnight
        day = (local + timedelta(days=day_offset)).date()
        for start_text, end_text in weekly.get(DAYS[day.weekday()], []):
            start, end = _parse(start_text), _parse(end_text)
            opens = datetime.combine(day, start, zone)
            closes = datetime.combine(day + timedelta(days=1) if end <= start else day, end, zone)
            if day_offset == 0 and day.isoformat() in holidays:
                continue
            if day_offset == -1 and (end > start or day.isoformat() in holidays):
                continue
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
    for holiday in config.get("holidays") or ():
        datetime.strptime(holiday, "%Y-%m-%d")
