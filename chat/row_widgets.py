"""A builder's table: rows of inputs an owner fills instead of JSON (the pre-chat questions, a group's
routing conditions). One MultiWidget whose stored value is a list of dicts; each input is named for
screen readers by its column and row."""

from django import forms


class RowsWidget(forms.MultiWidget):
    template_name = "admin/widgets/rows.html"
    table_class = ""
    add_label = ""  # "Add a question": rows after the first empty one wait behind it (static/chat/admin/prechat.js)

    class Media:
        css = {"all": ["chat/admin/forms.css"]}

    def headers(self):
        """Column headers, one per input of a row (translated at render time)."""
        raise NotImplementedError

    def cell_label(self, header, row_number):
        raise NotImplementedError

    def get_context(self, name, value, attrs):
        if isinstance(value, list) and (not value or isinstance(value[0], dict)):  # stored rows, not posted parts
            value = self.decompress(value)
        context = super().get_context(name, value, attrs)
        subwidgets, headers = context["widget"]["subwidgets"], self.headers()
        rows = []
        for n in range(0, len(subwidgets), len(headers)):
            row = subwidgets[n:n + len(headers)]
            for header, subwidget in zip(headers, row, strict=True):
                subwidget["attrs"]["aria-label"] = self.cell_label(header, n // len(headers) + 1)
            rows.append(row)
        context["widget"].update(rows=rows, headers=headers, table_class=self.table_class, add_label=self.add_label)
        return context
