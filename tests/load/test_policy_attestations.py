"""The policy section ``attestations: {trusted_keys: [...]}``: strict and located, keys
parsed at load, every policy's keys trusted together, and the digest of a policy without the
section unchanged (LATER_SECTIONS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gatekeeper.errors import ValidationError
from gatekeeper.load.policy import load_policies, trusted_keys
from gatekeeper.record.signing import Signer

SIGNER = Signer(Ed25519PrivateKey.generate())
PEM = SIGNER.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_trusted_keys_of_every_policy_in_any_key_format(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "id: a\nattestations:\n  trusted_keys:\n"
          f"    - {{id: ci-release, public_key: {SIGNER.public_key_text}}}\n")
    indented = "".join(f"        {line}\n" for line in PEM.splitlines())
    write(tmp_path, "b.yaml", "id: b\nattestations:\n  trusted_keys:\n"
          f"    - id: ci-nightly\n      public_key: |\n{indented}")
    keys = trusted_keys(load_policies(tmp_path))
    assert [k.id for k in keys] == ["ci-release", "ci-nightly"]


@pytest.mark.parametrize(("section", "found"), [
    ("attestations:\n  trusted_keys:\n    - {id: ci, public_key: bm90IGEga2V5}\n",
     ["4:16: attestations.trusted_keys[0].public_key: the base64 holds 9 bytes; an Ed25519 "
      "public key has 32"]),
    ("attestations:\n  trusted_keys: []\n",
     ["3:3: attestations.trusted_keys: needs at least 1 item(s), has 0"]),
    ("attestations:\n  trusted_key: []\n",  # a typo never leaves the gate open
     ["2:1: attestations.trusted_keys: missing required key 'trusted_keys'",
      "3:3: attestations.trusted_key: unknown key 'trusted_key'; did you mean "
      "'trusted_keys'?"]),
])
def test_a_bad_section_is_a_located_problem(tmp_path: Path, section: str,
                                            found: list[str]) -> None:
    path = write(tmp_path, "p.yaml", "id: p\n" + section)
    with pytest.raises(ValidationError) as caught:
        load_policies(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:{p}" for p in found]


def test_the_section_enters_the_digest_only_when_written(tmp_path: Path) -> None:
    text = "id: org\nlimits: {latency_p99_ms: 300}\n"
    plain = load_policies(write(tmp_path, "plain.yaml", text))[0]
    # Computed by the code before attestations existed (b44f0db~1): passes bound to a policy
    # without the section stay valid.
    assert plain.digest == ("sha256:9108f0721e9b14728b2181021808c242"
                            "e0133c85066f21738f42819f720eb5e8")
    keys = write(tmp_path, "keys.yaml", text + "attestations:\n  trusted_keys:\n"
                 f"    - {{id: ci, public_key: {SIGNER.public_key_text}}}\n")
    assert load_policies(keys)[0].digest != plain.digest
