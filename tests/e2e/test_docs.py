"""Every shell command shown in README.md and docs/*.md runs as written.

What is run, and the markers that change it:

- Fenced blocks tagged `sh`, `bash` or `console` are run; other blocks (`json`,
  `text`, untagged...) are not. In a `console` block only lines starting with
  `$ ` are commands; the other lines are output. `# ...` comments are left to
  the shell, and a line ending in `\\` continues on the next.
- `<!-- doc-test: skip: REASON -->` on the line just before a block's opening
  fence (invisible on the rendered page) leaves the whole block out; the
  reason is required. For commands a test cannot run: one that builds a
  release and serves until stopped, or one that is this test suite.
- A command that is `tollgate [FLAGS] serve` (after any `VAR=value`
  assignments) is not run in the foreground: the test starts it in the
  background with its `--listen` value, or the default, replaced by a free
  port on 127.0.0.1, waits until it answers /healthz, replaces
  `127.0.0.1:8080` by that address in the file's later commands, and stops
  it after the file's last command. That is what a reader does with a second
  terminal.

Each file's commands run in order, each with `bash -eo pipefail -c`, in one
fresh empty directory of their own (so a file's commands build the data
directory they use, as a reader's would), with `tollgate` on the PATH being
the binary under test ($TOLLGATE_BIN) and no TOLLGATE_* variable of the
caller set. A command that fails fails the test, naming the file and line.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from support import REPO_ROOT, child_env, free_port, tollgate_bin

RUN_TAGS = {"sh", "bash", "console"}
SKIP = re.compile(r"<!--\s*doc-test:\s*skip:\s*\S.*-->")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass
class Command:
    file: Path
    line: int
    text: str

    def where(self) -> str:
        return f"{shown(self.file)}:{self.line}"


def shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def doc_files() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def commands_of(path: Path) -> list[Command]:
    """The commands of a Markdown file's shell blocks, with the line each starts on."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Command] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, tag = m.group(2), m.group(3).lower()
        skipped = i > 0 and SKIP.search(lines[i - 1]) is not None
        if i > 0 and "doc-test" in lines[i - 1] and not skipped:
            raise AssertionError(f"{shown(path)}:{i}: a doc-test marker this test does not know")
        j = i + 1
        body: list[tuple[int, str]] = []
        while j < len(lines) and not lines[j].strip().startswith(fence[0] * len(fence)):
            body.append((j + 1, lines[j]))
            j += 1
        if tag in RUN_TAGS and not skipped:
            pending: tuple[int, str] | None = None
            for number, text in body:
                if tag == "console" and pending is None:
                    if not text.startswith("$ "):
                        continue
                    text = text[2:]
                if pending is not None:
                    pending = (pending[0], pending[1] + "\n" + text)
                else:
                    pending = (number, text)
                if not text.rstrip().endswith("\\"):
                    if pending[1].strip() and not pending[1].strip().startswith("#"):
                        out.append(Command(path, pending[0], pending[1]))
                    pending = None
            assert pending is None, f"{shown(path)}:{pending[0]}: a continued line ends the block"
        i = j + 1
    return out


def serve_words(text: str) -> list[str] | None:
    """The words of a `tollgate ... serve` command, or None for any other command."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return None
    k = 0
    while k < len(words) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[k]):
        k += 1
    if k < len(words) and words[k] == "tollgate" and words[-1] == "serve":
        return words
    return None


def with_listen(words: list[str], address: str) -> list[str]:
    out, k = [], 0
    while k < len(words):
        if words[k] == "--listen" and k + 1 < len(words):
            k += 2
            continue
        if words[k].startswith("--listen="):
            k += 1
            continue
        out.append(words[k])
        k += 1
    at = out.index("tollgate") + 1
    return out[:at] + ["--listen", address] + out[at:]


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory) -> Path:
    binary = tollgate_bin()
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: build it with `cargo build -p tollgate-cli` or set TOLLGATE_BIN")
    d = tmp_path_factory.mktemp("doc-bin")
    (d / "tollgate").symlink_to(binary.resolve())
    return d


def test_the_documents_have_commands_to_run():
    found = {p.name: len(commands_of(p)) for p in doc_files()}
    assert found["README.md"] >= 5, found


@pytest.mark.parametrize("path", [p for p in doc_files() if commands_of(p)], ids=lambda p: p.name)
def test_every_shell_command_in_the_document_runs(path, bin_dir, tmp_path):
    commands = commands_of(path)
    env = child_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    workdir = tmp_path / "work"
    workdir.mkdir()
    servers: list[tuple[Command, subprocess.Popen, Path]] = []
    address = DEFAULT_LISTEN
    try:
        for command in commands:
            text = command.text.replace(DEFAULT_LISTEN, address) if address != DEFAULT_LISTEN else command.text
            words = serve_words(text)
            if words is not None:
                address = f"127.0.0.1:{free_port()}"
                log = tmp_path / f"serve-{command.line}.log"
                argv = with_listen(words, address)
                k = argv.index("tollgate")
                assignments = dict(w.split("=", 1) for w in argv[:k])
                proc = subprocess.Popen(
                    argv[k:],
                    cwd=workdir,
                    env={**env, **assignments},
                    stdin=subprocess.DEVNULL,
                    stdout=open(log, "wb"),
                    stderr=subprocess.STDOUT,
                )
                servers.append((command, proc, log))
                wait_until_serving(command, proc, log, address)
                continue
            proc = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", text],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=900,
            )
            if proc.returncode != 0:
                pytest.fail(
                    f"{command.where()}: `{command.text}` exited with {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}",
                    pytrace=False,
                )
        for command, proc, log in servers:
            assert proc.poll() is None, (
                f"{command.where()}: `{command.text}` stopped serving before the file's last command:\n"
                + log.read_text(errors="replace")[-4000:]
            )
    finally:
        for _, proc, _ in servers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)


def wait_until_serving(command: Command, proc: subprocess.Popen, log: Path, address: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"{command.where()}: `{command.text}` exited with {proc.returncode} instead of serving:\n"
                + log.read_text(errors="replace")[-4000:],
                pytrace=False,
            )
        try:
            if requests.get(f"http://{address}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"{command.where()}: `{command.text}` did not answer /healthz within {timeout:.0f} s", pytrace=False)


def test_the_parser_finds_commands_and_honours_the_markers(tmp_path):
    doc = tmp_path / "sample.md"
    doc.write_text(
        "text\n"
        "```sh\n"
        "tollgate one   # a comment\n"
        "# only a comment\n"
        "tollgate two \\\n"
        "  --flag\n"
        "```\n"
        "<!-- doc-test: skip: serves until stopped -->\n"
        "```sh\n"
        "tollgate never\n"
        "```\n"
        "```console\n"
        "$ tollgate three\n"
        "output line\n"
        "```\n"
        "```json\n"
        '{"not": "run"}\n'
        "```\n",
        encoding="utf-8",
    )
    got = [(c.line, c.text) for c in commands_of(doc)]
    assert got == [(3, "tollgate one   # a comment"), (5, "tollgate two \\\n  --flag"), (13, "tollgate three")]
    assert serve_words("TOLLGATE_X=1 tollgate --listen 0.0.0.0:9000 serve") is not None
    assert serve_words("tollgate serve   # until Ctrl-C") is not None
    assert serve_words("tollgate ledger verify") is None
    assert with_listen(["A=1", "tollgate", "--listen", "0.0.0.0:9000", "serve"], "127.0.0.1:5") == [
        "A=1",
        "tollgate",
        "--listen",
        "127.0.0.1:5",
        "serve",
    ]
