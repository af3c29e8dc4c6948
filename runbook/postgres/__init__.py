"""PostgreSQL on the host: psql, fingerprints, clusters, the upgrade check, the compose plan."""
