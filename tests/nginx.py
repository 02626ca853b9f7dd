"""A real nginx (Debian's nginx-light) running one of deploy/'s sites in front of our servers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from postgres import free_port
from support import Listening

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = Path(__file__).parent.parent / "deploy"


class Nginx(Listening):
    """nginx running one of deploy/'s sites, its upstream servers replaced by ours."""

    def __init__(
        self, directory: Path, upstream_ports: list[int], read_timeout: str | None, site_file: str
    ) -> None:
        if not os.path.exists(NGINX):
            pytest.fail("nginx is not installed: `make test` installs Debian's nginx-light")
        self.port = free_port()
        site = (DEPLOY / site_file).read_text()
        servers = iter(upstream_ports)
        site, n = re.subn(
            r"server [\d.]+:8080\b", lambda _: f"server 127.0.0.1:{next(servers)}", site
        )
        assert n == len(upstream_ports)
        site, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        assert n == 1
        if read_timeout:
            site = site.replace("proxy_read_timeout 90s;", f"proxy_read_timeout {read_timeout};")
        (directory / "tablecast.conf").write_text(site)
        user = "user root;" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"{kind}_temp_path {directory}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (directory / "nginx.conf").write_text(f"""
            {user}
            worker_processes 1;
            daemon off;
            pid {directory}/nginx.pid;
            error_log {directory}/error.log info;
            events {{ worker_connections 1024; }}
            http {{
                access_log {directory}/access.log;
                {temp}
                include {directory}/tablecast.conf;
            }}
        """)
        self.directory = directory
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(
            f"nginx did not start: {self.proc.stderr.read() if self.proc.stderr else ''}"
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
