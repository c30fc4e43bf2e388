"""Checks of the environment a configuration needs, run by ``check-config`` and at the start of ``serve``.

One validation for both commands (issue 10 item 9): what ``check-config`` passes, ``serve`` can start with. Each
problem is one line, ``error: <what>: <which path or port>: <reason>`` (or ``warning: ...``), never a traceback.
Nothing here writes anything except a probe file that is removed at once.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import TLS, Settings
from .errors import ConfigError, os_error_name


@dataclass(frozen=True)
class Problem:
    what: str
    where: str
    reason: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{'error' if self.fatal else 'warning'}: {self.what}: {self.where}: {self.reason}"


def check(
    settings: Settings,
    *,
    key_file: Path | None = None,
    key_named_by: str = "",
    ephemeral_key: bool = False,
    key_required: bool = False,
    probe_ocr: bool = True,
) -> list[Problem]:
    """Every problem found (fatal ones make ``serve`` and ``check-config`` exit with status 2). A missing key
    is fatal with ``key_required`` (``serve``), a warning otherwise (``check-config``: serve may get
    ``--key-file``)."""
    problems: list[Problem] = []
    problems += _config_problems(settings)
    problems += _writable("spool folder", settings.spool.path)
    problems += _writable("quarantine folder", settings.quarantine_path)
    for d in settings.destinations:
        if d.type == "folder" and d.path is not None:
            problems += _writable(f"destination '{d.name}' folder", d.path)
    if settings.audit.path is not None:
        problems += _writable("audit folder", settings.audit.path.parent)
    if settings.node.tls is not None:
        problems += _tls("node.tls", settings.node.tls, server=True)
    for d in settings.destinations:
        if d.tls is not None:
            problems += _tls(f"destination '{d.name}' tls", d.tls, server=False)
    problems += _key(key_file, key_named_by, ephemeral_key, key_required)
    problems += _free_space(settings)
    problems += _header_stores(settings)
    if probe_ocr and _pixels_used(settings):
        problems += _ocr(settings)
    return problems


def _config_problems(settings: Settings) -> Iterator[Problem]:
    """What only shows when rules files are read and profiles built: routes, profiles."""
    from .routing import Router

    try:
        Router(settings)
    except ConfigError as e:
        yield Problem("routes", str(settings.routes_file), str(e).removeprefix("config error: "))
    from .engine import Policy

    for name in settings.profiles:
        try:
            Policy.from_settings(settings, name)
        except (ConfigError, ValueError) as e:
            yield Problem("profile", name, str(e).removeprefix("config error: "))


def _header_stores(settings: Settings) -> list[Problem]:
    """The study lexicon's and the mapping store's folders, the mapping key (and that it opens an existing
    store), and header NER's models (docs/header.md)."""
    problems: list[Problem] = []
    if settings.lexicon.enabled and settings.lexicon.path is not None:
        problems += _writable("lexicon folder", settings.lexicon.path.parent)
    m = settings.mapping
    if m.enabled:
        problems += _writable("mapping folder", m.path.parent)
        from .mapping.store import MappingKeyError, MappingStore, load_mapping_key

        try:
            key = load_mapping_key(m.key_file)  # type: ignore[arg-type]
            if m.path.is_file():
                MappingStore(m.path, key).close()
        except ConfigError as e:
            problems.append(Problem("mapping key", str(m.key_file), str(e).split(": ")[-1]))
        except MappingKeyError:
            problems.append(Problem("mapping key", str(m.key_file), f"does not open the store {m.path}"))
    models = settings.header.stanza_models_dir
    if models is not None:
        import importlib.util

        if importlib.util.find_spec("stanza") is None:
            problems.append(Problem("header NER", str(models), "the 'stanza' package is not installed"))
        elif not (models / "en").is_dir():
            problems.append(Problem("header NER", str(models), "no stanza 'en' models in this folder"))
    return problems


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _writable(what: str, path: Path) -> list[Problem]:
    """The folder exists and a file can be created in it, or it can be created (its nearest existing parent
    is a writable folder)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        return [Problem(what, str(p), "exists and is not a folder")]
    base = p if p.is_dir() else _nearest_existing(p)
    if not base.is_dir():
        return [Problem(what, str(p), f"{base} is not a folder")]
    try:
        fd, probe = tempfile.mkstemp(prefix=".deidnode-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return [Problem(what, str(p), f"not writable ({os_error_name(e)}{' at ' + str(base) if base != p else ''})")]
    return []


def _tls(what: str, tls: TLS, *, server: bool) -> list[Problem]:
    for name in ("cert", "key", "ca"):
        f = getattr(tls, name)
        if f is not None and not Path(f).is_file():
            return [Problem(f"{what}.{name}", str(f), "no such file")]
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH)
        ctx.load_cert_chain(tls.cert, tls.key)
        if tls.ca is not None:
            ctx.load_verify_locations(tls.ca)
    except (ssl.SSLError, OSError) as e:
        cause = getattr(e, "reason", None) or os_error_name(e)
        return [Problem(what, str(tls.cert), f"cannot load the certificate, key or CA ({cause})")]
    return []


def _key(key_file: Path | None, named_by: str, ephemeral: bool, required: bool) -> list[Problem]:
    if key_file is None:
        if ephemeral:
            return []
        return [
            Problem(
                "key",
                "(none)",
                "no de-identification key: give --key-file, $DEIDNODE_KEY_FILE or "
                "keys.key_file (make one with: head -c 32 /dev/urandom > deid.key), or --ephemeral-key",
                fatal=required,
            )
        ]
    from .engine.keys import MIN_KEY_BYTES, Keys

    try:
        Keys.from_file(key_file)
    except ConfigError:
        try:
            size = key_file.stat().st_size
        except OSError as e:
            return [Problem(f"key ({named_by})", str(key_file), f"cannot read it ({os_error_name(e)})")]
        return [Problem(f"key ({named_by})", str(key_file), f"holds {size} bytes, needs at least {MIN_KEY_BYTES}")]
    return []


def _free_space(settings: Settings) -> list[Problem]:
    base = _nearest_existing(settings.spool.path)
    try:
        st = os.statvfs(base)
    except OSError:
        return []
    free = st.f_bavail * st.f_frsize
    if free < settings.spool.min_free_bytes:
        return [
            Problem(
                "spool free space",
                str(settings.spool.path),
                f"{free} bytes free, below spool.min_free_bytes ({settings.spool.min_free_bytes}): "
                "instances are refused (0xA701) until space is freed",
                fatal=False,
            )
        ]
    return []


def _pixels_used(settings: Settings) -> bool:
    policies = {settings.pixels.policy, *settings.pixels.policy_by_modality.values()}
    policies |= {p.pixel_policy for p in settings.profiles.values() if p.pixel_policy is not None}
    return policies != {"off"}


def _ocr(settings: Settings) -> list[Problem]:
    """Import the pixel stage and each configured OCR engine (the reader, and the verification's second reader)
    in a child process (a missing system library such as libGL shows only then); the child's last error line is
    the reason, the engine that failed is named."""
    engines = [settings.pixels.ocr.engine]
    if settings.pixels.second_reader == "tesseract" and "tesseract" not in engines:
        engines.append("tesseract")
    from .engine.pixels.ocr import BACKENDS

    for engine in engines:
        code = (
            "import importlib, sys\n"
            "import deidnode.engine.pixels.stage\n"
            f"mod = importlib.import_module('deidnode.engine.pixels.ocr.{BACKENDS[engine]}')\n"
            "for m in mod.REQUIRES:\n"
            "    if '(' not in m: importlib.import_module(m)\n"
            "if not mod.is_available(): sys.exit('needs: ' + ', '.join(mod.REQUIRES))\n"
        )
        try:
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            return [Problem("OCR engine", engine, f"cannot be checked ({type(e).__name__})")]
        if r.returncode != 0:
            last = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
            reason = last[-1] if last else f"exit status {r.returncode}"
            return [Problem("OCR engine", engine, f"cannot be loaded: {reason}")]
    return []
