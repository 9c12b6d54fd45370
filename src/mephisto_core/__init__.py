"""mephisto-core: collect human data with tasks defined in TOML, launched to workers, reviewed and exported.

Keep this module import-free: `mephisto --help` imports it and must stay fast.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `from mephisto_core import hookimpl` without importing pluggy for `mephisto --help`.
    if name == "hookimpl":
        from mephisto_core.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(name)
