"""The `mephisto` command line. Subcommands are imported only when run, so `mephisto --help` stays fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

from mephisto_core import __version__

# name -> "module:attribute" of the click command; imported on first use.
CORE_COMMANDS: dict[str, str] = {
    "init": "mephisto_core.cli.init_cmd:init",
    "check": "mephisto_core.cli.check_cmd:check",
    "launch": "mephisto_core.cli.launch_cmd:launch",
    "wut": "mephisto_core.cli.wut_cmd:wut",
    "plugins": "mephisto_core.cli.plugins_cmd:plugins",
    "register": "mephisto_core.cli.requester_cmds:register",
    "requesters": "mephisto_core.cli.requester_cmds:requesters",
    "review": "mephisto_core.cli.review_cmd:review",
    "export": "mephisto_core.cli.export_cmd:export",
    "payments": "mephisto_core.cli.payments_cmd:payments",
    "qualifications": "mephisto_core.cli.workers_cmds:qualifications",
    "workers": "mephisto_core.cli.workers_cmds:workers",
    "quality": "mephisto_core.cli.quality_cmd:quality",
    "cleanup": "mephisto_core.cli.cleanup_cmd:cleanup",
    "router": "mephisto_core.cli.router_cmd:router",
}
# One-line help for the command list, so listing commands imports none of them.
CORE_HELP: dict[str, str] = {
    "init": "Create a task folder from a template.",
    "check": "Validate a task file and show what it would launch and cost.",
    "launch": "Launch a task: serve it to workers and store every submission.",
    "wut": "Describe the arguments of blueprints, architects and providers.",
    "plugins": "List installed plugins and the types and commands they provide.",
    "register": "Store a requester's credentials for a provider.",
    "requesters": "List registered requesters (secrets hidden).",
    "review": "Review submissions: approve, reject, bonus, block (web app or terminal).",
    "export": "Export submissions to JSONL, CSV or JSON, with agreement and aggregation.",
    "payments": "List rewards and bonuses paid or pending, per task and worker.",
    "qualifications": "Create, list, grant, revoke and show qualifications.",
    "workers": "Block, unblock, list and show workers.",
    "quality": "List and undo what the task file's quality rules did to workers.",
    "cleanup": "List and remove what runs left behind (HITs, servers, processes).",
    "router": "Run a standalone router on a public host (operators connect out to it).",
}


class MephistoGroup(click.Group):
    """A click group that imports core subcommands lazily and asks plugins for the commands it lacks."""

    _plugins_loaded = False
    _plugin_command_dists: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(CORE_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in CORE_COMMANDS and cmd_name not in self.commands:
            module_name, attr = CORE_COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            self.add_command(command, cmd_name)
        if cmd_name not in self.commands and not self._plugins_loaded:
            self.load_plugin_commands()
        return self.commands.get(cmd_name)

    def load_plugin_commands(self) -> dict[str, str]:
        """Let plugins add their commands (once); returns {command: distribution}.

        A plugin command named like a core command is refused and reported, never allowed to replace it.
        """
        from mephisto_core.plugins import plugin_commands

        if self._plugins_loaded:
            return self._plugin_command_dists
        self._plugins_loaded = True
        self._plugin_command_dists = plugin_commands(self, frozenset(CORE_COMMANDS))
        return self._plugin_command_dists

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in CORE_HELP:
                rows.append((name, CORE_HELP[name]))
            else:
                rows.append((name, self.commands[name].get_short_help_str()))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        formatter.write_paragraph()
        formatter.write_text("Plugins may add more commands: see `mephisto plugins`.")

    def invoke(self, ctx: click.Context) -> Any:
        from mephisto_core.errors import MephistoError

        try:
            return super().invoke(ctx)
        except MephistoError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=MephistoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mephisto")
def cli() -> None:
    """Collect human data: define a task in TOML, launch it to workers, review and export what they submit.

    Start with `mephisto init mytask --template static`, then `mephisto launch mytask/task.toml`.
    """


def main() -> None:
    from mephisto_core import collector

    collector.process_is_ours = True
    cli()
