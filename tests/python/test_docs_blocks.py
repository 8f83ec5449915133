"""Every code block of README.md and docs/*.md runs as written, against virtual modems.

The rule, by the fence's info string:

- ```` ```python ````: a script. It runs in a fresh interpreter (the installed package) and
  must exit 0. The blocks of one document run in order, in one scratch directory, so a block
  may use a file an earlier block of the same document wrote (``session.jsonl``).
- ```` ```python test ````: a pytest test module; it runs under pytest (with the modemqtt
  plugin, on virtual modems) and must pass or skip, never fail or error.
- ```` ```python no-run: REASON ````: shown, not run (it needs hardware, a TLS broker or
  certificates, ...). The reason is required and the block must still compile. Use it
  sparingly: a block that can run against ``sim://<profile>`` or ``modemqtt.VirtualModem``
  should.
- ```` ```sh run ````: each line is run by ``bash -e -o pipefail`` in the scratch directory
  (the ``modemqtt`` command of this interpreter first on PATH); each must exit 0. Other
  ```` ```sh ```` blocks are synopses or need hardware and are not run.
- Any other ``python`` info string fails the suite, so a typo cannot silently skip a block.

docs/lab.md runs a labgrid lab on 127.0.0.1: it needs labgrid and ser2net (see ``NEEDS``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from labgrid_helper import require_labgrid

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
BLOCK_TIMEOUT = 120  # seconds, per block; a block that hangs fails instead of stalling CI


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    mode: str  # "script", "test", "no-run", "sh-run", "sh"
    reason: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def parse_blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        info = m.group(1).strip()
        lang, _, rest = info.partition(" ")
        rest = rest.strip()
        line = text.count("\n", 0, m.start()) + 1
        if lang == "python":
            if not rest:
                mode, reason = "script", ""
            elif rest == "test":
                mode, reason = "test", ""
            elif rest.startswith("no-run"):
                mode, reason = "no-run", rest[len("no-run") :].lstrip(":").strip()
            else:
                mode, reason = f"unknown info string {info!r}", ""
        elif lang == "sh":
            mode, reason = ("sh-run" if rest == "run" else "sh"), ""
        else:
            continue
        blocks.append(Block(doc, line, lang, mode, reason, m.group(2)))
    return blocks


ALL = [b for doc in DOCUMENTS for b in parse_blocks(doc)]
RUN_DOCS = sorted({b.doc for b in ALL if b.mode in ("script", "test", "sh-run")})


def test_every_python_block_has_a_known_mode() -> None:
    bad = [f"{b.where}: {b.mode}" for b in ALL if b.lang == "python" and " " in b.mode]
    assert not bad, bad
    assert any(b.mode == "script" for b in ALL), "no runnable python blocks found"


@pytest.mark.parametrize("block", [b for b in ALL if b.mode == "no-run"], ids=lambda b: b.where)
def test_no_run_blocks_give_a_reason_and_compile(block: Block) -> None:
    assert len(block.reason) > 10, f"{block.where}: no-run needs a reason"
    compile(block.code, block.where, "exec")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("MODEMQTT_LAB", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(block: Block, cwd: Path, n: int) -> subprocess.CompletedProcess[str]:
    if block.mode == "script":
        script = cwd / f"block_{n}.py"
        script.write_text(block.code, encoding="utf-8")
        argv = [sys.executable, str(script)]
    elif block.mode == "test":
        script = cwd / f"test_block_{n}.py"
        script.write_text(block.code, encoding="utf-8")
        argv = [sys.executable, "-m", "pytest", str(script), "-p", "no:cacheprovider", "-q"]
        argv += ["-p", "no:xdist", "-rA"]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    return subprocess.run(
        argv,
        cwd=cwd,  # not the source tree, so python/ cannot shadow the installed package
        env=_env(),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


# Documents whose blocks need tools beyond the package: skipped without them (failed instead
# in CI, which sets the MODEMQTT_REQUIRE_* variables).
NEEDS = {"lab.md": require_labgrid}


@pytest.mark.timeout(BLOCK_TIMEOUT * 8)
@pytest.mark.parametrize("doc", RUN_DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_document_blocks_run(doc: Path, tmp_path: Path) -> None:
    if doc.name in NEEDS:
        NEEDS[doc.name]()
    blocks = [b for b in ALL if b.doc == doc and b.mode in ("script", "test", "sh-run")]
    for n, block in enumerate(blocks):
        done = _run(block, tmp_path, n)
        report = f"{block.where} ({block.mode}) exited {done.returncode}:\n"
        report += f"--- code\n{block.code}--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
        assert done.returncode == 0, report
        if block.mode == "test":
            assert " failed" not in done.stdout and " error" not in done.stdout, report
        if block.mode == "script":
            assert "Traceback" not in done.stderr, report
