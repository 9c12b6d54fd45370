"""The `static` task type: the original Mephisto's static HTML tasks, run unchanged.

Importing this package is cheap; the blueprint lives in `mephisto_blueprint_static.blueprint`.
"""
