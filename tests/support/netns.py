"""Test hosts: Linux network namespaces joined to this machine by veth links.

Each host gets a namespace of its own and a /30 on a veth pair whose outer end stays
here, so a process started in it reaches this machine only through that link, and
`cut()` takes the link down the way a pulled cable would: packets vanish, nothing is
refused. PostgreSQL and Redis listen on loopback only, so `Forwarder` relays TCP from
the hosts' side of the links to them. Everything lives in private addresses made up
by the test run and is removed at the end.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from dataclasses import dataclass


class NoNamespaces(Exception):
    """This machine cannot make network namespaces (no `ip`, not root, no permission)."""


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise NoNamespaces(f"`{' '.join(command)}` failed: {done.stderr.strip()}")


@dataclass
class Host:
    netns: str
    outer: str  # the veth end on this machine
    here: str  # this machine's address on the link, as the host sees it
    address: str  # the host's own address

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the host."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def cut(self) -> None:
        _ip("link", "set", self.outer, "down")

    def mend(self) -> None:
        _ip("link", "set", self.outer, "up")


def make_hosts(run_id: str, count: int, subnet: int) -> list[Host]:
    """`count` hosts on 10.<subnet>.<i>.0/30 links; raises NoNamespaces where impossible."""
    if shutil.which("ip") is None:
        raise NoNamespaces("the `ip` command (iproute2) is not installed")
    hosts: list[Host] = []
    try:
        for i in range(count):
            host = Host(f"nl-{run_id}-{i}", f"nlo{run_id[:6]}{i}", f"10.{subnet}.{i}.1", f"10.{subnet}.{i}.2")
            inner = f"nli{run_id[:6]}{i}"
            _ip("netns", "add", host.netns)
            hosts.append(host)
            _ip("link", "add", host.outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", host.netns)
            _ip("addr", "add", f"{host.here}/30", "dev", host.outer)
            _ip("link", "set", host.outer, "up")
            _ip("link", "set", "lo", "up", netns=host.netns)
            _ip("addr", "add", f"{host.address}/30", "dev", inner, netns=host.netns)
            _ip("link", "set", inner, "up", netns=host.netns)
    except NoNamespaces:
        remove_hosts(hosts)
        raise
    return hosts


def remove_hosts(hosts: list[Host]) -> None:
    for host in hosts:
        subprocess.run(["ip", "link", "del", host.outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)


class Forwarder:
    """TCP from `listen_port` on the `listen` addresses to `target_port` on loopback;
    `sent` counts the bytes that went upstream, to tell which host was talking."""

    def __init__(self, target_port: int, listen: list[str], listen_port: int):
        self.target_port, self.listen, self.listen_port = target_port, listen, listen_port
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                self.sent += len(data) if upstream else 0
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer, True), self._pipe(up_reader, writer, False))

    def start(self) -> Forwarder:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, self.listen, self.listen_port), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
