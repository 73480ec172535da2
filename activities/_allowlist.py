"""Which URLs `http` actions and webhook sinks may reach, and the address to connect to.

A workflow file is written by users the worker does not trust with its network, so
an allow-list entry names a host *and a port* (``hooks.example.com`` means ports 80
and 443 only; ``hooks.example.com:8443`` that one port), and the host's addresses
are checked too: an address that is not globally routable (loopback, private,
link-local, carrier-grade NAT, ...) is refused unless it is allowed explicitly,
either by an entry that *is* that address (``127.0.0.1:8080``, ``[::1]:8080``) or
by a network in ``LLM_ORCHESTRATOR_HTTP_ALLOW_NETWORKS`` (``10.0.0.0/8``). The
request then goes to the checked address itself, with the name kept for the
``Host`` header and TLS (SNI and certificate), so a DNS answer that changes between
check and connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["AllowList", "NotAllowed", "Target"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ALLOW_ENV = "LLM_ORCHESTRATOR_HTTP_ALLOW"
_NETWORKS_ENV = "LLM_ORCHESTRATOR_HTTP_ALLOW_NETWORKS"


class NotAllowed(Exception):
    """The URL may not be called; the message says why and what to allow."""


@dataclass(frozen=True)
class Target:
    """Where one request goes: the URL with the checked address in place of the name."""

    url: str
    """The request URL, its host replaced by the checked IP address."""
    host_header: str
    """The ``Host`` header: the name (and non-default port) of the original URL."""
    sni_hostname: str | None
    """For https: the name TLS must present and verify (None for http)."""


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def _entry(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``v4:port``, ``[v6]:port`` or a bare v6 address."""
    text = text.strip().lower()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        number = int(port) if port is not None else None
    except ValueError:
        number = -1
    if not host or (number is not None and not 0 < number < 65536):
        raise ValueError(f"{_ALLOW_ENV}: `{text}` is not `host` or `host:port`")
    address = _ip(host)
    return (str(address) if address else host), number


@dataclass(frozen=True)
class AllowList:
    """The worker's allow-list: (host, port or None for the scheme's default) pairs,
    and the non-public networks that may be reached by name."""

    entries: frozenset[tuple[str, int | None]]
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], networks: Iterable[str] = ()) -> AllowList:
        """Read the settings' entries; a malformed one is an error at worker start."""
        nets: list[IPNetwork] = []
        for text in networks:
            try:
                nets.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{_NETWORKS_ENV}: `{text}` is not a network") from None
        return cls(frozenset(_entry(e) for e in entries if e.strip()), tuple(nets))

    def describe(self) -> str:
        return ", ".join(
            sorted(
                (f"[{h}]" if ":" in h else h) + (f":{p}" if p is not None else "")
                for h, p in self.entries
            )
        )

    async def check(self, url: str) -> Target:
        """The target to connect to for ``url``, or :class:`NotAllowed`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise NotAllowed(f"`{url}` is not an http or https URL")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise NotAllowed(f"`{url}` has an invalid port") from None
        literal = _ip(parts.hostname or "")
        host = str(literal) if literal else (parts.hostname or "").lower().rstrip(".")
        default = port == _DEFAULT_PORTS[scheme]
        shown = (f"[{host}]" if ":" in host else host) + ("" if default else f":{port}")
        if (host, port) not in self.entries and not (default and (host, None) in self.entries):
            raise NotAllowed(
                f"`{shown}` is not allowed for http actions; add `{shown}` to {_ALLOW_ENV} "
                "on the worker" + (f" (allowed now: {self.describe()})" if self.entries else "")
            )
        if literal is not None:
            # an entry naming the address itself is the explicit permission
            address = literal
        else:
            address = await self._resolve(host, port, shown)
        netloc = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
        userinfo = parts.netloc.rpartition("@")[0]
        if userinfo:
            netloc = f"{userinfo}@{netloc}"
        return Target(
            url=urlunsplit((scheme, netloc, parts.path, parts.query, "")),
            host_header=shown if literal is None else parts.netloc.rpartition("@")[2],
            sni_hostname=host if scheme == "https" and literal is None else None,
        )

    async def _resolve(self, host: str, port: int, shown: str) -> IPAddress:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise NotAllowed(f"cannot resolve `{host}`: {exc}") from None
        addresses = [a for a in (_ip(str(info[4][0])) for info in infos) if a is not None]
        for address in addresses:
            if address.is_global or any(address in net for net in self.networks):
                return address
        listed = ", ".join(dict.fromkeys(str(a) for a in addresses)) or "nothing"
        raise NotAllowed(
            f"`{shown}` resolves to {listed}, not a public address; allow the address "
            f"itself in {_ALLOW_ENV} (e.g. `{addresses[0] if addresses else '10.0.0.5'}:"
            f"{port}`) or its network in {_NETWORKS_ENV}"
        )
