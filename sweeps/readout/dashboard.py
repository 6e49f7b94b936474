"""`sweep dashboard`: optuna-dashboard, live, on the storage a study lives in.

The same storage `sweep run` writes (the embedded journal file included), so the dashboard
shows trials while a sweep is still running. The dashboard can also change and delete
studies, so it listens on 127.0.0.1 unless the user names another address.
"""
from __future__ import annotations

import ipaddress

from torchsweep.sweeps.errors import DashboardError

LOCALHOST = "127.0.0.1"
DEFAULT_PORT = 8080   # optuna-dashboard's own default


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Dashboard:
    """optuna-dashboard bound to host:port (port 0 picks a free one); `serve` blocks."""

    def __init__(self, storage, study_name: str, host: str = LOCALHOST,
                 port: int = DEFAULT_PORT):
        import optuna_dashboard

        try:
            self._server = _make_server(host, port, optuna_dashboard.wsgi(storage))
        except OSError as error:  # in use, not permitted, or a host that does not resolve
            raise DashboardError(f"cannot listen on {host}:{port}: {error.strerror or error}; "
                                 "pick another --port or --host") from None
        self.host = host
        self.port = self._server.server_address[1]
        self._study_id = storage.get_study_id_from_name(study_name)

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/dashboard/studies/{self._study_id}"

    def serve(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()


def _make_server(host: str, port: int, application):
    """A threading WSGI server that logs nothing per request (one line per request would bury
    the URL). Its modules are imported here: `sweep --help` need not pay for them."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        # The page asks for several things at once; one thread each keeps it responsive.
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args) -> None:
            return None

    return make_server(host, port, application, server_class=Server,
                       handler_class=QuietHandler)
