"""README.txt of an evidence bundle: what it holds and how a recipient verifies it, with or without Pantau."""

from __future__ import annotations

import textwrap
from typing import Any

from policy.audit.bundleproof import CHECKPOINT, ENTRY, PROOF, PUBLIC_KEY, ExportProof
from recorder.bundle import MANIFEST, SUMS

# A recipient without Pantau checks the Merkle path with this (RFC 9162 section 2.1.3.2,
# standard library only). Kept short on purpose: it is read by people, not imported.
_PROOF_SCRIPT = f"""\
import base64, hashlib, json
H = lambda b: hashlib.sha256(b).digest()
entry = json.load(open("{ENTRY}")); proof = json.load(open("{PROOF}"))
cp = open("{CHECKPOINT}").read().split("\\n")
fn, sn, r = proof["leaf_index"], proof["tree_size"] - 1, H(b"\\0" + entry["payload"].encode())
for p in map(bytes.fromhex, proof["hashes"]):
    if fn & 1 or fn == sn:
        r = H(b"\\1" + p + r)
        while not fn & 1 and fn:
            fn, sn = fn >> 1, sn >> 1
    else:
        r = H(b"\\1" + r + p)
    fn, sn = fn >> 1, sn >> 1
print("inclusion OK" if sn == 0 and int(cp[1]) == proof["tree_size"]
      and r == base64.b64decode(cp[2]) else "inclusion FAILS")
"""


_MEMBERS = (
    (MANIFEST, "every segment (path, start, end, bytes, sha256, the sha256 of the camera's previous "
               "segment, codec, picture size) and every gap in the window with its reason; who "
               "exported, when and why"),
    (SUMS, "the segments' SHA-256 in `sha256sum -c` form (copied from the manifest)"),
    ("segments/...", "the original recording files, byte for byte as the gateway sealed them: "
                     "fragmented MP4 (H.264/H.265), playable in VLC, ffplay or mpv"),
    (ENTRY, "the access-log entry recording this export; its payload names the manifest's SHA-256 "
            "(details.manifest_sha256)"),
    (PROOF, "RFC 6962 inclusion proof of that entry (leaf index, tree size, hashes)"),
    (CHECKPOINT, "the log checkpoint the proof leads to (C2SP tlog-checkpoint, an Ed25519-signed note)"),
    (PUBLIC_KEY, "the log's public key AS BUNDLED. Whoever altered the bundle could replace it: check "
                 "against the key the gateway's operator publishes (`pantau log-key` on the gateway)"),
)


def _members() -> str:
    width = max(len(name) for name, _ in _MEMBERS) + 2
    lines = []
    for name, text in _MEMBERS:
        wrapped = textwrap.wrap(text, 92 - width)
        lines.append("  " + name.ljust(width) + wrapped[0])
        lines += ["  " + " " * width + more for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


def _indent(text: str, by: str = "    ") -> str:
    return "".join(by + line + "\n" for line in text.splitlines())


def readme_text(doc: dict[str, Any], manifest_sha256: str, proof: ExportProof) -> str:
    """The README for one bundle, whose manifest is `doc`."""
    cams = []
    for cam in doc["cameras"]:
        cams.append(f"  {cam['id']}: {len(cam['segments'])} segment(s)")
        cams += [f"    gap {g['start']} .. {g['end']}: {g['reason']}" for g in cam["gaps"]]
    return f"""PANTAU EVIDENCE BUNDLE
======================

Window:      {doc['window']['start']} .. {doc['window']['end']} (UTC)
Exported:    {doc['exported_at']} by {doc['exported_by']}
Reason:      {doc['reason'] or '-'}
Case:        {doc['case'] or '-'}
Gateway:     pantau {doc['gateway']['version']}
Segments:    {doc['totals']['segments']} ({doc['totals']['bytes']} bytes)
{chr(10).join(cams)}
Manifest:    sha256 {manifest_sha256}
Access log:  entry {proof.entry.seq}, in the signed checkpoint of {proof.checkpoint.size} entries


WHAT IS IN IT

{_members()}
The segments are whole files, as recorded: the first may start before the window and the
last may end after it. Gaps list every part of the window without recording, with the
reason the gateway recorded (camera offline, recorder stopped, deleted by retention).


VERIFY WITH PANTAU (offline, no database)

    pantau verify-bundle THIS.zip --public-key PUBLISHED-KEY.txt

It checks each segment's SHA-256 against the manifest, the hash chain between consecutive
segments of a camera, that the manifest's SHA-256 is the one the log entry records, the
inclusion proof against the checkpoint, and the checkpoint's signature. It names the first
problem and exits 1, or prints "bundle OK" and exits 0.


VERIFY BY HAND

1. Unpack:              unzip THIS.zip -d bundle && cd bundle
2. Segments:            sha256sum -c {SUMS}
   and check that every line of {SUMS} is a segment of {MANIFEST} (sha256 and path).
   Within a camera, each segment's prev_sha256 is the sha256 of the segment before it.
3. Manifest:            sha256sum {MANIFEST}
   must print {manifest_sha256},
   the value of "manifest_sha256" inside the "payload" string of {ENTRY}.
4. Inclusion: the entry is leaf number "leaf_index" of the log's RFC 6962 Merkle tree; its
   leaf hash is SHA-256(0x00 || payload as UTF-8). Following the proof (RFC 9162 section
   2.1.3.2) must give the root on line 3 (base64) of {CHECKPOINT}, whose line 2 is the
   tree size. With Python 3 and nothing else, from the unpacked folder:

{_indent(_PROOF_SCRIPT)}
5. Signature: the signed text is {CHECKPOINT} up to its blank line; the last line is
   "<em dash> <key name> <base64>", and the base64 holds a 4-byte key id followed by the
   64-byte Ed25519 signature. With OpenSSL 3 and the PUBLISHED key as PEM in key.pem:

    sed '/^$/,$d' {CHECKPOINT} > note.txt
    tail -n 1 {CHECKPOINT} | awk '{{print $3}}' | base64 -d | tail -c 64 > note.sig
    openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in note.txt -sigfile note.sig

   which prints "Signature Verified Successfully".

Later checkpoints of the same log must be consistent with this one (RFC 6962 consistency
proofs, GET /api/v1/access-log/proofs/consistency on the gateway): that shows the entry
was never taken out of the log afterwards.
"""
