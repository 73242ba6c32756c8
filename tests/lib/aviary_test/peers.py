"""SMTP peers for the relay to talk to: a threaded loopback server base and
a scripted SMTP server whose replies per recipient and per message are
scripted by the test, and which records every transaction it sees."""

import re
import socket
import threading
import time

from aviary_test.smtp import ConnectionClosed


class LoopbackServer:
    """A threaded TCP server on ip:port for the relay to talk to: each
    connection gets a thread running self._serve(conn, peer); log() keeps
    lines for failure messages. Subclasses set their state before calling
    __init__, which starts accepting."""

    label = "server"

    def __init__(self, ip, port, backlog=32, rcvbuf=None):
        self.ip, self.port = ip, port
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.lines = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((ip, port))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def log(self, text):
        with self.lock:
            self.lines.append(f"{time.strftime('%H:%M:%S')} {text}")

    def log_tail(self, n=40):
        with self.lock:
            return f"--- {self.label} {self.ip}:{self.port} ---\n" + "\n".join(self.lines[-n:])

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer), daemon=True).start()

    def _serve(self, conn, peer):
        raise NotImplementedError


class ScriptedSmtp(LoopbackServer):
    """A threaded SMTP server on ip:port whose replies are scripted.

    rcpt_script: {address: [reply, ...]}: the n-th RCPT for that address
      gets the n-th reply, the last one repeats; a reply is (code, text).
      Unlisted addresses get 250.
    data_reply(tx) -> (code, text): the reply to the end of DATA (default 250).
    Every transaction (from MAIL on) is recorded as a dict: mail (the whole
    MAIL line), sender, rcpts [(address, code)], data (bytes, unstuffed, or
    None), reply (code to the end of DATA or None), pipelined (more commands
    were already in the buffer when MAIL was read), session, time (monotonic,
    when MAIL arrived)."""

    label = "scripted SMTP"

    def __init__(self, ip, port, name="mx.scripted.test", rcpt_script=None, data_reply=None,
                 extensions=("PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES")):
        self.ip, self.port, self.name = ip, port, name
        self.rcpt_script = {k.lower(): list(v) for k, v in (rcpt_script or {}).items()}
        self.rcpt_seen = {}
        self.data_reply = data_reply or (lambda tx: (250, "2.0.0 Ok: queued"))
        self.extensions = extensions
        sizes = [int(e.split()[1]) for e in extensions if e.upper().startswith("SIZE ") and e.split()[1] != "0"]
        self.size_limit = sizes[0] if sizes else None
        self.transactions = []
        self.sessions = 0
        super().__init__(ip, port)

    def _serve(self, conn, peer):
        with self.lock:
            self.sessions += 1
            n = self.sessions
        self._session(conn, peer, n)

    def _session(self, conn, peer, n):
        conn.settimeout(60)
        buf = bytearray()

        def send(line):
            self.log(f"[{n}] S: {line}")
            conn.sendall(line.encode("utf-8") + b"\r\n")

        def read_line():
            while b"\r\n" not in buf:
                if self.stopping.is_set():
                    raise ConnectionClosed("stopping")
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionClosed("peer closed")
                buf.extend(chunk)
            i = buf.index(b"\r\n")
            line = bytes(buf[:i])
            del buf[:i + 2]
            return line

        tx = None
        try:
            self.log(f"[{n}] connect from {peer[0]}")
            send(f"220 {self.name} ESMTP scripted")
            for _ in range(10000):
                line = read_line().decode("utf-8", "replace")
                self.log(f"[{n}] C: {line}")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    lines = [self.name, *self.extensions]
                    for i, text in enumerate(lines):
                        send(f"250{'-' if i + 1 < len(lines) else ' '}{text}")
                elif verb == "HELO":
                    send(f"250 {self.name}")
                elif verb == "MAIL":
                    m = re.match(r"(?i)MAIL FROM:\s*<([^>]*)>", line)
                    size = re.search(r"(?i)\sSIZE=(\d+)", line)
                    if self.size_limit is not None and size and int(size.group(1)) > self.size_limit:
                        send("552 5.3.4 Message size exceeds fixed limit")  # RFC 1870 §6.1
                        continue
                    tx = {"mail": line, "sender": m.group(1) if m else None, "rcpts": [], "data": None,
                          "reply": None, "pipelined": len(buf) > 0, "session": n, "time": time.monotonic()}
                    with self.lock:
                        self.transactions.append(tx)
                    send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    m = re.match(r"(?i)RCPT TO:\s*<([^>]*)>", line)
                    address = m.group(1) if m else ""
                    if tx is None:
                        send("503 5.5.1 MAIL first")
                        continue
                    with self.lock:
                        seen = self.rcpt_seen.get(address.lower(), 0)
                        self.rcpt_seen[address.lower()] = seen + 1
                        script = self.rcpt_script.get(address.lower())
                    code, text = script[min(seen, len(script) - 1)] if script else (250, "2.1.5 Ok")
                    tx["rcpts"].append((address, code))
                    send(f"{code} {text}")
                elif verb == "DATA":
                    if tx is None or not any(200 <= c < 300 for _a, c in tx["rcpts"]):
                        send("554 5.5.1 No valid recipients")
                        continue
                    send("354 End data with <CR><LF>.<CR><LF>")
                    data = bytearray()
                    for _ in range(10_000_000):
                        raw = read_line()
                        if raw == b".":
                            break
                        data += (raw[1:] if raw.startswith(b".") else raw) + b"\r\n"
                    tx["data"] = bytes(data)
                    if self.size_limit is not None and len(data) > self.size_limit:
                        code, text = 552, "5.3.4 Message size exceeds fixed limit"
                    else:
                        code, text = self.data_reply(tx)
                    tx["reply"] = code
                    send(f"{code} {text}")
                    tx = None
                elif verb == "RSET":
                    tx = None
                    send("250 2.0.0 Ok")
                elif verb == "NOOP":
                    send("250 2.0.0 Ok")
                elif verb == "STARTTLS" and "STARTTLS" in self.extensions:
                    send("454 4.7.0 TLS not available due to temporary reason")  # RFC 3207 §4
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("502 5.5.2 Command not implemented")
        except (OSError, ConnectionClosed) as e:
            self.log(f"[{n}] closed: {e!r}")
        finally:
            conn.close()

    # -- what it saw ----------------------------------------------------------

    def snapshot(self):
        with self.lock:
            return [dict(tx, rcpts=list(tx["rcpts"])) for tx in self.transactions]

    def delivered_to(self, address):
        """Transactions whose data was accepted (2xx) with address accepted."""
        return [tx for tx in self.snapshot()
                if tx["reply"] is not None and 200 <= tx["reply"] < 300
                and any(a.lower() == address.lower() and 200 <= c < 300 for a, c in tx["rcpts"])]

    def rcpt_count(self, address):
        with self.lock:
            return self.rcpt_seen.get(address.lower(), 0)

