"""Password policies per platform: length limits and the characters a CLI passes through.

A generated password must survive the device's command parser unchanged, so each policy
lists what is safe rather than what is forbidden: `?` opens IOS context help, `"` and `\\`
break quoting on FortiOS and Junos, `#`, `>` and `$` look like prompts to a screen
scraper, and a space ends a token everywhere.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from agent.core.identifiers import control_characters
from agent.core.secret import Secret

# Safe on every CLI keyturn drives: no quote, backslash, space, `?`, `!` at line start
# (IOS comment), prompt characters, or shell/RouterOS metacharacters.
SAFE_SYMBOLS = "-_.,:+@*~"
CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
DEFAULT_LENGTH = 24
# Characters a network CLI reads as syntax (token end, help, comment, quoting, prompt,
# variables, pipes): never inside a value keyturn sends in a command.
CLI_SPECIALS = " \t\"'\\?!#$;|&<>`{}[]"


@dataclass(frozen=True)
class PasswordPolicy:
    """What one platform accepts; ``generate`` always includes every character class so a
    device-side complexity rule ("at least one upper case letter") never rejects it."""

    min_length: int = 12
    max_length: int = 64
    symbols: str = SAFE_SYMBOLS
    # What this platform's CLI parses inside a command (see CLI_SPECIALS).
    specials: str = CLI_SPECIALS
    # Network CLIs read bytes, not UTF-8: a multi-byte character is not one character there.
    ascii_only: bool = True

    def length_for(self, requested: int | None) -> int:
        wanted = requested or DEFAULT_LENGTH
        return max(self.min_length, min(wanted, self.max_length))

    def generate(self, length: int | None = None) -> Secret:
        size = self.length_for(length)
        groups = [*CLASSES, self.symbols] if self.symbols else list(CLASSES)
        alphabet = "".join(groups)
        while True:
            # A symbol first or last can be trimmed or misread by some parsers; keep the
            # edges alphanumeric and retry until every class is present.
            chars = [secrets.choice(alphabet) for _ in range(size)]
            if not (chars[0].isalnum() and chars[-1].isalnum()):
                continue
            if all(any(c in group for c in chars) for group in groups):
                return Secret("".join(chars))

    def unsafe(self, password: Secret) -> str | None:
        """Why ``password`` cannot be sent inside a command on this platform (a control
        character, a character its CLI parses), or None. Length and alphabet do not matter
        here: an inherited password must still be usable to log in and be replaced."""
        value = password.reveal()
        if not value:
            return "the password is empty"
        controls = control_characters(value)
        if controls:
            return f"the password holds control characters ({', '.join(controls[:3])})"
        if any(c.isspace() for c in value):
            return "the password holds white space, which ends a token"
        if self.ascii_only and not value.isascii():
            return "the password holds characters outside ASCII, which this CLI cannot take"
        special = sorted({c for c in value if c in self.specials})
        if special:
            return f"the password holds {''.join(special)!r}, which this platform's CLI parses"
        return None

    def refusal(self, password: Secret) -> str | None:
        """Why ``password`` does not fit this policy (one line, no secret), or None."""
        unsafe = self.unsafe(password)
        if unsafe:
            return unsafe
        value = password.reveal()
        if not self.min_length <= len(value) <= self.max_length:
            return (
                f"the password has {len(value)} characters; this platform takes "
                f"{self.min_length}-{self.max_length}"
            )
        allowed = set("".join(CLASSES)) | set(self.symbols)
        if not set(value) <= allowed:
            return f"the password holds characters other than letters, digits and {self.symbols!r}"
        return None

    def accepts(self, password: Secret) -> bool:
        """True when ``password`` fits this policy (vets imported, manual and generated
        values before they are sent); ``refusal`` says why not."""
        return self.refusal(password) is None
