-- Whether a database exists (CREATE DATABASE has no IF NOT EXISTS).
SELECT count(*) FROM pg_database WHERE datname = :name
