import pytest

from conftest import send


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run an action and what it hands to after-commit (routing, auto-replies), as a request would."""
    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)
    return run


@pytest.fixture
def say(committed):
    """send() with its after-commit work done."""
    return lambda actor, body="hello", **kwargs: committed(send, actor, body, **kwargs)
