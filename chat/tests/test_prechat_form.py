"""The pre-chat form builder (issue 20 item 1): questions as rows, order by position, keys derived,
stored lists read back losslessly, bad input a field error with nothing saved."""

import pytest
from django.utils import translation

from chat.admin import InboxForm
from chat.models import MAX_PRECHAT_FIELDS

from .test_widget_api import PRECHAT, prechat_rows


def bound(personas, rows, **extra):
    return InboxForm(data={"workspace": personas.workspace.pk, "name": "Site A", "kind": "web", "widget_color": "#0b5cad",
                           "widget_position": "right", **rows, **extra},
                     instance=personas.inbox_a)


def test_rows_become_the_stored_fields_in_the_order_of_their_numbers(personas):
    rows = prechat_rows([{"key": "phone", "label": "手机号", "type": "tel", "required": True},
                         {"key": "", "label": "门店名称", "type": "text", "required": False},
                         {"key": "name", "label": "", "type": "text", "required": False}])
    rows.update({"prechat_fields_0": "3", "prechat_fields_10": "1"})  # the name first, the phone last
    with translation.override("zh-hans"):
        form = bound(personas, rows)
        assert form.is_valid(), form.errors
        stored = form.save().prechat_fields
    assert stored == [{"key": "name", "label": "您的姓名", "type": "text", "required": False},
                      {"key": "men-dian-ming-cheng", "label": "门店名称", "type": "text", "required": False},
                      {"key": "phone", "label": "手机号", "type": "tel", "required": True}]


def test_a_stored_list_reads_back_and_saves_unchanged(personas):
    personas.inbox_a.prechat_fields = PRECHAT
    personas.inbox_a.save()
    shown = InboxForm(instance=personas.inbox_a)
    html = str(shown["prechat_fields"])
    assert 'value="order-no" selected' in html  # a key of its own stays selectable
    assert html.count("<tr>") == MAX_PRECHAT_FIELDS + 1
    form = bound(personas, prechat_rows(PRECHAT))
    assert form.is_valid(), form.errors
    assert form.save().prechat_fields == PRECHAT


def test_no_question_is_no_form(personas):
    personas.inbox_a.prechat_fields = PRECHAT
    personas.inbox_a.save()
    empty = {f"prechat_fields_{5 * n}": str(n + 1) for n in range(MAX_PRECHAT_FIELDS)}
    form = bound(personas, {**empty, **{f"prechat_fields_{5 * n + 3}": "text" for n in range(MAX_PRECHAT_FIELDS)}})
    assert form.is_valid(), form.errors
    assert form.save().prechat_fields == []


@pytest.mark.parametrize("rows, words", [
    ({"prechat_fields_1": "name", "prechat_fields_2": "x" * 81}, "at most 80"),
    ({"prechat_fields_1": "name", "prechat_fields_3": "number"}, "valid choice"),
    ({"prechat_fields_1": "level", "prechat_fields_2": "VIP"}, "valid choice"),
    ({"prechat_fields_0": "99", "prechat_fields_1": "name"}, "less than or equal"),
    ({"prechat_fields_1": "name", "prechat_fields_6": "name", "prechat_fields_7": "Name again"}, "used twice"),
])
def test_bad_rows_are_a_field_error_and_nothing_is_saved(personas, rows, words):
    with translation.override("en"):
        form = bound(personas, rows)
        assert not form.is_valid()
        assert words in " ".join(form.errors["prechat_fields"]), form.errors
    personas.inbox_a.refresh_from_db()
    assert personas.inbox_a.prechat_fields == []
