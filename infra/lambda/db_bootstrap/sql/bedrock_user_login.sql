-- Bedrock connects to str_kb as bedrock_user with the password kept in its
-- own Secrets Manager secret. ALTER ROLE takes no bind parameters: the
-- bootstrap puts the quoted password literal in place of {password}.
ALTER ROLE bedrock_user WITH LOGIN PASSWORD {password}
