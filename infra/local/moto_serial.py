"""moto's server, answering one request at a time.

DynamoDB applies each conditional write atomically, and the idempotency ledger
relies on it: of two deliveries claiming one job, exactly one is granted. moto's
threaded server checks a condition and stores the item as separate Python
steps, so under load two concurrent claims can both pass the check. Holding one
lock over each request, response body included, gives the local DynamoDB the
atomicity of the real one. The server still gives each connection its own
thread; only the handling of requests takes turns.

Usage: the same arguments as `moto_server`.
"""

import threading

import moto.server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication


class SerialDispatcher(DomainDispatcherApplication):
    _one_at_a_time = threading.Lock()

    def __call__(self, environ, start_response):
        with self._one_at_a_time:
            # The body is read inside the lock too: a lazy response would
            # otherwise do part of its work after another request has begun.
            body = super().__call__(environ, start_response)
            try:
                return list(body)
            finally:
                if hasattr(body, "close"):
                    body.close()


if __name__ == "__main__":
    moto.server.DomainDispatcherApplication = SerialDispatcher
    moto.server.main()
