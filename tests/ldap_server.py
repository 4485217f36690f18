"""A real OpenLDAP server (Debian's slapd) for the directory sign-in tests.

`LdapServer` writes a slapd.conf into a temporary folder (mdb database, core/cosine/
inetorgperson/nis schemas), starts slapd on a free port of 127.0.0.1, waits for the port and its pidfile,
loads entries with ldapadd, and kills slapd at the end. Tests skip only when slapd is not
installed and CI is not set; under CI=true a missing slapd is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=ma"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret-for-tests"


def require_slapd() -> None:
    if os.path.exists(SLAPD) and shutil.which("ldapadd"):
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("slapd and ldap-utils are needed for the directory tests (.ci/run installs them)")
    pytest.skip("slapd is not installed (apt-get install slapd ldap-utils)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("slapd did not open its port")


class LdapServer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "LdapServer":
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        schema = "/etc/ldap/schema"
        (self.folder / "slapd.conf").write_text(f"""
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {self.folder}/slapd.pid
argsfile {self.folder}/slapd.args
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {data}
index objectClass eq
index uid eq
index member eq
""")
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(self.folder / "slapd.conf"), "-h", f"{self.url}/", "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for_port(self.port, self.process)
        self._wait_for_its_pidfile()
        return self

    def _wait_for_its_pidfile(self, timeout: float = 20.0) -> None:
        """The port answering is not proof that this slapd holds it: another process may have taken the port
        between free_port() and slapd's start, and this slapd then exits while the tests talk to the other one
        (a test freezing "its" slapd with SIGSTOP had signed in). slapd writes its pidfile once it listens."""
        pidfile = self.folder / "slapd.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited with {self.process.returncode} (its port taken by another?)")
            if pidfile.exists() and pidfile.read_text().strip() == str(self.process.pid):
                return
            time.sleep(0.05)
        raise RuntimeError("slapd did not write its pidfile")

    def freeze(self) -> None:
        """SIGSTOP, returned once the kernel shows the process stopped (the signal is delivered asynchronously)."""
        os.kill(self.process.pid, signal.SIGSTOP)
        stat = Path(f"/proc/{self.process.pid}/stat")
        deadline = time.monotonic() + 20
        while stat.read_text().rpartition(")")[2].split()[0] != "T":
            if time.monotonic() > deadline:
                raise RuntimeError("slapd did not stop on SIGSTOP")
            time.sleep(0.01)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def ldif(self, text: str, command: str = "ldapadd") -> None:
        result = subprocess.run(
            [command, "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            input=text.encode(),
            capture_output=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command} failed: {result.stderr.decode()}")

    def modify(self, text: str) -> None:
        self.ldif(text, "ldapmodify")

    def rename(self, dn: str, new_rdn: str) -> None:
        """The entry renamed (its DN changes, its attributes stay): what Active Directory does on a name change."""
        result = subprocess.run(
            ["ldapmodrdn", "-x", "-r", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD, dn, new_rdn],
            capture_output=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ldapmodrdn failed: {result.stderr.decode()}")

    def delete(self, *dns: str) -> None:
        result = subprocess.run(
            ["ldapdelete", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD, *dns],
            capture_output=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ldapdelete failed: {result.stderr.decode()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


BASE_ENTRIES = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Ministere

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: cn=sharaka-service,{SUFFIX}
objectClass: person
cn: sharaka-service
sn: service
userPassword: service-secret
"""


def person(uid: str, name: str, password: str, *, mail: str | None = None, status: str = "active") -> str:
    return f"""dn: uid={uid},ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: {uid}
cn: {name}
sn: {name.split()[-1]}
mail: {mail or uid + "@ministere.example.ma"}
employeeType: {status}
userPassword: {password}
"""


def group(name: str, *members: str) -> str:
    lines = "".join(f"member: uid={uid},ou=people,{SUFFIX}\n" for uid in members)
    return f"""dn: cn={name},ou=groups,{SUFFIX}
objectClass: groupOfNames
cn: {name}
{lines}"""
