"""What every vidmesh service shares: config, server bootstrap, interceptors, errors, storage ports."""
