-- rollback.restore_database: the proven fresh copy takes the live database's name, the live one
-- is kept under another; the live one's sessions are ended first. psql variables (-v): live,
-- fresh, kept (:'x' a literal, :"x" an identifier: psql quotes them).
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = :'live' AND pid <> pg_backend_pid();
BEGIN;
ALTER DATABASE :"live" RENAME TO :"kept";
ALTER DATABASE :"fresh" RENAME TO :"live";
COMMIT;
