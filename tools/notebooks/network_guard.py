"""No connection leaves this machine: Python refuses every address but loopback.

:func:`tools.notebooks.kernel.install_guard` copies this file as ``sitecustomize.py`` into a
folder on the kernels' ``PYTHONPATH``, so that Python runs it, and :func:`install`, at start-up.
Imported under its own name it changes nothing.
"""

from __future__ import annotations

import ipaddress
import socket

MESSAGE = "network access is disabled while tools.notebooks runs notebooks"


def is_local(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 scope allowed) is this machine's loopback."""
    if host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: object) -> None:
    host = address[0] if isinstance(address, tuple) and address else None
    if isinstance(host, str) and not is_local(host):
        raise OSError(f"{MESSAGE}: {host}")


def install() -> None:
    """Make ``socket`` refuse to connect to, or resolve, any host but loopback."""
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def guarded_connect(self, address):
        _check(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _check(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not is_local(name):
            raise socket.gaierror(socket.EAI_NONAME, f"{MESSAGE}: {name}")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo


if __name__ == "sitecustomize":
    install()
