"""Where the de-identification key comes from: one order, used by ``serve`` and ``deid`` alike.

1. ``--key-file`` on the command line;
2. ``$DEIDNODE_KEY_FILE``;
3. ``keys.key_file`` in the config;
4. ``--ephemeral-key``: a random key for this run only.

Without any of them the command refuses to run: pseudonyms made with a forgotten random key cannot be kept
consistent across runs, which splits studies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .engine.keys import Keys
from .errors import ConfigError

KEY_FILE_ENV = "DEIDNODE_KEY_FILE"


def key_source(
    cli_key_file: str | os.PathLike[str] | None,
    config_key_file: Path | None,
    *,
    environ: Mapping[str, str] = os.environ,
) -> tuple[str, Path] | None:
    """(where it was named, path) of the key file to use, in the documented order; None when none is named."""
    if cli_key_file:
        return "--key-file", Path(cli_key_file)
    if environ.get(KEY_FILE_ENV):
        return f"${KEY_FILE_ENV}", Path(environ[KEY_FILE_ENV])
    if config_key_file is not None:
        return "keys.key_file", Path(config_key_file)
    return None


def load_keys(
    cli_key_file: str | os.PathLike[str] | None,
    config_key_file: Path | None,
    *,
    ephemeral: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> tuple[Keys, str]:
    """The key and where it came from (``--key-file``, ``$DEIDNODE_KEY_FILE``, ``keys.key_file``, ``ephemeral``)."""
    source = key_source(cli_key_file, config_key_file, environ=environ)
    if source is not None:
        return Keys.from_file(source[1]), source[0]
    if ephemeral:
        return Keys.ephemeral(), "ephemeral"
    raise ConfigError(
        "config error: keys.key_file: no de-identification key; give --key-file, "
        f"${KEY_FILE_ENV} or keys.key_file in the config (make one with: head -c 32 /dev/urandom > deid.key), "
        "or --ephemeral-key"
    )
