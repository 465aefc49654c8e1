"""Ledger proofs checked by an independent implementation (verify_proof.py).

A demo platform is created, served twice (so that there are checkpoints of two
sizes) with real requests, and stopped cleanly. Then `tollgate ledger prove`
must produce proofs that the Python verifier accepts, for several entries and
against both checkpoints, and rejects once anything in them is changed. The
published key, the exported checkpoint and `ledger verify` are checked too,
and an edit of `ledger.db` is located.

Run from the repository root, after `cargo build -p tollgate-cli`:

    .venv/bin/python -m pytest tests/ledger -q
"""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ledger_support import cli, serve
from verify_proof import ProofError, decode_id_list, leaf_hash, verify_checkpoint, verify_proof
from verify_segments import check as check_segments

REQUESTS_FIRST_RUN = 37
REQUESTS_SECOND_RUN = 26


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> dict:
    data_dir = tmp_path_factory.mktemp("ledger") / "data"
    data_dir.mkdir()
    cli(data_dir, "demo", "--accounts", "500", "--posts", "5000", "--no-serve")
    credentials = json.loads((data_dir / "demo-credentials.json").read_text())
    token = next(a["token"] for a in credentials["apps"] if a["name"] == "demo-display")
    with open(data_dir / "generated" / "posts.jsonl", encoding="utf-8") as f:
        post_ids = [json.loads(line)["id"] for _, line in zip(range(200), f)]
    published = serve(data_dir, REQUESTS_FIRST_RUN, post_ids, token)
    published_again = serve(data_dir, REQUESTS_SECOND_RUN, post_ids[50:], token)
    assert published == published_again, "the key is kept with the data"
    return {"dir": data_dir, "key": published}


def stored_bodies(data_dir: Path) -> list[bytes]:
    """Every entry's body as ledger.db keeps it: in the row, or (for entries
    written to the segment files) read at the row's place there, by the
    layout docs/ledger.md gives."""
    segments = data_dir / "ledger" / "segments"
    files: dict[int, bytes] = {}
    out = []
    with sqlite3.connect(data_dir / "ledger.db") as db:
        for body, file, at in db.execute("SELECT body, body_file, body_at FROM ledger ORDER BY seq"):
            body = bytes(body)
            if not body and file is not None:
                if file not in files:
                    files[file] = (segments / f"{file:020}.seg").read_bytes()
                data = files[file]
                length = int.from_bytes(data[at : at + 4], "big")
                body = data[at + 4 : at + 4 + length]
            out.append(body)
    return out


def prove(data_dir: Path, entry: int, checkpoint: str = "latest") -> dict:
    return json.loads(cli(data_dir, "ledger", "prove", "--entry", str(entry), "--checkpoint", checkpoint, "--json").stdout)


def test_the_published_key_is_the_ledgers_key(platform):
    shown = json.loads(cli(platform["dir"], "ledger", "key", "--json").stdout)
    assert shown == platform["key"]
    assert cli(platform["dir"], "ledger", "key").stdout.strip() == platform["key"]["public_key"]
    assert platform["key"]["algorithm"] == "ed25519"


def test_the_ledger_verifies_with_every_checkpoint(platform):
    report = json.loads(cli(platform["dir"], "ledger", "verify", "--json").stdout)
    total = REQUESTS_FIRST_RUN + REQUESTS_SECOND_RUN
    assert report["ok"] is True and report["first_break"] is None, report
    assert report["entries"] == total
    assert report["checkpoints"]["verified"] >= 2
    assert report["checkpoints"]["matched"] == report["checkpoints"]["verified"]
    assert report["checkpoints"]["latest"]["size"] == total


def test_proofs_verify_independently(platform):
    trusted = bytes.fromhex(platform["key"]["public_key"])
    total = REQUESTS_FIRST_RUN + REQUESTS_SECOND_RUN
    for entry in sorted({0, 1, 2, 7, 31, 32, REQUESTS_FIRST_RUN - 1, REQUESTS_FIRST_RUN, total - 2, total - 1}):
        proof = prove(platform["dir"], entry)
        assert proof["leaf_index"] == entry and proof["tree_size"] == total
        assert proof["leaf_hash"] == leaf_hash(bytes.fromhex(proof["body"])).hex()
        body = json.loads(bytes.fromhex(proof["body"]))
        assert body == proof["entry"], "the body is the entry's JSON"
        assert body["v"] == 2
        for field in ("posts", "authors", "accounts"):
            assert decode_id_list(body.get(field, [])) == proof["ids"][field], field
        verify_proof(proof, trusted)


def test_proofs_against_an_earlier_checkpoint_verify(platform):
    trusted = bytes.fromhex(platform["key"]["public_key"])
    first = REQUESTS_FIRST_RUN  # the first run's shutdown signed its end
    for entry in (0, 5, first - 1):
        proof = prove(platform["dir"], entry, str(first))
        assert proof["tree_size"] == first
        verify_proof(proof, trusted)
    refused = cli(platform["dir"], "ledger", "prove", "--entry", str(first), "--checkpoint", str(first), check=False)
    assert refused.returncode == 3, refused.stderr


def test_a_changed_proof_fails(platform):
    trusted = bytes.fromhex(platform["key"]["public_key"])
    proof = prove(platform["dir"], 9)
    verify_proof(proof, trusted)

    def fails(change, why: str):
        bad = copy.deepcopy(proof)
        change(bad)
        with pytest.raises(ProofError):
            verify_proof(bad, trusted)
            pytest.fail(why)

    def flip(hex_text: str, at: int = 0) -> str:
        raw = bytearray(bytes.fromhex(hex_text))
        raw[at] ^= 1
        return raw.hex()

    fails(lambda p: p.update(body=flip(p["body"], 20)), "a changed body")
    fails(lambda p: p.update(body=p["body"] + "20"), "a body with a byte added")
    fails(lambda p: p["audit_path"].__setitem__(0, flip(p["audit_path"][0])), "a changed path hash")
    fails(lambda p: p["audit_path"].__setitem__(-1, flip(p["audit_path"][-1], 31)), "a changed top hash")
    fails(lambda p: p["audit_path"].pop(), "a shortened path")
    fails(lambda p: p["audit_path"].append(p["audit_path"][0]), "a lengthened path")
    fails(lambda p: p["audit_path"].reverse(), "a path out of order")
    fails(lambda p: p.update(leaf_index=8), "another leaf index")
    fails(lambda p: p["checkpoint"].update(root=flip(p["checkpoint"]["root"])), "a changed root")
    fails(lambda p: p["checkpoint"].update(size=p["checkpoint"]["size"] + 1), "a changed size")
    fails(lambda p: p["checkpoint"].update(time_ms=p["checkpoint"]["time_ms"] + 1), "a changed time")
    fails(lambda p: p["checkpoint"].update(signature=flip(p["checkpoint"]["signature"], 5)), "a changed signature")
    with pytest.raises(ProofError):
        verify_proof(proof, bytes(32))  # not the published key


def test_the_command_line_verifier_agrees(platform, tmp_path):
    proof = prove(platform["dir"], 3)
    good = tmp_path / "proof.json"
    good.write_text(json.dumps(proof))
    script = Path(__file__).with_name("verify_proof.py")
    run = [sys.executable, str(script), str(good), "--key", platform["key"]["public_key"]]
    assert subprocess.run(run, capture_output=True, text=True).returncode == 0
    proof["body"] = proof["body"].replace("7b", "5b", 1)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(proof))
    result = subprocess.run([*run[:2], str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and "does not verify" in result.stdout


def test_the_exported_checkpoint_verifies_and_is_written_atomically(platform, tmp_path):
    out = tmp_path / "escrow" / "checkpoint.json"
    out.parent.mkdir()
    cli(platform["dir"], "ledger", "checkpoint", "--out", str(out))
    cp = json.loads(out.read_text())
    assert cp == json.loads(cli(platform["dir"], "ledger", "checkpoint", "--json").stdout)
    assert [p.name for p in out.parent.iterdir()] == ["checkpoint.json"], "no temporary file is left"
    assert verify_checkpoint(cp, bytes.fromhex(platform["key"]["public_key"])).hex() == cp["root"]
    # The ledger must still match the escrowed copy.
    cli(platform["dir"], "ledger", "verify", "--checkpoint", str(out), "--key", platform["key"]["public_key"])


def test_an_edited_database_is_located_and_a_torn_checkpoint_line_is_not_tampering(platform, tmp_path):
    copy_dir = tmp_path / "copy"
    shutil.copytree(platform["dir"], copy_dir, ignore=shutil.ignore_patterns("generated"))

    # A write interrupted by kill -9 leaves a partial last line: not an alteration.
    with open(copy_dir / "ledger" / "checkpoints.log", "ab") as f:
        f.write(b'{"size":99,"time":1795')
    report = json.loads(cli(copy_dir, "ledger", "verify", "--json").stdout)
    assert report["ok"] is True, report
    assert any("interrupted write" in n for n in report["notes"])

    # The body put into the row, which then takes it instead of the one at
    # its place in the segment files.
    body = stored_bodies(copy_dir)[11]
    edited = body.replace(b'"channel":"api"', b'"channel":"web"')
    assert edited != body
    with sqlite3.connect(copy_dir / "ledger.db") as db:
        db.execute("UPDATE ledger SET body = ? WHERE seq = 11", (edited,))
    result = cli(copy_dir, "ledger", "verify", "--json", check=False)
    assert result.returncode == 4, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["first_break"]["entry"] == 11 and report["first_break"]["kind"] == "modified", report


def test_the_segment_files_verify_independently_and_hold_the_stored_entries(platform, tmp_path):
    key = bytes.fromhex(platform["key"]["public_key"])
    segments = platform["dir"] / "ledger" / "segments"
    bodies, heads = check_segments(segments, key)
    total = REQUESTS_FIRST_RUN + REQUESTS_SECOND_RUN
    assert len(bodies) == total
    assert heads >= 2, "a head per commit, and one at each start"
    assert stored_bodies(platform["dir"]) == bodies
    run = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("verify_segments.py")), str(segments), key.hex()],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and run.stdout.startswith(f"ok: {total} entries"), run.stdout + run.stderr

    # A byte of an entry changed in a copy: this checker and `verify` both see it.
    copy_dir = tmp_path / "copy"
    shutil.copytree(platform["dir"], copy_dir, ignore=shutil.ignore_patterns("generated"))
    first = sorted((copy_dir / "ledger" / "segments").glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    at = data.index(b'"channel":"api"')
    data[at + 12] ^= 0x01
    first.write_bytes(bytes(data))
    with pytest.raises(ProofError, match="damaged"):
        check_segments(copy_dir / "ledger" / "segments", key)
    result = cli(copy_dir, "ledger", "verify", "--json", check=False)
    assert result.returncode == 4, result.stdout + result.stderr
    report = json.loads(result.stdout)
    # The entry read from there no longer matches its hash, and the frame is damaged.
    assert report["first_break"]["kind"] == "modified", report
    assert any("damaged" in b["reason"] for b in report["breaks"]), report
