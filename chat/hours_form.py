"""Business hours as a form an owner fills in, never JSON: a weekly timetable (up to three windows a
day, so a lunch break or a late shift fits), the time zone, mainland China's official holidays and
make-up workdays as one checkbox, and the merchant's own closed days and extra working days as
dates or ranges, one per line. It reads and writes the stored config of chat/hours.py losslessly."""

import re
from datetime import date, timedelta
from zoneinfo import available_timezones

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import hours

WINDOWS_PER_DAY = 3
MAX_LISTED_DAYS = 366
DAY_LABELS = {"mon": _("Monday"), "tue": _("Tuesday"), "wed": _("Wednesday"), "thu": _("Thursday"),
              "fri": _("Friday"), "sat": _("Saturday"), "sun": _("Sunday")}
DEFAULT_ZONE = "Asia/Shanghai"
COMMON_ZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Macau", "Asia/Singapore", "Asia/Kuala_Lumpur",
                "Asia/Tokyo", "Asia/Seoul", "Asia/Bangkok", "Asia/Dubai", "Europe/London", "Europe/Berlin",
                "America/New_York", "America/Los_Angeles", "Australia/Sydney", "UTC"]
RANGE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\s*(?:(?:\.\.|~|～|–|—|至|到|-\s)\s*(\d{4}-\d{1,2}-\d{1,2}))?$")


class DayWindowsWidget(forms.MultiWidget):
    """Start/end time inputs for one day's windows, each labelled for screen readers."""

    template_name = "admin/widgets/day_windows.html"

    class Media:
        css = {"all": ["chat/admin/forms.css"]}

    def __init__(self, day_label="", attrs=None):
        self.day_label = day_label
        widgets = [forms.TimeInput(format="%H:%M", attrs={"type": "time", "step": 60, "class": f"hours-{part}"})
                   for _n in range(WINDOWS_PER_DAY) for part in ("start", "end")]
        super().__init__(widgets, attrs)

    def get_context(self, name, value, attrs):
        if isinstance(value, list) and value and isinstance(value[0], list | tuple):  # stored windows, not posted parts
            value = self.decompress(value)
        context = super().get_context(name, value, attrs)
        for n, subwidget in enumerate(context["widget"]["subwidgets"]):  # labelled in the language of the request
            label = _("%(day)s, period %(n)s, opens") if n % 2 == 0 else _("%(day)s, period %(n)s, closes")
            subwidget["attrs"]["aria-label"] = label % {"day": self.day_label, "n": n // 2 + 1}
        return context

    def decompress(self, value):
        flat = [part for window in (value or []) for part in window]
        return (flat + [None] * (2 * WINDOWS_PER_DAY))[: 2 * WINDOWS_PER_DAY]


class DayWindowsField(forms.MultiValueField):
    """One day's windows → [["09:00", "12:00"], ["13:30", "18:00"]]. An end before its start runs
    past midnight, allowed for the day's last window only; windows may not overlap."""

    def __init__(self, day_label, **kwargs):
        fields = [forms.TimeField(required=False) for _ in range(2 * WINDOWS_PER_DAY)]
        super().__init__(fields, require_all_fields=False, required=False, widget=DayWindowsWidget(day_label),
                         label=day_label, **kwargs)

    def compress(self, data_list):
        windows = []
        for n in range(0, len(data_list or []), 2):
            start, end = data_list[n], data_list[n + 1]
            if start is None and end is None:
                continue
            if start is None or end is None:
                raise forms.ValidationError(_("Give both the opening and the closing time of period %(n)s.") % {"n": n // 2 + 1})
            if start == end:
                raise forms.ValidationError(_("Period %(n)s opens and closes at the same time.") % {"n": n // 2 + 1})
            windows.append((start, end))
        windows.sort()
        for n, (start, end) in enumerate(windows):
            crosses_midnight = end < start
            if crosses_midnight and n != len(windows) - 1:
                raise forms.ValidationError(_("Only the day's last period may run past midnight."))
            if n and start < windows[n - 1][1]:
                raise forms.ValidationError(_("The periods %(a)s and %(b)s overlap.") % {
                    "a": _window_text(windows[n - 1]), "b": _window_text((start, end))})
        return [[start.strftime("%H:%M"), end.strftime("%H:%M")] for start, end in windows]


def _window_text(window):
    return "–".join(part.strftime("%H:%M") for part in window)


class DateListField(forms.CharField):
    """Dates or ranges, one per line ("2026-10-01" or "2026-10-01 ~ 2026-10-07") → sorted ISO dates."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 30, "placeholder": "2026-10-01 ~ 2026-10-07"})

    def __init__(self, **kwargs):
        super().__init__(required=False, strip=True, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(_ranges_text(sorted(value)))
        return value

    def clean(self, value):
        text = super().clean(value) or ""
        days = set()
        lines = [line for line in (raw.strip() for raw in text.splitlines()) if line]
        if len(lines) > MAX_LISTED_DAYS:
            raise forms.ValidationError(_("List at most %(max)s days.") % {"max": MAX_LISTED_DAYS})
        for line_no, line in enumerate(lines, 1):
            match = RANGE.match(line)
            try:
                first = date.fromisoformat(_padded(match.group(1))) if match else None
                last = date.fromisoformat(_padded(match.group(2))) if match and match.group(2) else first
            except ValueError:
                first = None
            if first is None:
                raise forms.ValidationError(_('Line %(n)s, "%(line)s": write a date as 2026-10-01, or a range as 2026-10-01 ~ 2026-10-07.')
                                            % {"n": line_no, "line": line[:40]})
            if last < first:
                raise forms.ValidationError(_("Line %(n)s: the range ends before it starts.") % {"n": line_no})
            if (last - first).days >= MAX_LISTED_DAYS or len(days) + (last - first).days >= MAX_LISTED_DAYS:
                raise forms.ValidationError(_("List at most %(max)s days.") % {"max": MAX_LISTED_DAYS})
            days.update((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))
        return sorted(days)


def _padded(text):
    year, month, day = text.split("-")
    return f"{year}-{int(month):02d}-{int(day):02d}"


def _ranges_text(iso_days):
    """Consecutive days shown as one range, so a stored list reads as the owner typed it."""
    lines, run = [], []
    for day in (date.fromisoformat(d) for d in iso_days):
        if run and day - run[-1] == timedelta(days=1):
            run.append(day)
            continue
        if run:
            lines.append(_run_text(run))
        run = [day]
    if run:
        lines.append(_run_text(run))
    return lines


def _run_text(run):
    return run[0].isoformat() if len(run) == 1 else f"{run[0].isoformat()} ~ {run[-1].isoformat()}"


def _zone_choices(current):
    zones = list(COMMON_ZONES)
    if current and current not in zones and current in available_timezones():
        zones.insert(0, current)
    return [(zone, zone) for zone in zones]


def official_holidays_text(today=None):
    """The statutory holidays of the coming year as the admin shows them, e.g. 2026-10-01 ~ 2026-10-07."""
    today = today or timezone.localdate()
    days = [day.isoformat() for day, _name in hours.official_holidays(today, today + timedelta(days=365))]
    return "; ".join(_ranges_text(days))


def official_calendar_help(rule, today=None):
    """The checkbox's help: the coming holidays, and a year the installed calendar lacks (published
    each November by the State Council; until the package has it, the owner lists those days)."""
    today = today or timezone.localdate()
    parts = [str(rule)]
    coming = official_holidays_text(today)
    if coming:
        parts.append(str(_("Coming: %(days)s.") % {"days": coming}))
    missing = [year for year in (today.year, today.year + 1) if not hours.official_calendar_covers(year)]
    if missing:
        parts.append(str(_("The official calendar for %(years)s is not in this version yet: list those holidays as own closed days.")
                         % {"years": "、".join(map(str, missing))}))
    return " ".join(parts)


class BusinessHoursFormMixin(forms.Form):
    """Mixed into the inbox's ModelForm: the fields below become Inbox.business_hours on clean."""

    hours_enabled = forms.BooleanField(label=_("Keep business hours"), required=False,
                                       help_text=_("Off: always open. On: outside these hours customers leave a message."))
    hours_timezone = forms.ChoiceField(label=_("Time zone"), choices=(), initial=DEFAULT_ZONE, required=False)
    hours_cn_official = forms.BooleanField(
        label=_("Follow mainland China's public holidays"), required=False,
        help_text=_("Closed on statutory holidays, open on the make-up workdays (调休) with a regular workday's hours."))
    hours_closed_days = DateListField(label=_("Own closed days"),
                                      help_text=_("Dates or ranges, one per line, e.g. 2026-10-01 ~ 2026-10-07."))
    hours_extra_workdays = DateListField(label=_("Own extra working days"),
                                         help_text=_("Open with a regular workday's hours, e.g. a weekend sale."))

    hours_mon = DayWindowsField(DAY_LABELS["mon"])
    hours_tue = DayWindowsField(DAY_LABELS["tue"])
    hours_wed = DayWindowsField(DAY_LABELS["wed"])
    hours_thu = DayWindowsField(DAY_LABELS["thu"])
    hours_fri = DayWindowsField(DAY_LABELS["fri"])
    hours_sat = DayWindowsField(DAY_LABELS["sat"])
    hours_sun = DayWindowsField(DAY_LABELS["sun"])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = getattr(getattr(self, "instance", None), "business_hours", None) or {}
        self.fields["hours_timezone"].choices = _zone_choices(config.get("timezone"))
        self.fields["hours_cn_official"].help_text = official_calendar_help(self.fields["hours_cn_official"].help_text)
        if config and not self.is_bound:
            self.initial.update({
                "hours_enabled": bool(config.get("weekly")),
                "hours_timezone": config.get("timezone") or "UTC",
                "hours_cn_official": bool(config.get("cn_official")),
                "hours_closed_days": list(config.get("holidays") or []),
                "hours_extra_workdays": list(config.get("workdays") or []),
                **{f"hours_{day}": windows for day, windows in (config.get("weekly") or {}).items()},
            })

    def business_hours_config(self):
        """The stored config from the cleaned fields ({} when business hours are off)."""
        data = self.cleaned_data
        weekly = {day: data[f"hours_{day}"] for day in hours.DAYS if data.get(f"hours_{day}")}
        if not data.get("hours_enabled"):
            return {}
        if not weekly:
            raise forms.ValidationError({"hours_mon": _("Give the opening hours of at least one day, or switch business hours off.")})
        overlap = set(data.get("hours_closed_days") or ()) & set(data.get("hours_extra_workdays") or ())
        if overlap:
            raise forms.ValidationError({"hours_extra_workdays": _("%(day)s is also listed as a closed day.") % {"day": min(overlap)}})
        config = {"timezone": data.get("hours_timezone") or DEFAULT_ZONE, "weekly": weekly}
        for key, field in (("holidays", "hours_closed_days"), ("workdays", "hours_extra_workdays")):
            if data.get(field):
                config[key] = data[field]
        if data.get("hours_cn_official"):
            config["cn_official"] = True
        return config


BUSINESS_HOURS_FIELDS = ["hours_enabled", "hours_timezone", *(f"hours_{day}" for day in hours.DAYS), "hours_cn_official",
                         "hours_closed_days", "hours_extra_workdays"]
