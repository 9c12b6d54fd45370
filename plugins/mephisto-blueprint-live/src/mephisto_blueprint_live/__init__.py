"""The `live` task type: several workers in one assignment, with a Python world taking part while they work.

A task module the researcher writes defines `async def run(assignment)`; see `mephisto_blueprint_live.world` for
what a world sees. Importing this package is cheap.
"""

from mephisto_blueprint_live.world import AgentLeft, AgentTimedOut, EpisodeInterrupted, LiveAssignment, WorldAgent

__all__ = ["AgentLeft", "AgentTimedOut", "EpisodeInterrupted", "LiveAssignment", "WorldAgent"]
