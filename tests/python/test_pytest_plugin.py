"""The pytest plugin (entry point pytest11), exercised through pytester as a user suite."""

from __future__ import annotations

from pathlib import Path

import modemqtt
import pytest

pytest_plugins = ["pytester"]

SUITE = """
import modemqtt
import pytest

def test_modem_answers(modem):
    assert modem.info().family == "cmqtt"

def test_roundtrip(mqtt_client):
    mqtt_client.subscribe("plugin/+/x", qos=1)
    mqtt_client.publish("plugin/a/x", b"hi", qos=1)
    assert mqtt_client.wait_message("plugin/+/x", timeout=10).payload == b"hi"

def test_broker_url(mqtt_broker):
    assert mqtt_broker.startswith("mqtt://")

def test_virtual_modem_is_virtual(virtual_modem):
    assert virtual_modem.port.startswith("/dev/")
"""


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--modem-port*", "*--modem-profile*", "*--mqtt-broker*"])


def test_suite_runs_on_virtual_modems_without_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_modem_profile_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_model(modem):
            assert modem.info().model == "SIM7028"
        """
    )
    pytester.runpytest("--modem-profile", "sim7028").assert_outcomes(passed=1)
    bad = pytester.runpytest("--modem-profile", "nokia3310")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--modem-profile 'nokia3310': unknown*"])


def test_marker_skips_with_the_reason_or_picks_a_profile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.modem(family="no-such-family")
        def test_other_family(modem):
            raise AssertionError("must not run")

        @pytest.mark.modem(clients=2, tls=True)
        def test_two_clients(modem, mqtt_client):
            assert mqtt_client.capabilities()["clients"] >= 2

        @pytest.mark.modem(profile="sim7028")
        def test_picks_the_profile(modem):
            assert modem.info().model == "SIM7028"

        @pytest.mark.modem(clients=7)
        def test_too_many(modem):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*needs MQTT family no-such-family, the modem has cmqtt*",
            "*needs clients >= 7*",
        ]
    )


def test_marker_with_a_chosen_profile_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.modem(clients=2)
        def test_two(modem):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest("--modem-profile", "sim7028", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs clients >= 2, the modem (sim7028) has 1*"])


def test_unknown_capability_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.modem(warp_drive=True)
        def test_x(modem):
            pass
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*unknown capability 'warp_drive'*"])
    assert result.ret != 0


def test_failure_report_carries_the_masked_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from urllib.parse import urlsplit

        def test_fails(modem, mqtt_broker):
            u = urlsplit(mqtt_broker)
            client = modem.mqtt("transcript-test")
            client.connect(u.hostname, u.port, username="lab", password="Sup3rSecret")
            modem.command("AT+CSQ")
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- modem transcript -*", "* tx AT+CSQ\\r*"])
    section = result.stdout.str().split("- modem transcript -", 1)[1]
    assert "AT+CMQTTCONNECT" in section
    assert "Sup3rSecret" not in section
    assert '"***"' in section


def test_lab_port_runs_the_same_suite_on_given_hardware(pytester: pytest.Pytester) -> None:
    # A virtual modem stands in for the lab modem: the plugin only sees a port.
    with modemqtt.VirtualModem("sim7600") as lab:
        pytester.makepyfile(
            test_suite=SUITE
            + """
def test_on_the_lab_modem(modem):
    assert modem.info().model == "SIMCOM_SIM7600E-H"
"""
        )
        # "--modem-port=PORT": pytest guesses its rootdir from arguments that look like
        # paths before plugins load, so a separate "/dev/..." argument would count as one.
        result = pytester.runpytest(
            f"--modem-port={lab.port}", f"--mqtt-broker={lab.broker_url}", "-p", "no:cacheprovider"
        )
        result.assert_outcomes(passed=5)
        without_broker = pytester.runpytest(f"--modem-port={lab.port}", "-k", "roundtrip")
        without_broker.assert_outcomes(errors=1)
        without_broker.stdout.fnmatch_lines(["*needs a broker it can reach: give --mqtt-broker*"])


def test_port_list_file_and_xdist_workers_never_share(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist not installed (make deps)")
    out = tmp_path / "seen"
    out.mkdir()
    with modemqtt.VirtualModem("a7600") as a, modemqtt.VirtualModem("sim7600") as b:
        listing = pytester.path / "lab.txt"
        listing.write_text(f"# lab bench 1\n{a.port}\n{b.port}  # second\n")
        pytester.makepyfile(
            f"""
            import os, time
            import pytest

            @pytest.mark.parametrize("n", range(6))
            def test_hold(modem, n):
                worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
                with open(os.path.join({str(out)!r}, worker), "a") as f:
                    f.write(modem.port + "\\n")
                time.sleep(0.2)
            """
        )
        result = pytester.runpytest_subprocess(
            "-n", "2", f"--modem-port=@{listing}", "-p", "no:cacheprovider"
        )
        result.assert_outcomes(passed=6)
        seen = {p.name: set(p.read_text().split()) for p in out.iterdir()}
        assert len(seen) == 2, seen
        ports = list(seen.values())
        assert all(len(s) == 1 for s in ports), seen  # one modem per worker, all along
        assert ports[0] != ports[1]  # never shared

        # More workers than modems: the extra worker fails with the reason.
        single = pytester.path / "one.txt"
        single.write_text(f"{a.port}\n")
        crowded = pytester.runpytest_subprocess(
            "-n", "2", f"--modem-port=@{single}", "-p", "no:cacheprovider"
        )
        assert crowded.ret != 0
        crowded.stdout.fnmatch_lines(["*all 1 lab modems are in use*"])


def test_empty_port_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    (pytester.path / "empty.txt").write_text("# nothing\n")
    result = pytester.runpytest(f"--modem-port=@{pytester.path / 'empty.txt'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*lists no ports*"])
