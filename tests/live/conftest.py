import pytest

from carbonshift.forecast.live.fakeserver import FakeProviders


@pytest.fixture
def fake():
    """Both fake providers on 127.0.0.1 (random port); hangs last 1 s, clients time out after 0.3 s."""
    with FakeProviders(hang_s=1.0, retry_after_s=120) as server:
        yield server
