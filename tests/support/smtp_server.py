"""A small SMTP server for the transport tests: PIPELINING on or off, scripted replies.

aiosmtpd never advertises PIPELINING, so it cannot show that a client batches its
commands. This one reads with plain `recv()` and keeps every chunk it received, so
a test can see which commands arrived in one write, and answers each command from
a script (`replies[(stage, address)]`) so any reply at any stage can be tested.
"""
from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    data: bytes


@dataclass
class ScriptedSmtpServer:
    pipelining: bool = True
    smtputf8: bool = True
    # (stage, address) -> reply line, stage one of "mail", "rcpt", "data" (after the body)
    replies: dict[tuple[str, str], str] = field(default_factory=dict)
    greeting: str = "220 scripted ESMTP"
    messages: list[Received] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    def __post_init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.1)  # so stop() is seen without a connection to wake accept()
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> ScriptedSmtpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def kill(self) -> None:
        """Die as a crashed relay does: stop listening and reset every open connection."""
        self.stop()
        for conn in list(self._conns):
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._conns.append(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        buffer = b""
        state = {"from": None, "rcpts": [], "data": None}

        def say(line: str) -> None:
            conn.sendall(line.encode() + b"\r\n")

        with conn, contextlib.suppress(OSError):  # OSError: the client went away mid-reply
            say(self.greeting)
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.chunks.append(chunk)
                buffer += chunk
                while True:
                    if state["data"] is not None:
                        end = buffer.find(b"\r\n.\r\n")
                        if end < 0 and not buffer.startswith(b".\r\n"):
                            break
                        body, buffer = (b"", buffer[3:]) if buffer.startswith(b".\r\n") else (
                            buffer[:end + 2], buffer[end + 5:])
                        state["data"] = None
                        reply = self.replies.get(("data", state["rcpts"][0] if state["rcpts"] else ""), "250 queued")
                        if reply.startswith("250"):
                            self.messages.append(Received(state["from"], list(state["rcpts"]), body))
                        say(reply)
                        continue
                    line_end = buffer.find(b"\r\n")
                    if line_end < 0:
                        break
                    line, buffer = buffer[:line_end].decode("utf-8", "replace"), buffer[line_end + 2:]
                    if not self._command(line, state, say):
                        return

    def _command(self, line: str, state: dict, say) -> bool:
        verb = line[:4].upper()
        argument = line.partition(":")[2].strip().split(" ")[0].strip("<>")
        if verb in ("EHLO", "HELO"):
            extensions = ["250-scripted", "250-8BITMIME"] + (["250-SMTPUTF8"] if self.smtputf8 else [])
            if self.pipelining:
                extensions.append("250-PIPELINING")
            say("\r\n".join(extensions) + "\r\n250 HELP")
        elif verb == "MAIL":
            reply = self.replies.get(("mail", argument), "250 sender ok")
            state.update({"from": argument if reply.startswith("250") else None, "rcpts": [], "options": line})
            say(reply)
            return not reply.startswith("421")
        elif verb == "RCPT":
            reply = self.replies.get(("rcpt", argument), "250 recipient ok")
            if state["from"] is None:
                reply = "503 5.5.1 need a MAIL command first"
            if reply.startswith("25"):
                state["rcpts"].append(argument)
            say(reply)
            return not reply.startswith("421")
        elif verb == "DATA":
            if state["rcpts"]:
                state["data"] = b""
                say("354 go ahead")
            else:
                say("554 no valid recipients")
        elif verb == "RSET":
            state.update({"from": None, "rcpts": [], "data": None})
            say("250 reset")
        elif verb == "NOOP":
            say("250 ok")
        elif verb == "QUIT":
            say("221 bye")
            return False
        else:
            say("502 not implemented")
        return True
