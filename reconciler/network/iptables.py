"""Applies the rendered NAT ruleset to the kernel: the iptables mode of `ServiceProxy`.

`reconciler.network.rules` decides (pure); this module only runs `iptables-save`,
`iptables-restore --noflush` and `iptables -D`, so rules that are not ours are never
read back in or rewritten. Works with both the nf_tables and legacy backends of
iptables 1.8.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable

from reconciler.network import rules
from reconciler.network.model import ServiceTable

log = logging.getLogger(__name__)


class IptablesError(RuntimeError):
    """The kernel refused our rules (no iptables, not root, a missing module)."""


def _run(args: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise IptablesError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


class Iptables:
    """The NAT rules of one host, converged to a service table with one atomic restore each time."""

    def __init__(self, binary: str = "iptables") -> None:
        self._save = f"{binary}-save"
        self._restore = f"{binary}-restore"
        self._binary = binary
        self.last_ruleset = ""

    def available(self) -> str | None:
        """None when rules can be installed here; otherwise why not."""
        if os.geteuid() != 0:
            return "not running as root"
        for tool in (self._binary, self._save, self._restore):
            if shutil.which(tool) is None:
                return f"{tool} is not installed"
        try:
            self.saved()
        except IptablesError as exc:
            return str(exc)
        return None

    def connection_counts(self) -> dict[str, int]:
        """New connections per service port ("ns/name:port/PROTO") since the rules were made."""
        return rules.connection_counts(_run([self._save, "-c", "-t", "nat"]))

    def saved(self) -> rules.Saved:
        text = _run([self._save, "-t", "nat"]) + _run([self._save, "-t", "filter"])
        return rules.parse_save(text)

    def sync(self, table: ServiceTable, node_name: str, local_ips: Iterable[str]) -> None:
        """Converge our chains to `table` in one `iptables-restore --noflush` transaction."""
        text = rules.render(table, node_name, local_ips, self.saved())
        # -w: wait for the xtables lock rather than failing when Docker holds it.
        _run([self._restore, "-w", "5", "--noflush"], stdin=text)
        self.last_ruleset = text

    def cleanup(self) -> None:
        """Delete our jump rules, then every RECONCILER-* chain; leave all else as it was."""
        saved = self.saved()
        text, jumps = rules.render_cleanup(saved)
        for table, chain, spec in jumps:
            try:
                _run([self._binary, "-w", "5", "-t", table, "-D", chain, *shlex.split(spec)])
            except IptablesError as exc:
                log.warning("could not delete jump from %s/%s: %s", table, chain, exc)
        if text:
            _run([self._restore, "-w", "5", "--noflush"], stdin=text)
