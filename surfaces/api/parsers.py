"""The API's JSON parser: DRF's, except that a body nested too deep for Python's parser is a
400 like every other malformed body (DRF's own lets RecursionError through: a 500)."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from helpdesk.validation import malformed_json


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)  # keeps DRF's strict mode (no NaN)
        except (ParseError, RecursionError):
            raise malformed_json() from None  # the code every surface uses (helpdesk.validation.loads_json)
