"""An example third-party Mephisto crowd provider (see docs/plugins.md)."""
