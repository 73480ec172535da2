#!/bin/sh
# One-shot schema job for docker-compose.yml (service `temporal-schema`), run in
# temporalio/admin-tools: creates the `temporal` and `temporal_visibility`
# databases on PostgreSQL and brings both schemas to the version this
# admin-tools release ships, with temporal-sql-tool, as Temporal's own PostgreSQL
# compose setup does. Safe to run again: `create` ignores an existing database,
# `setup-schema -v 0.0` leaves a newer version alone and `update-schema` applies
# only the missing versions; upgrading Temporal means bumping the server and
# admin-tools images together and running this job again.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (the PostgreSQL host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD (read by temporal-sql-tool) is required}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

# database, then the directory of its versioned schema
setup() {
    echo "schema: database $1"
    sql_tool --db "$1" create
    sql_tool --db "$1" setup-schema -v 0.0
    sql_tool --db "$1" update-schema -d "$2"
}

setup temporal "$SCHEMA_DIR/temporal/versioned"
setup temporal_visibility "$SCHEMA_DIR/visibility/versioned"
echo "schema: done"
