-- Vector store for the Bedrock knowledge base (run in database str_kb).
-- Every statement is idempotent, and brings a store made by an older
-- version of this file to the same shape: the bootstrap runs on every
-- change and may be retried after a partial run. It runs as the master
-- user, which on RDS is not a superuser (rds_superuser only).
CREATE EXTENSION IF NOT EXISTS vector;

CREATE SCHEMA IF NOT EXISTS bedrock_integration;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bedrock_user') THEN
    CREATE ROLE bedrock_user;
  END IF;
END
$$;

-- The master user acts for bedrock_user (it hands the table over and then
-- maintains its indexes, which only the owner may do). It created the role,
-- so it may grant itself membership; a repeat is only a notice.
GRANT bedrock_user TO CURRENT_USER;

-- bedrock_user reads and writes its table; it creates nothing in the schema.
GRANT USAGE ON SCHEMA bedrock_integration TO bedrock_user;

-- The table is bedrock_user's, as in AWS's recipe for Bedrock on Aurora.
-- PostgreSQL lets a non-superuser give a table only to a role that may
-- create in its schema, so CREATE is granted for the hand-over, inside this
-- one statement, and revoked at its end (also from stores where an older
-- version of this file granted it for good).
-- vector(1024): Titan Text Embeddings v2 with dimensions = 1024
-- (infra_test.go checks it against the knowledge base's dimensions).
DO $$
BEGIN
  IF to_regclass('bedrock_integration.bedrock_kb') IS NULL THEN
    CREATE TABLE bedrock_integration.bedrock_kb (
      id uuid PRIMARY KEY,
      embedding vector(1024),
      chunks text,
      metadata json,
      custom_metadata jsonb
    );
  END IF;
  IF (SELECT tableowner FROM pg_tables
      WHERE schemaname = 'bedrock_integration' AND tablename = 'bedrock_kb') <> 'bedrock_user' THEN
    GRANT CREATE ON SCHEMA bedrock_integration TO bedrock_user;
    ALTER TABLE bedrock_integration.bedrock_kb OWNER TO bedrock_user;
  END IF;
  REVOKE CREATE ON SCHEMA bedrock_integration FROM bedrock_user;
END
$$;

-- HNSW with ef_construction = 256, as AWS's recipe builds it. CREATE INDEX
-- IF NOT EXISTS never changes an existing index, so one built otherwise (by
-- an older version of this file: pgvector's default, 64) is dropped first
-- and built again below.
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'bedrock_integration' AND c.relname = 'bedrock_kb_embedding_hnsw'
      AND NOT coalesce('ef_construction=256' = ANY (c.reloptions), false)
  ) THEN
    DROP INDEX bedrock_integration.bedrock_kb_embedding_hnsw;
  END IF;
END
$$;

CREATE INDEX IF NOT EXISTS bedrock_kb_embedding_hnsw
  ON bedrock_integration.bedrock_kb USING hnsw (embedding vector_cosine_ops)
  WITH (ef_construction = 256);

-- Bedrock refuses the knowledge base ("chunks column must be indexed")
-- without a text index on chunks.
CREATE INDEX IF NOT EXISTS bedrock_kb_chunks_fts
  ON bedrock_integration.bedrock_kb USING gin (to_tsvector('simple', chunks));

CREATE INDEX IF NOT EXISTS bedrock_kb_custom_metadata
  ON bedrock_integration.bedrock_kb USING gin (custom_metadata);
