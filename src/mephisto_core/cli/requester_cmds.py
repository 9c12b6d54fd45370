"""`mephisto register` and `mephisto requesters`: the provider accounts that post and pay for work.

Credentials live in the user config file (mode 0600); the database holds one `Requester` row per name so task
runs can point at it. Secret values are never printed, not even inside a provider's error. A secret left off the
command line (where `ps` and shell history would show it) is read from MEPHISTO_SECRET_<KEY>, or asked for with
a hidden prompt when it is required.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pydantic import ValidationError

    from mephisto_core.abstractions import CrowdProvider
    from mephisto_core.plugins import Registry
    from mephisto_core.settings import Settings

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@click.command()
@click.argument("provider_type", metavar="PROVIDER")
@click.argument("name", required=False)
@click.argument("pairs", nargs=-1, metavar="[KEY=VALUE]...")
def register(provider_type: str, name: str | None, pairs: tuple[str, ...]) -> None:
    """Store the credentials of requester NAME for PROVIDER, after the provider checks them.

    Without NAME, show the credentials PROVIDER takes. Run again with the same NAME to replace them.
    Leave secrets off the command line: each is read from MEPHISTO_SECRET_<KEY> (e.g. MEPHISTO_SECRET_API_KEY)
    or, when required, asked for without echoing it.
    """
    from mephisto_core.cli._tables import args_table, console
    from mephisto_core.plugins import get_registry

    provider_cls: type[CrowdProvider] = get_registry().get("provider", provider_type)
    if name is None:
        out = console()
        if not provider_cls.RequesterArgs.model_fields:
            out.print(
                f"Provider {provider_type!r} takes no credentials. Register one: mephisto register {provider_type} NAME"
            )
            return
        out.print(args_table(provider_cls.RequesterArgs, f"credentials of provider {provider_type!r}"))
        out.print(f"Register one: mephisto register {provider_type} NAME key=value ...")
        return
    if not _NAME_PATTERN.match(name):
        raise click.UsageError(
            f"requester name {name!r} must start with a letter or digit and hold only letters, digits, '_', '.' and '-'"
        )
    credentials = _with_secrets_not_on_the_command_line(provider_cls, provider_type, name, parse_pairs(pairs))
    stored = _validated_credentials(provider_cls, provider_type, credentials)

    from mephisto_core.cli.context import load_settings

    settings = load_settings()
    _save_requester(settings, name, provider_type, stored)
    click.echo(
        f"Registered requester {name!r} for provider {provider_type!r} "
        f"({len(stored)} credential(s) stored in {settings.config_file})."
    )


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """`key=value` arguments as a dict; a malformed or repeated key is a usage error."""
    parsed: dict[str, str] = {}
    for position, item in enumerate(pairs, start=1):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            # The argument itself is not echoed: a misplaced secret must not end up in a terminal log.
            raise click.UsageError(f"credential argument {position} is not of the form key=value (e.g. api_key=VALUE)")
        if key in parsed:
            raise click.UsageError(f"credential {key!r} is given twice")
        parsed[key] = value
    return parsed


def _with_secrets_not_on_the_command_line(
    provider_cls: type[CrowdProvider], provider_type: str, name: str, credentials: dict[str, str]
) -> dict[str, str]:
    """Add each secret credential not given as key=value: from MEPHISTO_SECRET_<KEY>, else a hidden prompt.

    Only a required secret is asked for; an optional one missing from both stays unset.
    """
    from mephisto_core.settings import secret_env_name, secret_from_environment

    secret = provider_cls.secret_fields()
    for key in sorted(secret & set(credentials)):
        click.echo(
            f"Warning: {key} was given on the command line, where `ps` and your shell history show it; "
            f"next time leave it out to be asked for it, or set {secret_env_name(key)}.",
            err=True,
        )
    completed = dict(credentials)
    for field_name, field in provider_cls.RequesterArgs.model_fields.items():
        key = field.alias or field_name
        if key not in secret or key in completed:
            continue
        from_env = secret_from_environment(key)
        if from_env is not None:
            completed[key] = from_env
        elif field.is_required():
            completed[key] = _ask_hidden(key, provider_type, name)
    return completed


def _ask_hidden(key: str, provider_type: str, name: str) -> str:
    from mephisto_core.settings import secret_env_name

    try:
        value: str = click.prompt(
            f"{key} of requester {name!r} ({provider_type}, not echoed)", hide_input=True, err=True
        )
    except click.Abort:
        # No terminal and nothing on stdin (a script, CI): say how to give it instead of a bare "Aborted!".
        raise click.ClickException(
            f"credential {key!r} is required but missing: set {secret_env_name(key)}, type it when asked "
            f"(stdin gave nothing), or give {key}=VALUE. See what it takes: mephisto register {provider_type}"
        ) from None
    return value


def _validated_credentials(
    provider_cls: type[CrowdProvider], provider_type: str, credentials: dict[str, str]
) -> dict[str, Any]:
    from pydantic import ValidationError

    from mephisto_core.abstractions.secrets import redact
    from mephisto_core.cli._fields import to_toml_value

    # A provider's error may quote what it was given (a whole credentials dict, an URL with the key in it).
    secret_values = [value for key, value in credentials.items() if key in provider_cls.secret_fields()]
    try:
        stored = provider_cls.validate_credentials(credentials)
    except ValidationError as exc:
        message = _credential_problems(exc, provider_cls, provider_type)
        raise click.ClickException(redact(message, secret_values)) from None
    except Exception as exc:
        # A provider calling its platform can fail in many ways: name the provider, never dump a traceback.
        # MephistoError included: its text is the provider's, so it is redacted like any other.
        from mephisto_core.errors import MephistoError

        what = "" if isinstance(exc, MephistoError) else f"{type(exc).__name__}: "
        raise click.ClickException(
            redact(f"provider {provider_type!r} could not check the credentials: {what}{exc}", secret_values)
        ) from None
    # TOML has no null, and paths or secret wrappers must be stored as plain strings.
    return {str(key): to_toml_value(value) for key, value in stored.items() if value is not None}


def _credential_problems(exc: ValidationError, provider_cls: type[CrowdProvider], provider_type: str) -> str:
    known = list(provider_cls.RequesterArgs.model_fields)
    secret = provider_cls.secret_fields()
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(all)"
        if err["type"] == "missing":
            lines.append(f"credential {key!r} is required but missing")
        elif err["type"] == "extra_forbidden":
            takes = f"it takes: {', '.join(known)}" if known else "it takes none"
            lines.append(f"{key!r} is not a credential of provider {provider_type!r}; {takes}")
        else:
            # Echo what was given only when it is not a secret.
            found = "" if key in secret else f" (found {err.get('input')!r})"
            lines.append(f"credential {key!r}: {err['msg']}{found}")
    hint = f"See what it takes: mephisto register {provider_type}"
    return "; ".join(lines) + f". {hint}"


def _save_requester(settings: Settings, name: str, provider_type: str, credentials: dict[str, Any]) -> None:
    from mephisto_core.cli.context import open_settings_database
    from mephisto_core.data_model import Requester
    from mephisto_core.settings import store_requester_credentials

    database = open_settings_database(settings)
    try:
        with database.write():
            existing = Requester.get_or_none(Requester.name == name)
            if existing is not None and existing.provider_type != provider_type:
                raise click.ClickException(
                    f"requester {name!r} is already registered for provider {existing.provider_type!r}; "
                    "choose another name"
                )
            # Written inside the transaction: if the file cannot be written, no row is created either.
            try:
                store_requester_credentials(settings.config_file, name, provider_type, credentials)
            except OSError as exc:
                raise click.ClickException(f"cannot write the user config {settings.config_file}: {exc}") from exc
            if existing is None:
                Requester.create(name=name, provider_type=provider_type)
    finally:
        database.close()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for scripts) instead of a table.")
def requesters(as_json: bool) -> None:
    """List registered requesters and which credentials are stored; secret values are shown as ********."""
    from mephisto_core.cli.context import load_settings

    records = requester_records(load_settings())
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    _print_requesters(records)


def requester_records(settings: Settings) -> list[dict[str, Any]]:
    """Every requester in the database or the user config, with its credentials masked."""
    from mephisto_core.cli.context import open_settings_database
    from mephisto_core.data_model import Requester
    from mephisto_core.settings import read_user_config

    database = open_settings_database(settings)
    try:
        rows = {row.name: row for row in Requester.select().order_by(Requester.name)}
    finally:
        database.close()
    stored = read_user_config(settings.config_file).get("requesters", {})
    registry = _registry_or_none()
    records = []
    for name in sorted(set(rows) | set(stored)):
        row = rows.get(name)
        entry = dict(stored.get(name, {}))
        provider_type = str(entry.pop("provider", row.provider_type if row is not None else ""))
        records.append(
            {
                "name": name,
                "provider": provider_type,
                "created_at": row.created_at.isoformat(timespec="seconds") if row is not None else None,
                "in_database": row is not None,
                "credentials": _masked(entry, registry, provider_type),
            }
        )
    return records


def _registry_or_none() -> Registry | None:
    from mephisto_core.errors import PluginError
    from mephisto_core.plugins import get_registry

    try:
        return get_registry()
    except PluginError as exc:
        # Listing must still work when a plugin is broken: every value is masked then.
        click.echo(f"Warning: plugins could not be loaded, so every credential is masked: {exc}", err=True)
        return None


def _masked(credentials: dict[str, Any], registry: Registry | None, provider_type: str) -> dict[str, Any]:
    from mephisto_core.abstractions.secrets import MASK

    provider_cls = registry.types("provider").get(provider_type) if registry is not None else None
    if provider_cls is None:
        return {key: MASK for key in credentials}
    cls = provider_cls.cls
    # Shown only when the provider declares the key and does not call it secret; unknown keys stay hidden.
    plain = set(cls.RequesterArgs.model_fields) - set(cls.secret_fields())
    return {key: value if key in plain else MASK for key, value in credentials.items()}


def _print_requesters(records: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.abstractions.secrets import MASK
    from mephisto_core.cli._fields import toml_literal
    from mephisto_core.cli._tables import console

    out = console()
    if not records:
        out.print("No requesters registered. Register one: mephisto register PROVIDER NAME key=value ...")
        return
    table = Table(title="Requesters", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("provider", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("credentials", overflow="fold")
    for record in records:
        creds = "\n".join(
            f"{key} = {value}" if value == MASK else f"{key} = {toml_literal(value)}"
            for key, value in record["credentials"].items()
        )
        created = record["created_at"] or "(not in the database)"
        table.add_row(Text(record["name"]), Text(record["provider"]), Text(created), Text(creds or "(none)"))
    out.print(table)
