"""The folder a static task serves beside its page (`extra_source_dir`): which links it may hold, which files it
should not hold, and how it is copied into the build.

Everything in the folder can be fetched by any worker with the link. A symbolic link is judged by where it finally
points: inside the folder it is copied as the file or folder it names; leaving the folder (`/etc/hostname`, a
linked `/etc`), pointing to nothing, or back to a folder that contains it, it is refused before anything is built,
by `mephisto check` and by `launch` alike.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from mephisto_core.errors import ConfigError

log = logging.getLogger(__name__)


def check_links(folder: Path, key: str) -> None:
    """Raise ConfigError naming the first link in `folder` (at any depth) that leaves it, dangles or loops."""
    root = folder.resolve()

    def unreadable(exc: OSError) -> None:
        raise ConfigError(f"cannot be read: {exc.filename}: {exc.strerror or exc}", file=folder, key=key) from exc

    # followlinks=False: a linked folder is judged by its target, which (once accepted) lies inside the folder
    # and is walked there. Hidden entries are walked too: a visible link may lead into a hidden folder.
    for directory, dirnames, filenames in os.walk(root, onerror=unreadable):
        here = Path(directory)
        for name in sorted(dirnames + filenames):
            entry = here / name
            if entry.is_symlink():
                _check_link(entry, here, root, folder, key)


def _check_link(entry: Path, here: Path, root: Path, folder: Path, key: str) -> None:
    shown = f"the link {entry.relative_to(root)} -> {os.readlink(entry)}"
    try:
        target = entry.resolve(strict=True)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"holds {shown}, which points to nothing; remove it, or point it at a file inside the folder",
            file=folder,
            key=key,
        ) from exc
    except (RuntimeError, OSError) as exc:  # RuntimeError: a loop of links (ELOOP on newer Pythons)
        raise ConfigError(f"holds {shown}, which cannot be followed ({exc})", file=folder, key=key) from exc
    if not target.is_relative_to(root):
        raise ConfigError(
            f"holds {shown}, which leads out of the folder (to {target}); every worker could fetch it. "
            "Copy the file into the folder instead of linking to it",
            file=folder,
            key=key,
        )
    if target.is_dir() and here.is_relative_to(target):
        raise ConfigError(
            f"holds {shown}, a folder that contains the link itself; copying it would never end",
            file=folder,
            key=key,
        )


def private_files_served(folder: Path, private: Iterable[tuple[str, Path]]) -> list[str]:
    """The descriptions of the `(description, path)` pairs whose path the build would copy from `folder`.

    A path is served when it lies inside the folder and no part of it below the folder is hidden (the build
    leaves out names starting with '.').
    """
    root = folder.resolve()
    served = []
    for description, path in private:
        real = path.resolve()
        if real.is_relative_to(root) and not any(part.startswith(".") for part in real.relative_to(root).parts):
            served.append(description)
    return served


def warn_private_files_served(folder: Path, private: Iterable[tuple[str, Path]], key: str) -> list[str]:
    """Log one loud warning if the folder serves any of `private`; return what it serves."""
    served = private_files_served(folder, private)
    if served:
        log.warning(
            "%s (%s) is served to every worker, and it holds %s: anyone with the link can download %s. "
            "Point %s at a folder that holds only the page's images, styles and scripts.",
            key,
            folder,
            ", ".join(served),
            "it" if len(served) == 1 else "them",
            key,
        )
    return served


def copy_served_folder(folder: Path, build_dir: Path, key: str) -> None:
    """Copy `folder` into `build_dir` (hidden names left out), links that stay inside as what they point to.

    Checks the links first; a copy that still fails (the folder changed meanwhile, a file cannot be read) is a
    ConfigError naming the files, never a raw `shutil.Error`.
    """
    check_links(folder, key)
    try:
        shutil.copytree(folder, build_dir, dirs_exist_ok=True, ignore=_ignore_hidden, symlinks=False)
    except shutil.Error as exc:
        failed = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [(folder, build_dir, str(exc))]
        problems = "; ".join(f"{source}: {why}" for source, _, why in failed[:5])
        raise ConfigError(f"could not be copied into the build: {problems}", file=folder, key=key) from exc
    except OSError as exc:
        raise ConfigError(f"could not be copied into the build: {exc}", file=folder, key=key) from exc


def _ignore_hidden(directory: str, names: list[str]) -> set[str]:
    # The router never serves dot-files, so .git, .DS_Store and the like are not worth copying.
    return {name for name in names if name.startswith(".")}
