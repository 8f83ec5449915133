"""Every script in examples/ runs against the virtual modem and exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run_python

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


def test_examples_exist() -> None:
    assert [p.name for p in EXAMPLES], "no examples found"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    # cwd: so the source tree cannot shadow the installed package
    done = run_python(str(script), cwd=tmp_path, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip()


ROOT = Path(__file__).resolve().parents[2]


def test_pytest_hil_example_runs_on_virtual_modems(tmp_path: Path) -> None:
    suite = ROOT / "examples" / "pytest_hil"
    done = run_python(
        "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-rA", "-q", cwd=tmp_path, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout


def test_quickstart_notebook_runs_top_to_bottom(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (make deps)")
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (make deps)")
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text = []
    html = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", ""))
            data = output.get("data", {})
            text.append(data.get("text/plain", ""))
            html.append(data.get("text/html", ""))
    joined = "\n".join(text)
    assert "3 messages received" in joined
    assert "SIM7028" in joined  # the asyncio cell
    assert joined.rstrip().endswith("done")
    rendered = "\n".join(html)
    assert "<b>Modem</b>" in rendered and "<b>MqttClient</b>" in rendered
    assert "<b>Transcript</b>" in rendered and "AT+CMQTTPUB" in rendered
    assert "<b>Messages</b>" in rendered
