"""Config files, one per model, found by name: `--config=NAME[:ARG]` (trainers.config_files)."""
