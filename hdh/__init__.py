"""hdh: the command line of the platform (the one front door); see hdh.cli."""
