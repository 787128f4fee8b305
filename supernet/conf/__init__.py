"""The hydra configs of the apps (one folder per config group), shipped with the package."""
