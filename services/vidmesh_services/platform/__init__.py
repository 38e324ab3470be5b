"""Running the whole platform on one machine: which processes, on which ports, supervised."""
