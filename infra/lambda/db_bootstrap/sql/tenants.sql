-- Users and tenants (run in database "text2Agent-Tenants"). Rows are keyed
-- on the Cognito user's sub, so a sign-up delivered twice writes once.
CREATE TABLE IF NOT EXISTS tenants (
  tenant_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_sub uuid NOT NULL UNIQUE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
  cognito_sub uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The sign-up worker logs in as tenant_writer with an IAM token (rds_iam
-- exists only on RDS; elsewhere the role gets a password from the operator).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenant_writer') THEN
    CREATE ROLE tenant_writer LOGIN;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
    GRANT rds_iam TO tenant_writer;
  END IF;
END
$$;

GRANT SELECT, INSERT ON tenants, users TO tenant_writer;
