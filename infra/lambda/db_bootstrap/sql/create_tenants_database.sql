-- RDS database_name allows only letters, digits and underscores, so the
-- tenants database is created here. The name is quoted: it is
-- case-sensitive and contains a hyphen, everywhere it is used.
CREATE DATABASE "text2Agent-Tenants"
