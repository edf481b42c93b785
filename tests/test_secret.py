import json
import logging
import pickle

import pytest

from agent.core import logsetup
from agent.core.secret import REDACTED, Secret, json_default, scrub

CANARY = "Canary-7f3e-Secret!"


def test_secret_never_renders():
    secret = Secret(CANARY)
    assert str(secret) == REDACTED
    assert CANARY not in repr(secret)
    assert CANARY not in f"{secret} {secret!r} {secret:>30}"
    assert CANARY not in "%s %r" % (secret, secret)  # noqa: UP031 (old-style logging path)
    assert secret.reveal() == CANARY


def test_secret_refuses_plain_json_and_pickle():
    with pytest.raises(TypeError):
        json.dumps({"password": Secret(CANARY)})
    assert (
        json.dumps({"password": Secret(CANARY)}, default=json_default) == '{"password": "********"}'
    )
    with pytest.raises(TypeError):
        pickle.dumps(Secret(CANARY))


def test_secret_in_exception_text_is_redacted():
    secret = Secret(CANARY)
    error = RuntimeError(f"login failed with {secret}")
    assert CANARY not in str(error)


def test_log_lines_are_scrubbed_even_when_a_device_echoes_the_value(capsys, tmp_path):
    Secret(CANARY)
    log_file = tmp_path / "log.jsonl"
    logsetup.configure(verbosity=1, log_format="json", log_file=log_file)
    log = logsetup.get_logger("test")
    log.info("device said: username admin secret %s", CANARY)
    log.warning("plain %s", Secret(CANARY))
    err = capsys.readouterr().err
    assert CANARY not in err
    assert REDACTED in err
    text = log_file.read_text()
    assert CANARY not in text and REDACTED in text
    for line in text.splitlines():
        json.loads(line)
    logging.getLogger(logsetup.LOGGER_NAME).handlers.clear()


def test_scrub_replaces_known_values():
    Secret("another-Known-value")
    assert scrub("x another-Known-value y") == f"x {REDACTED} y"


def test_logged_traceback_is_scrubbed_on_the_text_console(capsys):
    # log.exception (onboard's crashed stage) appends the traceback with the exception's own
    # text, which may carry a password a device or library echoed.
    Secret(CANARY)
    logsetup.configure(verbosity=0, log_format="text")
    log = logsetup.get_logger("test")
    try:
        raise RuntimeError(f"device echoed {CANARY}")
    except RuntimeError:
        log.exception("stage crashed")
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: device echoed" in err
    assert CANARY not in err
    logging.getLogger(logsetup.LOGGER_NAME).handlers.clear()
