"""A keyring backend for the lab, the tests and the benchmarks only.

It is keyrings.cryptfile (real AES-GCM encryption at rest, the same file format and code
path as on a jump host) with a cheap Argon2 key derivation: the production default costs
~0.4 s per keyring operation, which turns a 50-device rotation test into minutes. Never
select it for a real client: `keyturn doctor` flags it.
"""

from __future__ import annotations

from keyrings.cryptfile.cryptfile import CryptFileKeyring


class LabCryptFileKeyring(CryptFileKeyring):
    filename = "keyturn_lab_keyring.cfg"
    time_cost = 1
    memory_cost = 2**10
    parallelism = 1
