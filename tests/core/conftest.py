import pytest

from tests.conftest import make_settings


@pytest.fixture
def db_app(db_url, clock):
    """The application on a real database, with no cloud behind it (request-side tests)."""
    from sandbox.service import build_app

    application = build_app(make_settings(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9"), clock=clock)
    yield application
    application.close()
