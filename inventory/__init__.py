"""The shell around the pipeline: settings, the `inventory` command line, process supervision."""
