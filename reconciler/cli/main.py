"""The `reconciler` command: a lazy click group whose subcommands live in their own modules.

Entry point of every CLI use. Subcommands are imported only when invoked, so
`reconciler get pods` never pays for importing the Docker SDK or watchdog.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "validate": "reconciler.cli.validate:validate",
    "plan": "reconciler.cli.plan:plan",
    "get": "reconciler.cli.get:get",
    "describe": "reconciler.cli.describe:describe",
    "logs": "reconciler.cli.podio:logs",
    "exec": "reconciler.cli.podio:exec_",
    "scale": "reconciler.cli.scale:scale",
    "rollout": "reconciler.cli.rollout:rollout",
    "delete": "reconciler.cli.delete:delete",
    "create": "reconciler.cli.create:create",
    "drain": "reconciler.cli.drain:drain",
    "run": "reconciler.cli.run:run",
    "sync": "reconciler.cli.service:sync",
    "config": "reconciler.cli.service:config",
    "install": "reconciler.cli.service:install",
    "cluster-info": "reconciler.cli.service:cluster_info",
    "proxy": "reconciler.cli.proxy:proxy",
    "agent": "reconciler.cli.agent:agent",
    "ui": "reconciler.cli.ui:ui",
    "api": "reconciler.cli.api:api",
    "secrets": "reconciler.cli.secrets:secrets",
    "completion": "reconciler.cli.completion:completion",
    "top": "reconciler.cli.top:top",
}


def _available(spec: str) -> bool:
    module = spec.split(":", 1)[0]
    return importlib.util.find_spec(module) is not None


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, spec in COMMANDS.items() if _available(spec))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None or not _available(spec):
            return None
        module_name, attr = spec.split(":", 1)
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reconciler")
def cli() -> None:
    """A small Kubernetes for plain Docker hosts, driven from a folder or git."""


def main() -> None:
    try:
        cli.main(prog_name="reconciler")
    except KeyboardInterrupt:
        sys.exit(130)
