"""The e2e helpers' port choice: a port is handed out once, so peers started together never collide."""

from __future__ import annotations

import peers  # noqa: E402  (sys.path set by conftest)


class _Repeating:
    """A generator that draws the same port again and again before another one."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def randint(self, _a: int, _b: int) -> int:
        return self.ports.pop(0) if len(self.ports) > 1 else self.ports[0]


def test_a_port_is_not_handed_out_twice_before_it_is_bound(monkeypatch) -> None:
    first = peers.free_port()
    other = first + 1 if first + 1 < peers._ephemeral_low() else first - 1
    monkeypatch.setattr(peers, "_PORTS", _Repeating([first, first, first, other]))
    assert peers.free_port() == other
