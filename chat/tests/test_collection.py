"""Every app's tests are collected: a tests/ folder missing from pytest.ini's testpaths would
pass silently by never running."""

import configparser
from pathlib import Path

from django.conf import settings


def test_every_tests_folder_is_in_testpaths():
    config = configparser.ConfigParser()
    config.read(Path(settings.BASE_DIR, "pytest.ini"))
    testpaths = set(config["pytest"]["testpaths"].split())
    folders = {p.parent.parent.name for p in Path(settings.BASE_DIR).glob("*/tests/__init__.py")}
    assert folders and folders <= testpaths, folders - testpaths
