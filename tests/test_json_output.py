"""JSON text (agent/core/jsontext.py): orjson's speed, json's text and json's refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from agent.core.jsontext import compact, indented, parse
from agent.core.secret import REDACTED, Secret

DOCUMENT = {
    "hosts": [
        {"ip": "198.18.0.10", "ports": [{"port": 22, "state": "open"}], "os": None},
        {"ip": "198.18.0.11", "ports": [], "snmp": {}, "seconds": 0.226, "rate": 4999},
    ],
    "stats": {"arp:eth0": {"found": 29, "slowest_reply_ms": 0.71}, "ok": True},
    3: "an int key",
}


@pytest.mark.parametrize("sort_keys", [False, True])
def test_the_text_is_what_json_writes(sort_keys: bool):
    document = {k: v for k, v in DOCUMENT.items() if not sort_keys or isinstance(k, str)}
    assert indented(document, sort_keys=sort_keys) == json.dumps(
        document, indent=2, sort_keys=sort_keys
    )


def test_non_ascii_from_a_device_stays_escaped():
    """A name with a right-to-left override or a C1 control (CSI) must not reach a terminal
    raw: json escapes every non-ASCII character, and so does this writer."""
    document = {"hostname": "ab\u202ecd", "title": "caf\u00e9 \u009b31m"}
    text = indented(document)
    assert text.isascii()
    assert text == json.dumps(document, indent=2)
    assert json.loads(text) == document


def test_secrets_are_redacted():
    text = indented({"community": Secret("lab-ro-community")})
    assert "lab-ro-community" not in text
    assert json.loads(text) == {"community": REDACTED}


def test_what_orjson_cannot_write_json_still_does_or_refuses_as_before():
    assert json.loads(indented({"big": 2**70})) == {"big": 2**70}

    @dataclass
    class Unlisted:
        name: str

    with pytest.raises(TypeError):  # as json.dumps refused it, not silently written
        indented({"x": Unlisted("a")})


def test_store_text_reads_back_as_json_wrote_it():
    """Columns are compact now; rows json.dumps wrote before parse to the same values."""
    document = {**{k: v for k, v in DOCUMENT.items() if isinstance(k, str)}, "name": "caf\u00e9"}
    text = compact(document, sort_keys=True)
    assert json.loads(text) == json.loads(json.dumps(document, sort_keys=True))
    assert text == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(compact({"big": 2**70})) == {"big": 2**70}
    with pytest.raises(TypeError):  # a Secret never reaches a column, redacted or not
        compact({"community": Secret("lab-ro-community")})


def test_rows_older_writers_made_still_parse():
    assert parse(compact({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
    assert parse('{"seconds": NaN}')["seconds"] != 0  # json wrote NaN; orjson refuses it
    assert parse('{"big": 1180591620717411303424}') == {"big": 2**70}
