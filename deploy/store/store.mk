# The standalone MongoDB-compatible store (FerretDB on PostgreSQL): see deploy/store/README.md.
