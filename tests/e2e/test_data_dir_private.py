"""A real launch under umask 022 leaves nothing in the data dir that another user could read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mephisto_core.data_model import AgentFile, TaskRun, open_database
from mephisto_core.settings import Settings


def test_launch_under_umask_022_keeps_the_data_dir_private(
    static_task: Path, start_launch, mephisto_settings: Settings
) -> None:
    before = os.umask(0o022)  # inherited by the launch process, as from a user's shell
    try:
        launch = start_launch(str(static_task), "architect.port=0", "--simulate", "2", "--no-panel")
        assert launch.wait(90) == 0, launch.output()
    finally:
        os.umask(before)

    data_dir = mephisto_settings.data_dir
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        run_id = TaskRun.get().id
        uploads = [data_dir / stored.path for stored in AgentFile.select()]
    finally:
        db.close()
    assert uploads, "the static template's simulated workers upload files"
    folders = [data_dir, data_dir / "runs", data_dir / "runs" / str(run_id), data_dir / "files"]
    folders += [path.parent for path in uploads]
    files = [mephisto_settings.sqlite_path, *uploads]
    modes = {str(path): oct(stat.S_IMODE(path.stat().st_mode)) for path in folders + files}
    assert modes == {str(path): "0o700" for path in folders} | {str(path): "0o600" for path in files}
