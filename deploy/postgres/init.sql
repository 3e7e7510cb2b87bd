-- Runs once, when the PostgreSQL data volume is first initialised
-- (mounted into /docker-entrypoint-initdb.d by docker-compose.yml), as the
-- POSTGRES_USER (budskab) connected to its default database.
--
-- One database per service: each service owns its data and never reads another's.
-- Each service creates its own tables with its Alembic migrations.
CREATE DATABASE planning OWNER budskab;
CREATE DATABASE events OWNER budskab;
CREATE DATABASE notifications OWNER budskab;
CREATE DATABASE metrics OWNER budskab;
