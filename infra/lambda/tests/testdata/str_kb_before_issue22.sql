-- Vector store for the Bedrock knowledge base (run in database str_kb).
-- Every statement is idempotent: the bootstrap runs on every change and
-- may be retried after a partial run.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE SCHEMA IF NOT EXISTS bedrock_integration;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bedrock_user') THEN
    CREATE ROLE bedrock_user;
  END IF;
END
$$;

GRANT USAGE, CREATE ON SCHEMA bedrock_integration TO bedrock_user;

-- vector(1024): Titan Text Embeddings v2 with dimensions = 1024
-- (infra_test.go checks it against the knowledge base's dimensions).
CREATE TABLE IF NOT EXISTS bedrock_integration.bedrock_kb (
  id uuid PRIMARY KEY,
  embedding vector(1024),
  chunks text,
  metadata json,
  custom_metadata jsonb
);

GRANT SELECT, INSERT, UPDATE, DELETE ON bedrock_integration.bedrock_kb TO bedrock_user;

CREATE INDEX IF NOT EXISTS bedrock_kb_embedding_hnsw
  ON bedrock_integration.bedrock_kb USING hnsw (embedding vector_cosine_ops);

-- Bedrock refuses the knowledge base ("chunks column must be indexed")
-- without a text index on chunks.
CREATE INDEX IF NOT EXISTS bedrock_kb_chunks_fts
  ON bedrock_integration.bedrock_kb USING gin (to_tsvector('simple', chunks));

CREATE INDEX IF NOT EXISTS bedrock_kb_custom_metadata
  ON bedrock_integration.bedrock_kb USING gin (custom_metadata);
