"""The built-in sandbox templates, shipped as package data (sandbox.builtin_templates)."""
