-- The Bedrock vector store. The cluster creates it (database_name = str_kb);
-- this covers a cluster restored or created without it.
CREATE DATABASE str_kb
