import pytest


@pytest.mark.parametrize("i", range(40))
def test_cost(i, served, engine):
    assert served.url
