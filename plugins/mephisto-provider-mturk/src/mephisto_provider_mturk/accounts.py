"""Building an MTurk provider outside a launch (plugin commands, the cleaner) from a registered requester."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mephisto_core.errors import ProviderError
from mephisto_core.settings import read_user_config, requester_credentials
from mephisto_provider_mturk.args import MTurkArgs
from mephisto_provider_mturk.provider import MTurkProvider, MTurkSandboxProvider

PROVIDER_CLASSES: dict[str, type[MTurkProvider]] = {
    MTurkProvider.type_name: MTurkProvider,
    MTurkSandboxProvider.type_name: MTurkSandboxProvider,
}


@dataclass(frozen=True)
class Requester:
    """A requester registered for `mturk` or `mturk_sandbox` in the user config."""

    name: str
    provider_type: str


def mturk_requesters(config_file: Path) -> list[Requester]:
    """Every requester registered with an MTurk provider type, in the config's order."""
    requesters = read_user_config(config_file).get("requesters", {})
    return [
        Requester(str(name), str(entry.get("provider")))
        for name, entry in requesters.items()
        if isinstance(entry, dict) and entry.get("provider") in PROVIDER_CLASSES
    ]


def choose_requester(config_file: Path, name: str | None) -> Requester:
    """The requester named `name`, or the only MTurk requester when no name is given."""
    known = mturk_requesters(config_file)
    if name is not None:
        for requester in known:
            if requester.name == name:
                return requester
        listed = ", ".join(r.name for r in known) or "none"
        raise ProviderError(f"no MTurk requester named {name!r} is registered (MTurk requesters: {listed})")
    if len(known) == 1:
        return known[0]
    if not known:
        raise ProviderError(
            "no MTurk requester is registered: mephisto register mturk_sandbox NAME access_key_id=... (sandbox) "
            "or mephisto register mturk NAME ... (live)"
        )
    raise ProviderError(
        f"several MTurk requesters are registered ({', '.join(r.name for r in known)}): give --requester"
    )


def build_provider(config_file: Path, data_dir: Path, requester: Requester) -> MTurkProvider:
    """The provider as a launch would build it, with default task arguments."""
    cls = PROVIDER_CLASSES[requester.provider_type]
    credentials = requester_credentials(config_file, requester.name)
    return cls(MTurkArgs(requester_name=requester.name), requester.name, credentials, cls.data_dir_under(data_dir))
