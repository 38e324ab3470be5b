"""Who listens on a port, read from /proc (Linux): `vidmesh up` waits until the listener on each
of a child's ports is that child, not merely something, so another program on the port is named
instead of being mistaken for the child."""

from __future__ import annotations

import contextlib
import enum
import errno
import ipaddress
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"  # TCP state of a listening socket in /proc/net/tcp
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class PortUse:
    """A port a child listens on, and the setting that chose it."""

    port: int
    setting: str  # config path, e.g. "ports.valkey"
    index: int = 0  # worker i listens on its setting + i

    @property
    def variable(self) -> str:
        return "VIDMESH_" + self.setting.replace(".", "_").upper()

    def describe(self) -> str:
        shift = f" + worker index {self.index}" if self.index else ""
        return f"{self.setting}{shift} in the config file, or {self.variable}"


class Listener(enum.Enum):
    NONE = "nothing listens yet"
    OURS = "only the child listens"
    FOREIGN = "another program listens"


def listener(pid: int, host: str, port: int) -> Listener:
    """Whether port on host is listened on by process pid alone, by someone else, or by no one."""
    try:
        listening = _listening_inodes(pid, _addresses(host), port)
        if not listening:
            return Listener.NONE
        return Listener.OURS if listening <= _socket_inodes(pid) else Listener.FOREIGN
    except OSError:  # pid has just exited: its /proc entry is gone
        return Listener.NONE


def port_taken(host: str, port: int) -> bool:
    """Whether binding host:port fails with "address in use" (SO_REUSEADDR, as servers do)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def holders(host: str, port: int, besides: int) -> list[str]:
    """'pid N (name)' of the processes but `besides` listening on host:port that this user may inspect."""
    if sys.platform != "linux":
        return []
    inodes = _listening_inodes(os.getpid(), _addresses(host), port)
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if int(proc.name) != besides and _socket_inodes(int(proc.name)) & inodes:
                found.append(f"pid {proc.name} ({(proc / 'comm').read_text().strip()})")
    return found


def _addresses(host: str) -> set[IpAddress]:
    return {ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}


def _listening_inodes(pid: int, hosts: set[IpAddress], port: int) -> set[int]:
    """Inodes of the sockets listening on port at one of hosts (or on every address), in pid's
    network namespace."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, local_port = fields[1].split(":")
            if fields[3] == LISTEN and int(local_port, 16) == port and _covers(_address(address), hosts):
                inodes.add(int(fields[9]))
    return inodes


def _address(hex_address: str) -> IpAddress:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in the kernel's byte order."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(raw)


def _covers(listening: IpAddress, hosts: set[IpAddress]) -> bool:
    """Whether a socket listening on this address takes connections meant for one of hosts."""
    if listening.is_unspecified or any(h.is_unspecified for h in hosts):
        return True
    mapped = listening.ipv4_mapped if isinstance(listening, ipaddress.IPv6Address) else None
    return listening in hosts or mapped in hosts


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes
