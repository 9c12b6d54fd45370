"""The `bundle` task type: a page the researcher built with their own toolchain (Vite, webpack, ...), served as
built, with the Mephisto worker client loaded before it.

Importing this package is cheap; the blueprint lives in `mephisto_blueprint_bundle.blueprint`.
"""
