"""`mephisto form validate` and `mephisto form expand`: check form configs and make one form per token set."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from mephisto_blueprint_form.config_files import load_json
from mephisto_blueprint_form.paths import Problem
from mephisto_blueprint_form.schema import validate_config, validate_data
from mephisto_blueprint_form.structure import iter_fields
from mephisto_blueprint_form.tokens import expand as expand_config
from mephisto_blueprint_form.tokens import token_set_problems, used_names

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group(name="form")
def form() -> None:
    """Check form configs (JSON) for the `form` task type, and expand token templates into forms."""


@form.command()
@click.argument("file", type=_FILE)
@click.option(
    "--allow-tokens",
    is_flag=True,
    help="Accept {{token}} placeholders: the file is a template for `mephisto form expand`, not a form to launch.",
)
@click.pass_context
def validate(ctx: click.Context, file: Path, allow_tokens: bool) -> None:
    """Check FILE (one form config, or a list of them) and print every problem with its JSON path.

    Exits with status 1 when there is any problem. `mephisto launch` runs the same check.
    """
    data = load_json(file)
    problems = validate_data(data, allow_tokens=allow_tokens)
    if problems:
        for problem in problems:
            click.echo(str(problem))
        count = f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
        click.echo(f"{file}: {count}.", err=True)
        if not allow_tokens and any("has no value" in p.message for p in problems):
            click.echo(
                "A template with {{tokens}}? Check it with --allow-tokens, then fill it with `mephisto form expand`.",
                err=True,
            )
        ctx.exit(1)
    configs = data if isinstance(data, list) else [data]
    fields = sum(len(list(iter_fields(config["form"]))) for config in configs)
    forms = f"{len(configs)} form" + ("" if len(configs) == 1 else "s")
    click.echo(f"{file}: no problems ({forms}, {fields} fields).")


@form.command()
@click.argument("config_file", type=_FILE)
@click.argument("tokens_file", type=_FILE)
@click.option("-o", "--output", type=_FILE, required=True, help="Where to write the list of forms (JSON).")
@click.pass_context
def expand(ctx: click.Context, config_file: Path, tokens_file: Path, output: Path) -> None:
    """Fill CONFIG_FILE's {{tokens}} once per set in TOKENS_FILE and write the forms to OUTPUT.

    TOKENS_FILE is a list of {"tokens_values": {"name": "value", ...}}; every set must define the same names,
    and those must be exactly the tokens the config uses. Tokens may appear in help, instruction, label, title
    and tooltip. Each form keeps its set in form_metadata.tokens_values. Use OUTPUT as the task's data_json.
    """
    config = load_json(config_file)
    token_sets = load_json(tokens_file)
    if isinstance(config, dict):
        config_problems = validate_config(config, allow_tokens=True)
        token_problems, undefined = token_set_problems(token_sets, used_names(config))
        config_problems += undefined
    else:
        config_problems = [Problem("", 'must be one form config (an object with "form") to expand, not a list')]
        token_problems = []
    if config_problems or token_problems:
        _report(config_file, config_problems)
        _report(tokens_file, token_problems)
        ctx.exit(1)
    forms = expand_config(config, token_sets)
    problems = validate_data(forms)
    if problems:
        _report(output, problems)
        click.echo(f"{output} was not written: the expanded forms have the problems above.", err=True)
        ctx.exit(1)
    _write_json(output, forms)
    click.echo(f"Wrote {len(forms)} form{'' if len(forms) == 1 else 's'} to {output}.")


def _report(file: Path, problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(f"{file}: {problem}")


def _write_json(path: Path, data: object) -> None:
    # Written beside the target and renamed, so an interrupted run never leaves half a file as data_json.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, ensure_ascii=False, indent=2)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
