"""The command-line apps (hydra apps and file tools), installed as ``supernet-<name>`` console
scripts; ``experiments/<name>.py`` runs the same from a checkout."""
