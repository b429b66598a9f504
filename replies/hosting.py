"""When hosting (托管) answers for the agents: pure functions of the settings and a time.

The window is read in the workspace's time zone. A window whose end is not after its start
crosses midnight (22:00–08:00) and belongs to the weekday it starts on: Friday 22:00 to
Saturday 08:00 is Friday's window. No start and end: the whole of each chosen day."""

from datetime import datetime, time, timedelta

from chat import hours


def in_window(start, end, weekdays, now, tz):
    """Whether the aware datetime `now` is inside the window (start/end: time or None; weekdays: 0=Mon…6=Sun, empty = all)."""
    local = now.astimezone(tz)
    days = set(weekdays or range(7))
    if start is None and end is None:
        return local.weekday() in days
    start, end = start or time(0, 0), end or time(0, 0)
    for day_offset in (0, -1):  # today's window, and yesterday's running past midnight
        day = (local + timedelta(days=day_offset)).date()
        if day.weekday() not in days:
            continue
        opens = datetime.combine(day, start, tz)
        closes = datetime.combine(day + timedelta(days=1) if end <= start else day, end, tz)
        if opens <= local < closes:
            return True
    return False


def active_reason(settings, inbox, workspace_tz, now):
    """Why hosting answers now ("window" or "after_hours"), or None. The no-answer timeout is a deadline, not a state."""
    if settings is None or not settings.hosting_enabled or not settings.hosting_message.strip():
        return None
    if settings.hosting_use_window and (settings.hosting_start or settings.hosting_end or settings.hosting_weekdays):
        if in_window(settings.hosting_start, settings.hosting_end, settings.hosting_weekdays, now, hours.zone(workspace_tz)):
            return "window"
    if settings.hosting_outside_business_hours and inbox.business_hours and not hours.is_open(inbox.business_hours, now):
        return "after_hours"
    return None


def validate_weekdays(value):
    if not isinstance(value, list) or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in value):
        raise ValueError("weekdays must be a list of numbers 0 (Monday) to 6 (Sunday)")
    return sorted(set(value))
