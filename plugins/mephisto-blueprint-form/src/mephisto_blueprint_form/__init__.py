"""The `form` task type: forms described in the form-composer JSON format, checked in the page and on the server.

Importing this package is cheap; the blueprint lives in `mephisto_blueprint_form.blueprint`.
"""
