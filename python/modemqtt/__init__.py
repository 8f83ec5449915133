"""modemqtt: MQTT through the AT command sets of cellular modems.

One client API for the MQTT stacks built into SIMCom (CMQTT) modems and more, a virtual
modem that answers AT on a pty and speaks real MQTT, and an embedded broker for tests::

    import modemqtt

    with modemqtt.Modem("/dev/ttyUSB2") as modem:
        client = modem.mqtt("lab-42")
        client.connect("broker.example.org", 1883)
        client.publish("lab/42/temp", b"21.5", qos=1)

The user guide is in docs/ of the source tree; ``modemqtt demo`` shows a round trip.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

from . import _core
from ._core import *  # noqa: F403  (the names of _core.__all__)

try:
    __version__: str = _dist_version("modemqtt")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

# Nothing is printed unless the application configures logging ("modemqtt", "modemqtt.wire").
logging.getLogger("modemqtt").addHandler(logging.NullHandler())
# The virtual modem's and the embedded broker's internals (their MQTT libraries included)
# stay quiet under logging.basicConfig(level=logging.DEBUG): only warnings pass unless the
# application sets these loggers' levels itself.
for _name in ("modemqtt.sim", "modemqtt.broker"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)
del _name

# The core's names, less its log helper (``_core.flush_logs``, for tests and tools).
__all__: list[str] = []
__all__ += _core.__all__
__all__.remove("flush_logs")
