"""The ``simqueue`` command: one parser, the settings it reads (YAML, environment, flags), and
one module per command."""
