"""Signing commits and tags with the user's git signing setup (gpg, x509 or ssh), read
from their git config in one process.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git.process import git_env, last_lines, run_git


class Signer:
    """Sign a payload the way git does for gpg.format openpgp, x509 and ssh."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        # every setting signing needs, in one git process (not one per key)
        found = run_git(
            ["config", "-z", "--get-regexp", r"^(gpg\.|user\.signingkey$)"], cwd=cwd, check=False
        ).stdout
        self.settings: dict[str, str] = {}
        for record in found.split("\0"):
            name, _, value = record.partition("\n")
            if name:
                self.settings[name.lower()] = value  # the last one wins, as in git

    def _config(self, key: str) -> str | None:
        return self.settings.get(key.lower()) or None

    def sign(self, payload: bytes) -> bytes:
        fmt = (self._config("gpg.format") or "openpgp").lower()
        key = self._config("user.signingkey")
        if fmt == "ssh":
            return self._ssh(payload, key)
        program = self._config(f"gpg.{fmt}.program") or (
            self._config("gpg.program") if fmt == "openpgp" else None
        )
        program = program or ("gpgsm" if fmt == "x509" else "gpg")
        if not key:
            ident = run_git(["var", "GIT_COMMITTER_IDENT"], cwd=self.cwd, check=False).stdout
            key = ident.rsplit(">", 1)[0] + ">" if ">" in ident else None
        if not key:
            raise ArtifactStoreError(
                "sign_commits is on but no signing key is configured; set user.signingkey"
            )
        proc = subprocess.run(
            [program, "--status-fd=2", "-bsau", key],
            input=payload,
            capture_output=True,
            env=git_env(),
            check=False,
        )
        if proc.returncode or b"[GNUPG:] SIG_CREATED" not in proc.stderr:
            reason = last_lines(proc.stderr.decode(errors="replace"))
            raise ArtifactStoreError(f"signing with {program} failed: {reason}")
        return proc.stdout

    def _ssh(self, payload: bytes, key: str | None) -> bytes:
        if not key:
            raise ArtifactStoreError(
                "sign_commits is on with gpg.format=ssh but user.signingkey is not set"
            )
        program = self._config("gpg.ssh.program") or "ssh-keygen"
        with tempfile.TemporaryDirectory(prefix="artifact-store-sign-") as tmp:
            args = [program, "-Y", "sign", "-n", "git"]
            literal = key.removeprefix("key::")
            if key.startswith("key::") or literal.startswith(("ssh-", "ecdsa-", "sk-")):
                pub = Path(tmp, "key.pub")
                pub.write_text(literal + "\n")
                args += ["-U", "-f", str(pub)]
            else:
                args += ["-f", os.path.expanduser(key)]
            buf = Path(tmp, "payload")
            buf.write_bytes(payload)
            proc = subprocess.run(
                [*args, str(buf)],
                capture_output=True,
                env=git_env(),
                check=False,
                stdin=subprocess.DEVNULL,
            )
            sig = Path(tmp, "payload.sig")
            if proc.returncode or not sig.exists():
                raise ArtifactStoreError(
                    f"ssh signing failed: {last_lines(proc.stderr.decode(errors='replace'))}"
                )
            return sig.read_bytes()
