import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _in_simplified_chinese():
    """The product's default language, whatever an earlier test in this process left active: these
    tests read the translated lines agents and customers see."""
    with translation.override("zh-hans"):
        yield
