"""Real git servers on 127.0.0.1 for the transport tests (SPEC §6): nginx in front of
`git http-backend` (through fcgiwrap), with or without basic auth, and openssh-server
with deploy keys. Each is started by the test, on its own port, and stopped by PID.

Debian packages: nginx-light (or nginx), fcgiwrap, openssh-server -- `.ci/run` installs
them; where they are missing the tests that need them are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fleet_support import free_port, wait_port

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FCGIWRAP = shutil.which("fcgiwrap") or "/usr/sbin/fcgiwrap"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def missing_http() -> str | None:
    for path in (NGINX, FCGIWRAP, HTTP_BACKEND):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (apt-get install nginx-light fcgiwrap git)"
    return None


def missing_ssh() -> str | None:
    if not os.access(SSHD, os.X_OK) or not shutil.which("ssh-keygen"):
        return "sshd/ssh-keygen are not installed (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "sshd needs root here (it logs in as the user running the tests)"
    return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class HttpServer:
    port: int
    root: Path  # GIT_PROJECT_ROOT: repositories served as /<name>.git
    access_log: Path

    def url(self, repo: str, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{repo}"


@contextlib.contextmanager
def http_git_server(
    work: Path,
    root: Path,
    *,
    users: dict[str, str] | None = None,
    max_body: str = "100m",
    status: int | None = None,
) -> Iterator[HttpServer]:
    """nginx + fcgiwrap + git http-backend serving ``root``; with ``users`` (name ->
    password), every request needs basic auth; with ``status``, nginx answers every
    request with it (a proxy in front of a server that is down: 502)."""
    work.mkdir(parents=True, exist_ok=True)
    sock = work / "fcgiwrap.sock"
    fcgi = subprocess.Popen(
        [FCGIWRAP, "-c", "4", "-s", f"unix:{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    auth = ""
    if users is not None:
        (work / "htpasswd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
        auth = f'auth_basic "git"; auth_basic_user_file {work}/htpasswd;'
    port = free_port()
    log = work / "access.log"
    (work / "nginx.conf").write_text(
        f"""
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log info;
user root;
events {{ worker_connections 512; }}
http {{
  access_log {log};
  client_body_temp_path {work}/body;
  fastcgi_temp_path {work}/fastcgi;
  proxy_temp_path {work}/proxy;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  client_max_body_size {max_body};
  server {{
    listen 127.0.0.1:{port};
    location / {{
      {f"return {status};" if status else ""}
      {auth}
      fastcgi_pass unix:{sock};
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param HTTP_CONTENT_ENCODING $http_content_encoding;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param SCRIPT_FILENAME {HTTP_BACKEND};
      fastcgi_param GIT_PROJECT_ROOT {root};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param GIT_CONFIG_NOSYSTEM 1;
      fastcgi_param HOME {work};
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER {"$remote_user" if users is not None else "anonymous"};
    }}
  }}
}}
"""
    )
    nginx = subprocess.Popen(
        [NGINX, "-p", str(work), "-c", str(work / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_port(port, nginx, "nginx", work / "error.log")
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield HttpServer(port, root, log)
    finally:
        _stop(nginx)
        _stop(fcgi)


@dataclass
class SshServer:
    port: int
    work: Path
    log: Path
    known_hosts: Path  # the server's host key, as a client that trusts it has it

    def url(self, path: Path) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{path}"

    def ssh_command(self, key: Path, *, known_hosts: Path | None = None) -> str:
        """A core.sshCommand as the seed sets it: ``ssh -i <deploy key>``."""
        known = known_hosts if known_hosts is not None else self.known_hosts
        return (
            f"ssh -i {key} -o IdentitiesOnly=yes -o UserKnownHostsFile={known} "
            "-o GlobalKnownHostsFile=/dev/null"
        )

    def new_key(self, name: str, *, read_only: bool = False, authorized: bool = True) -> Path:
        """A deploy key; read-only keys are refused on push as GitHub words it."""
        key = self.work / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
            check=True,
        )
        if authorized:
            public = (self.work / f"{name}.pub").read_text().strip()
            options = f'command="{self.work}/read-only.sh" ' if read_only else ""
            with (self.work / "authorized_keys").open("a") as f:
                f.write(options + public + "\n")
        return key


@contextlib.contextmanager
def ssh_git_server(work: Path, *, max_startups: str | None = None) -> Iterator[SshServer]:
    """openssh-server on a high port with its own host key and deploy keys (sshd's
    defaults otherwise, MaxStartups 10:30:100 included)."""
    work.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    host_key = work / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    (work / "authorized_keys").write_text("")
    ro = work / "read-only.sh"
    ro.write_text(
        '#!/bin/sh\ncase "$SSH_ORIGINAL_COMMAND" in git-receive-pack*)\n'
        "  echo 'ERROR: The key you are authenticating with has been marked as read only.' >&2\n"
        '  exit 1;;\nesac\nexec sh -c "$SSH_ORIGINAL_COMMAND"\n'
    )
    ro.chmod(0o755)
    port = free_port()
    log = work / "sshd.log"
    (work / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {work}/sshd.pid\n"
        f"AuthorizedKeysFile {work}/authorized_keys\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
        f"SetEnv GIT_CONFIG_NOSYSTEM=1 HOME={work}\n"
        + (f"MaxStartups {max_startups}\n" if max_startups else "")
    )
    public = (work / "host_ed25519.pub").read_text().split()
    known = work / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(work / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )
    try:
        wait_port(port, proc, "sshd", log)
        yield SshServer(port, work, log, known)
    finally:
        _stop(proc)
