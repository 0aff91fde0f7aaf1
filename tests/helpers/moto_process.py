"""The S3 server process itself: moto's server bound to a port the kernel picks, which it
prints on its first line.

Choosing a free port in the test process and handing it to `moto.server` raced: between
the choice and the bind, another process (a second pytest worker starting its own server)
could take the port. The losing server exited, and the tests went on talking to the
winner, which went away when that other worker was done with it ("cannot reach
127.0.0.1" in the middle of a test). A port bound here is ours for the process's life.
"""

from __future__ import annotations

import os

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    # Nobody reads the pipe after that line: anything printed later must not fill it.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    thread = server._thread
    assert thread is not None
    thread.join()


if __name__ == "__main__":
    main()
