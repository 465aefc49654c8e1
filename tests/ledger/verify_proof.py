"""Verifies a Tollgate ledger inclusion proof without any of Tollgate's code.

This is the procedure of docs/ledger.md, written out independently: SHA-256
from the standard library for the Merkle tree (RFC 6962 / RFC 9162) and the
`cryptography` package for Ed25519 (RFC 8032).

    python verify_proof.py PROOF.json [--key HEX]

PROOF.json is the output of `tollgate ledger prove --entry SEQ --json`. With
--key, the proof must also be signed with that public key (the one the
operator published); without it, the key inside the proof is taken as given,
which only shows that the proof is internally consistent.

Exit status 0: the proof verifies. 1: it does not (the reason is printed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHECKPOINT_MAGIC = b"tollgate-ledger-checkpoint-v1\n"


class ProofError(Exception):
    """The proof does not verify."""


def leaf_hash(body: bytes) -> bytes:
    """RFC 6962 §2.1: the hash of a leaf is SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + body).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: an interior node is SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2, step by step; None where the RFC says to fail."""
    if index >= size:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn & 1 == 0:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def decode_id_list(value: object) -> list[int]:
    """An entry's id list (`posts`, `authors`, `accounts`) as integers.

    Entry version 2 encodes a list as base64url without padding of unsigned
    LEB128 varints: the first id, then each id's difference from the one
    before, modulo 2**64. Version 1 wrote a JSON array of numbers.
    """
    if isinstance(value, list):
        return [int(v) for v in value]
    if not isinstance(value, str):
        raise ProofError("an id list is neither a string nor an array")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as e:
        raise ProofError(f"an id list is not base64url: {e}") from None
    ids, previous, current, shift = [], 0, 0, 0
    for byte in raw:
        current |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 63:
                raise ProofError("an id list holds a varint longer than 64 bits")
        else:
            previous = (previous + current) % 2**64
            ids.append(previous)
            current, shift = 0, 0
    if shift:
        raise ProofError("an id list ends in the middle of a varint")
    return ids


def _hex(value: object, name: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise ProofError(f"`{name}` is not a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError as e:
        raise ProofError(f"`{name}` is not hex: {e}") from None
    if length and len(raw) != length:
        raise ProofError(f"`{name}` is {len(raw)} bytes, not {length}")
    return raw


def _count(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"`{name}` is not a non-negative integer")
    return value


def checkpoint_message(cp: dict) -> bytes:
    """The 118 signed bytes: magic, key id, size (u64 BE), time in ms (i64 BE),
    root, chain hash."""
    time_ms = cp.get("time_ms")
    if not isinstance(time_ms, int) or isinstance(time_ms, bool):
        raise ProofError("`time_ms` is not an integer")
    return (
        CHECKPOINT_MAGIC
        + _hex(cp.get("key_id"), "key_id", 8)
        + struct.pack(">Q", _count(cp.get("size"), "size"))
        + struct.pack(">q", time_ms)
        + _hex(cp.get("root"), "root", 32)
        + _hex(cp.get("chain"), "chain", 32)
    )


def verify_checkpoint(cp: dict, trusted_key: bytes | None = None) -> bytes:
    """Checks the checkpoint's key and signature; returns the signed root."""
    public_key = _hex(cp.get("public_key"), "public_key", 32)
    if trusted_key is not None and public_key != trusted_key:
        raise ProofError("the checkpoint is signed with another key than the one trusted")
    if cp.get("algorithm", "ed25519") != "ed25519":
        raise ProofError(f"unknown signature algorithm {cp.get('algorithm')!r}")
    if _hex(cp.get("key_id"), "key_id", 8) != hashlib.sha256(public_key).digest()[:8]:
        raise ProofError("the key id is not the first 8 bytes of SHA-256 of the public key")
    signature = _hex(cp.get("signature"), "signature", 64)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, checkpoint_message(cp))
    except InvalidSignature:
        raise ProofError("the checkpoint's signature does not verify") from None
    return _hex(cp.get("root"), "root", 32)


def verify_proof(proof: dict, trusted_key: bytes | None = None) -> None:
    """Raises ProofError unless the entry is in the tree the checkpoint signs."""
    cp = proof.get("checkpoint")
    if not isinstance(cp, dict):
        raise ProofError("the proof has no checkpoint")
    root = verify_checkpoint(cp, trusted_key)
    size = _count(cp.get("size"), "checkpoint.size")
    if _count(proof.get("tree_size"), "tree_size") != size:
        raise ProofError("the proof's tree size is not the checkpoint's")
    index = _count(proof.get("leaf_index"), "leaf_index")
    body = _hex(proof.get("body"), "body", 0)
    path_field = proof.get("audit_path")
    if not isinstance(path_field, list):
        raise ProofError("`audit_path` is not a list")
    path = [_hex(h, f"audit_path[{i}]", 32) for i, h in enumerate(path_field)]
    computed = root_from_inclusion(index, size, leaf_hash(body), path)
    if computed is None:
        raise ProofError("the audit path does not fit the leaf index and tree size")
    if computed != root:
        raise ProofError("the audit path does not lead to the signed root")


def main(argv: list[str]) -> int:
    args = list(argv)
    trusted = None
    if "--key" in args:
        i = args.index("--key")
        if i + 1 >= len(args):
            print("--key needs a hex public key", file=sys.stderr)
            return 2
        trusted = bytes.fromhex(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        print("usage: python verify_proof.py PROOF.json [--key HEX]", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        proof = json.load(f)
    try:
        verify_proof(proof, trusted)
    except ProofError as e:
        print(f"the proof does not verify: {e}")
        return 1
    print(f"ok: entry {proof['leaf_index']} is in the tree of {proof['tree_size']} entries the checkpoint signs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
