from django.db import connection
from django.test.utils import CaptureQueriesContext
from tests.conftest import plug_headers, basic
import pytest

@pytest.mark.django_db
def test_q(api, thing):
    feed = {"dps": [{"t": 1_700_000_000_000 + i, "v": i} for i in range(1000)]}
    with CaptureQueriesContext(connection) as c:
        r = api.post("/v3/data/devices/_this_/properties/temperature", feed, format="json", **plug_headers(thing))
    print(len(c)); [print(q["sql"][:150]) for q in c.captured_queries]
    feed = {"dps": [{"t": 1_700_000_100_000 + i, "v": i, "prop": ("a","b")[i%2]} for i in range(1000)]}
    with CaptureQueriesContext(connection) as c:
        r = api.post("/v3/data/devices/_this_/properties", feed, format="json", **basic(thing.key.id, thing.auth))
    print(len(c)); [print(q["sql"][:150]) for q in c.captured_queries]
