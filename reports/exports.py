"""Every report table as CSV or XLSX, audited (reports.export: which table, which filters).

XLSX is written here with the standard library (zipfile + escaped XML, one sheet, inline strings):
a report table is a few hundred cells of text and numbers, which needs none of a spreadsheet
library's styles, formulas or reading, and self-hosters install one dependency less. The files
open in Excel, WPS and LibreOffice (the tests read them back with zipfile + ElementTree)."""

import csv
import io
import re
import zipfile
from xml.sax.saxutils import escape

from accounts.actions import audit

from .actions import cell
from .models import BINS

FORMATS = ("csv", "xlsx")


def _plain(value):
    """A cell's value in a file: numbers stay numbers; a percentile past the last bin is a text."""
    if value is None:
        return ""
    if value == float("inf"):
        return f"> {BINS[-1]}"
    return value


def header(table):
    return [str(label) for label, _kind in table.columns]


def as_csv(table):
    buffer = io.StringIO()
    buffer.write("\ufeff")  # spreadsheets read UTF-8 with it
    writer = csv.writer(buffer)
    writer.writerow(header(table))
    for row in table.rows:
        writer.writerow([cell(_plain(v)) for v in row])
    return buffer.getvalue().encode()


def _column_name(index):
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_cell(ref, value):
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = escape(_CONTROL.sub("", str(value)))
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def as_xlsx(table):
    lines = []
    for r, row in enumerate([header(table), *table.rows], start=1):
        cells = "".join(_xml_cell(f"{_column_name(c)}{r}", v) for c, v in enumerate(row))
        lines.append(f'<row r="{r}">{cells}</row>')
    sheet_name = escape(re.sub(r"[\[\]:*?/\\]", " ", str(table.title))[:31] or "Sheet1", {'"': "&quot;"})
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '</Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            '</Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '</Relationships>'),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheetData>{"".join(lines)}</sheetData></worksheet>'),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def export(actor, report, table_key, fmt):
    """(bytes, content type) of one table; the export is audited first."""
    table = report.tables[table_key]
    f = report.filters
    audit(actor, "reports.export", after={"table": table_key, "format": fmt, "from": f.date_from.isoformat(),
                                          "to": f.date_to.isoformat(), "period": f.period, "by": f.by})
    if fmt == "csv":
        return as_csv(table), "text/csv; charset=utf-8"
    return as_xlsx(table), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
