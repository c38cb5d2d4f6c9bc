"""A small IMAP4rev1 server over TLS, for the bounce mailbox poller's tests.

It speaks the part of the protocol a mailbox poller needs (CAPABILITY, LOGIN,
SELECT, UID SEARCH UNSEEN, UID FETCH BODY.PEEK[], UID STORE +FLAGS, LOGOUT) over a
real TLS socket with a certificate it makes for `localhost`, so the poller runs its
own `imaplib` and certificate checks unchanged; `ca_file` is what a client must
trust. `fail_store` makes the next STOREs fail, as a connection lost after the
commit and before the flag would.
"""
from __future__ import annotations

import datetime
import ipaddress
import shlex
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Message:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "imap-cert.pem", directory / "imap-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class ImapServer:
    def __init__(self, directory: Path, user: str, password: str):
        self.user, self.password = user, password
        self.messages: list[Message] = []
        self.fail_store = 0
        self.lock = threading.Lock()
        self.ca_file, key_file = _certificate(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def setup(self):
                self.request = context.wrap_socket(self.request, server_side=True)
                super().setup()

            def handle(self):
                server._session(self.rfile, self.wfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def add(self, raw: bytes) -> None:
        with self.lock:
            self.messages.append(Message(len(self.messages) + 1, raw))

    def seen(self) -> list[int]:
        return [m.uid for m in self.messages if "\\Seen" in m.flags]

    def start(self) -> ImapServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _session(self, rfile, wfile) -> None:
        wfile.write(b"* OK [CAPABILITY IMAP4rev1] test server ready\r\n")
        logged_in = False
        while line := rfile.readline():
            tag, _, rest = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                wfile.write(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
            elif command == "LOGIN":
                user, password = shlex.split(args)
                logged_in = (user, password) == (self.user, self.password)
                wfile.write(f"{tag} {'OK logged in' if logged_in else 'NO [AUTHENTICATIONFAILED] wrong'}\r\n".encode())
            elif command == "LOGOUT":
                wfile.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return
            elif not logged_in:
                wfile.write(f"{tag} BAD log in first\r\n".encode())
            elif command == "SELECT":
                wfile.write(f"* {len(self.messages)} EXISTS\r\n* FLAGS (\\Seen)\r\n"
                            f"{tag} OK [READ-WRITE] selected\r\n".encode())
            elif command == "UID":
                wfile.write(self._uid(tag, args))
            else:
                wfile.write(f"{tag} BAD unknown command\r\n".encode())
            wfile.flush()

    def _uid(self, tag: str, args: str) -> bytes:
        verb, _, rest = args.partition(" ")
        verb = verb.upper()
        with self.lock:
            if verb == "SEARCH":
                unseen = " ".join(str(m.uid) for m in self.messages if "\\Seen" not in m.flags)
                return f"* SEARCH {unseen}\r\n{tag} OK done\r\n".encode()
            uid = int(rest.split(" ", 1)[0])
            message = next((m for m in self.messages if m.uid == uid), None)
            if message is None:
                return f"{tag} OK no such message\r\n".encode()
            if verb == "FETCH":
                head = f"* {uid} FETCH (UID {uid} BODY[] {{{len(message.raw)}}}\r\n".encode()
                return head + message.raw + f")\r\n{tag} OK done\r\n".encode()
            if verb == "STORE":
                if self.fail_store:
                    self.fail_store -= 1
                    return f"{tag} NO [UNAVAILABLE] try later\r\n".encode()
                message.flags.add("\\Seen")
                return f"* {uid} FETCH (UID {uid} FLAGS (\\Seen))\r\n{tag} OK done\r\n".encode()
        return f"{tag} BAD unknown UID command\r\n".encode()
