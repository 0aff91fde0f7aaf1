"""One tray per configuration: a second launch brings the first one's window forward.

The first instance holds a lock file and listens on a local socket (named after the
config folder, so test homes and real homes never meet). A second launch finds the lock
taken, connects, sends "show" and exits 0; the first emits `show_requested`.
"""

from __future__ import annotations

import hashlib
import logging
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from lifeboat.core.fsutil import FileLock
from lifeboat.core.private import private_dir
from lifeboat.foundation.paths import LifeboatPaths

log = logging.getLogger(__name__)

SHOW = b"show\n"
ACK = b"ok\n"
CONNECT_TIMEOUT_S = 5.0


def server_name(paths: LifeboatPaths) -> str:
    digest = hashlib.sha256(str(paths.config_file.parent).encode()).hexdigest()[:16]
    return f"lifeboat-tray-{digest}"


class SingleInstance(QObject):
    show_requested = Signal()

    def __init__(self, paths: LifeboatPaths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(paths)
        self._lock = FileLock(paths.run_dir / "tray.lock")
        self._run_dir = paths.run_dir
        self._server: QLocalServer | None = None
        self._sockets: list[QLocalSocket] = []

    def claim(self) -> bool:
        """True: we are the first instance (now listening). False: another one runs and
        was asked to show itself."""
        private_dir(self._run_dir, "run folder")
        if not self._lock.try_acquire():
            self._ask_first_to_show()
            return False
        QLocalServer.removeServer(self.name)  # a socket file left by a crashed instance
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning(
                "cannot listen on %s: %s; a second launch will not find this one",
                self.name,
                server.errorString(),
            )
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def release(self) -> None:
        for socket in self._sockets:
            socket.abort()
        self._sockets.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.release()

    def _on_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            self._sockets.append(socket)
            socket.readyRead.connect(self._read_messages)
            socket.disconnected.connect(self._forget_closed)
        self._read_messages()

    def _read_messages(self) -> None:
        for socket in list(self._sockets):
            if socket.bytesAvailable() and bytes(socket.readAll().data()).startswith(SHOW.strip()):
                socket.write(ACK)
                socket.flush()
                self.show_requested.emit()

    def _forget_closed(self) -> None:
        for socket in [
            s for s in self._sockets if s.state() == QLocalSocket.LocalSocketState.UnconnectedState
        ]:
            self._sockets.remove(socket)
            socket.deleteLater()

    def _ask_first_to_show(self) -> None:
        """Tell the running instance to show itself (it may still be starting)."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < deadline:
            socket = QLocalSocket()
            socket.connectToServer(self.name)
            if socket.waitForConnected(500):
                socket.write(SHOW)
                socket.flush()
                socket.waitForBytesWritten(500)
                socket.waitForReadyRead(2000)
                socket.disconnectFromServer()
                return
            time.sleep(0.1)
        log.warning("another Lifeboat tray holds %s but did not answer", self._lock.path)
