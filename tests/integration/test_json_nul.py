"""A NUL inside a JSON string, escaped (\\u0000) or raw, never shortens a key or
a value: cJSON would cut the string there, so every JSON entry point refuses it
(INVALID_KEY where a key is expected, INVALID_PARAMS elsewhere) and acts on
nothing. Real binaries on loopback."""
import uuid

import pytest

from conftest import request
from test_store import get, put, start_store

ESC = b'"a\\u0000b"'  # the JSON text "a\u0000b"
RAW = b'"a\x00b"'     # a raw 0x00 byte inside the string


@pytest.fixture
def trio(cluster):
    meta = cluster.metadata()
    master = cluster.master("--default_kv_lease_ttl=200")
    return meta, master, start_store(cluster, master, meta)


def post(url, body):
    return request("POST", url, body=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("s", [ESC, RAW], ids=["escaped", "raw"])
def test_master_refuses_nul_keys(trio, s):
    _, master, store = trio
    assert put(store, "a", b"v").status == 200
    for op, body in [("put_start", b'{"keys":[' + s + b'],"sizes":[1]}'),
                     ("put_start", b'{"key":' + s + b',"size":1}'),
                     ("remove", b'{"keys":[' + s + b'],"force":true}'),
                     ("exist", b'{"keys":["ok",' + s + b']}')]:
        r = post(f"{master.url}/api/v1/{op}", body)
        assert r.status == 400 and r.json()["code"] == -400, (op, r.text)
    r = post(f"{master.url}/api/v1/put_start",
             b'{"keys":["x"],"sizes":[1],"config":{"preferred_segment":' + s + b'}}')
    assert r.status == 400 and r.json()["code"] == -600, r.text
    r = post(f"{master.url}/api/v1/mount_segment",
             b'{"client_id":"%s","segment":{"id":"%s","name":%s,"base":0,"size":4096}}'
             % (str(uuid.uuid4()).encode(), str(uuid.uuid4()).encode(), s))
    assert r.status == 400 and r.json()["code"] == -600, r.text
    # a NUL in a member name refuses the whole body ("ke\u0000ys" is not "ke")
    r = post(f"{master.url}/api/v1/remove", b'{"keys\\u0000x":["a"],"force":true}')
    assert r.status == 400 and r.json()["code"] == -600, r.text
    assert get(store, "a").status == 200  # "a" was never acted on


@pytest.mark.parametrize("s", [ESC, RAW], ids=["escaped", "raw"])
def test_store_rest_refuses_nul(trio, s):
    _, _, store = trio
    assert put(store, "a", b"v").status == 200
    for route in ("remove", "exist", "get"):
        r = post(f"{store.url}/api/v1/batch/{route}", b'{"keys":[' + s + b'],"force":true}')
        assert r.status == 400 and r.json()["code"] == -400, (route, r.text)
    r = request("PUT", f"{store.url}/api/put", body=b'{"key":' + s + b',"value":"v"}')
    assert r.status == 400 and r.json()["code"] == -400, r.text
    r = request("PUT", f"{store.url}/api/put", body=b'{"key":"k","value":' + s + b'}')
    assert r.status == 400 and r.json()["code"] == -600, r.text
    assert get(store, "a").status == 200 and get(store, "a").body == b"v"
    assert get(store, "k").status == 404  # no shortened value was stored


def test_metadata_values_are_opaque_and_keys_refuse_nul(trio):
    meta, _, _ = trio
    value = b'{"name":"a\\u0000b","raw":"x\x00y"}'
    url = f"{meta.url}/metadata?key=mooncake/ram/nul-test"
    assert request("PUT", url, body=value).status == 200
    r = request("GET", url)
    assert r.status == 200 and r.body == value  # stored whole, never cut
    r = request("PUT", f"{meta.url}/metadata?key=mooncake/ram/a%00b", body=b"{}")
    assert r.status == 400
