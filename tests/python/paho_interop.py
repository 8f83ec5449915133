"""Runs Eclipse Paho's MQTT 3.1.1 interoperability suite (client_test.py) against a broker.

    python paho_interop.py HOST PORT RESULT_JSON [TEST_NAME ...]

The suite is pinned unmodified under tests/thirdparty/paho.mqtt.testing. Its ``__main__`` block
reads ``--hostname``/``--port`` with getopt and then calls ``unittest.main()``, which would parse
the same command line again and reject those options. So this runner executes client_test.py as
``__main__`` with only the getopt options on ``sys.argv`` and hands ``unittest.main`` the test
names instead (all of the suite's tests when none are given). It writes
``{"ran": N, "passed": [name, ...], "failed": {name: traceback or reason}}`` to RESULT_JSON
and exits 0 when every test passed.
"""

from __future__ import annotations

import json
import runpy
import sys
import unittest
from pathlib import Path
from typing import Any

SUITE = (
    Path(__file__).resolve().parents[1]
    / "thirdparty"
    / "paho.mqtt.testing"
    / "interoperability"
    / "client_test.py"
)


def _name(test: unittest.TestCase) -> str:
    return test.id().rsplit(".", 1)[-1]


class _Recording(unittest.TextTestResult):
    """Also records the names of the tests that passed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passed: list[str] = []

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().addSuccess(test)
        self.passed.append(_name(test))


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, out = argv[0], argv[1], Path(argv[2])
    names = [f"Test.{n}" for n in argv[3:]]
    outcome: dict[str, Any] = {}
    real_main = unittest.main

    def run_selected(*_args: Any, **_kwargs: Any) -> None:
        runner = unittest.TextTestRunner(verbosity=2, resultclass=_Recording)
        program = real_main(
            module="__main__", argv=[str(SUITE), *names], exit=False, testRunner=runner
        )
        result = program.result
        assert isinstance(result, _Recording)
        failed = {_name(t): tb for t, tb in result.failures + result.errors}
        failed.update({_name(t): "unexpected success" for t in result.unexpectedSuccesses})
        failed.update({_name(t): f"skipped: {why}" for t, why in result.skipped})
        outcome["ran"] = result.testsRun
        outcome["passed"] = result.passed
        outcome["failed"] = failed

    # The suite imports its own package ``mqtt`` from the folder it lives in.
    sys.path.insert(0, str(SUITE.parent))
    sys.argv = [str(SUITE), "--hostname", host, "--port", port]
    unittest.main = run_selected  # type: ignore[assignment]
    try:
        runpy.run_path(str(SUITE), run_name="__main__")
    finally:
        unittest.main = real_main  # type: ignore[misc]
    out.write_text(json.dumps(outcome))
    return 0 if outcome.get("passed") and not outcome.get("failed") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
