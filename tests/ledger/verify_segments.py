"""Checks a Tollgate ledger's segment files without any of Tollgate's code.

The layout and the rules are those of docs/ledger.md, "The segment files",
written out independently: every frame whole and in sequence, its checksum,
the chain and the Merkle tree (RFC 6962) recomputed over the entry bodies,
and every signed head checked against them with Ed25519 (`cryptography`).

    python verify_segments.py DATA/ledger/segments PUBLIC_KEY_HEX

Exit status 0: the files verify (the number of entries and heads is
printed). 1: they do not (the first problem is printed).
"""

from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

from verify_proof import CHECKPOINT_MAGIC, ProofError, leaf_hash, node_hash
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FILE_MAGIC = b"tollgate-ledger-segment\n"
HEADER_LEN = 32
HEAD_LEN = 118 + 64


class Frontier:
    """The roots of the perfect subtrees over the leaves so far, left to right."""

    def __init__(self) -> None:
        self.nodes: list[tuple[int, bytes]] = []
        self.size = 0

    def push(self, leaf: bytes) -> None:
        height, node = 0, leaf
        while self.nodes and self.nodes[-1][0] == height:
            _, left = self.nodes.pop()
            node = node_hash(left, node)
            height += 1
        self.nodes.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        root = self.nodes[-1][1]
        for _, node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root


def check(directory: Path, public_key: bytes) -> tuple[list[bytes], int]:
    """The entry bodies in order, and the number of signed heads checked.

    Raises ProofError at the first problem. Expects a ledger no retention
    has cut (its first file starts at entry 0)."""
    key = Ed25519PublicKey.from_public_bytes(public_key)
    key_id = hashlib.sha256(public_key).digest()[:8]
    files = sorted(p for p in directory.iterdir() if p.suffix == ".seg")
    bodies: list[bytes] = []
    tree = Frontier()
    chain = bytes(32)
    heads = 0
    for n, path in enumerate(files):
        data = path.read_bytes()
        if int(path.stem) != len(bodies):
            raise ProofError(f"{path.name} starts at entry {int(path.stem)}, the files so far end at {len(bodies)}")
        if data[:24] != FILE_MAGIC or struct.unpack(">I", data[24:28])[0] != 1:
            raise ProofError(f"{path.name} is not a segment file of version 1")
        at = HEADER_LEN
        while at < len(data):
            last_file = n == len(files) - 1
            if at + 4 > len(data):
                if last_file:
                    break  # an interrupted write at the very end
                raise ProofError(f"{path.name}: bytes after the last frame at offset {at}")
            (length,) = struct.unpack(">I", data[at : at + 4])
            if length == 0:
                # The zeros a file is created with, after its last frame.
                if any(data[at:]):
                    if last_file:
                        break  # an interrupted write at the very end
                    raise ProofError(f"{path.name}: bytes after the last frame at offset {at}")
                break
            frame = data[at : at + length]
            whole = len(frame) == length and hashlib.sha256(frame[:-32]).digest() == frame[-32:]
            if not whole:
                if last_file and not any(data[at + length :]):
                    break  # an interrupted write at the very end
                raise ProofError(f"{path.name}: the frame at offset {at} is damaged")
            flags = frame[4]
            first, count = struct.unpack(">QI", frame[5:17])
            if first != len(bodies):
                raise ProofError(f"{path.name}: the frame at offset {at} starts at {first}, expected {len(bodies)}")
            pos = 17
            for _ in range(count):
                (size,) = struct.unpack(">I", frame[pos : pos + 4])
                body = frame[pos + 4 : pos + 4 + size]
                pos += 4 + size
                leaf = leaf_hash(body)
                chain = hashlib.sha256(chain + leaf).digest()
                tree.push(leaf)
                bodies.append(body)
            if flags == 1:
                head = frame[pos : pos + HEAD_LEN]
                pos += HEAD_LEN
                message, signature = head[:118], head[118:]
                if message[:30] != CHECKPOINT_MAGIC or message[30:38] != key_id:
                    raise ProofError(f"{path.name}: the head at offset {at} is not a checkpoint of this key")
                try:
                    key.verify(signature, message)
                except InvalidSignature:
                    raise ProofError(f"{path.name}: the head at offset {at} does not verify") from None
                (size,) = struct.unpack(">Q", message[38:46])
                if size != len(bodies) or message[54:86] != tree.root() or message[86:118] != chain:
                    raise ProofError(f"{path.name}: the head at offset {at} does not sign the entries before it")
                heads += 1
            elif flags != 0:
                raise ProofError(f"{path.name}: the frame at offset {at} has unknown flags {flags}")
            if pos != len(frame) - 32:
                raise ProofError(f"{path.name}: the frame at offset {at} has bytes after its fields")
            at += length
    return bodies, heads


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python verify_segments.py DATA/ledger/segments PUBLIC_KEY_HEX", file=sys.stderr)
        return 2
    try:
        bodies, heads = check(Path(argv[0]), bytes.fromhex(argv[1]))
    except ProofError as e:
        print(f"the segment files do not verify: {e}")
        return 1
    print(f"ok: {len(bodies)} entries, {heads} signed heads")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
