-- One sign-up: its tenant and its user, both keyed on the Cognito sub.
-- A second delivery of the same sign-up inserts nothing.
WITH new_tenant AS (
  INSERT INTO tenants (owner_sub, name)
  VALUES (%(sub)s::uuid, %(tenant_name)s)
  ON CONFLICT (owner_sub) DO NOTHING
  RETURNING tenant_id
), tenant AS (
  SELECT tenant_id FROM new_tenant
  UNION ALL
  SELECT tenant_id FROM tenants WHERE owner_sub = %(sub)s::uuid
)
INSERT INTO users (cognito_sub, tenant_id, email)
SELECT %(sub)s::uuid, tenant_id, %(email)s FROM tenant LIMIT 1
ON CONFLICT (cognito_sub) DO NOTHING
